"""How many seeds would make each experimental verdict stable? A power estimate from published per-seed effects.

For every experiment judged on per-seed effects (`rule` of kind `effect`, or `all` of several), it pools the per-seed
values of the same claim over the run folders given (and those of a condition it presupposes, rule `requires`,
without which it is not measurable), and, treating their mean and standard deviation as the truth
(a plug-in estimate from a handful of seeds: rough), predicts with the noncentral t distribution:

- the chance that one run with n seeds per arm calls the claim *reproduced* (its 95 % interval excludes zero in the
  paper's direction, or stays above the non-inferiority bound),
- the chance that two independent runs give the same verdict,
- the fewest seeds for which that agreement reaches `--target`.

A prediction, not a measurement: it says where a budget is too small. With `--write` it also writes a *power plan*
from the runs given (`dcae_nb.verdicts.power_plan`): notebooks run with it (parameter `power_plan`) judge an
experiment the plan finds underpowered at their seeds *inconclusive at this budget*. Make a plan from pilot runs,
before the runs it is used on; the quick profile's is `data/power_plan_quick.json`:

    python tools/seed_power.py data/repro-quick data/repro-quick-seed10 data/repro-quick-seed20 --write data/power_plan_quick.json

The functions are the library's (`dcae_nb.verdicts.stability` and its parts), which every REPORT.md also uses to predict,
from that run alone, each experiment's chance that a rerun agrees; this tool pools several runs and adds the seeds
that the target agreement would need.

    python tools/seed_power.py data/repro-quick data/repro-quick-seed10
"""
import argparse, subprocess, sys
from pathlib import Path
from dcae_nb.verdicts import (mean_sd, claim_chances, rerun_agreement as agreement, pool_effects, seeds_needed, power_plan,
                              write_json_atomic)
from dcae_nb.repro import collect

def _claims(results) -> list: return [c for r in results for c in r['claims']]

def pooled(folders) -> dict:
    """{claim id: {'parts': [(part name, per-seed values pooled over the folders, non-inferiority shift, sesoi)], 'gates':
    [(pooled per-seed values, sesoi)], 'n_run': seeds one run judged it on (the fewest over the folders)}} of the
    experiments judged on per-seed effects (gates: the conditions they presuppose)."""
    return pool_effects([_claims(collect(f)[1]) for f in folders])

def pilot_record(folder, run:dict, results:list) -> dict:
    "What a pilot run was (`collect(folder)`): its folder, command (with its base seed), profile and the revisions its notebooks ran at."
    revs = sorted({(r.get('machine') or {}).get('git_rev') or 'unknown' for r in results if not r.get('failed')})
    return dict(folder=str(folder), command=run.get('command'), profile=run.get('profile'), revisions=revs, finished=run.get('finished'))

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('folders', nargs='+', help="run folders (each with run.json and NN_name/results.json); a claim's per-seed values are pooled over them")
    p.add_argument('--n', type=int, default=None, help="seeds per arm to predict for (default: each claim's own, as many as one run judged it on)")
    p.add_argument('--target', type=float, default=0.9, help="agreement chance asked of two runs (default 0.9)")
    p.add_argument('--all', action='store_true', help="print every experiment, not only those below the target at --n")
    p.add_argument('--write', metavar='PLAN.json', default=None,
                   help="also write a power plan made from these runs (dcae_nb.verdicts.power_plan; e.g. data/power_plan_quick.json): "
                        "notebooks given it judge an experiment underpowered at their seeds inconclusive at this budget. Make it "
                        "from pilot runs before the runs it is used on.")
    a = p.parse_args(argv)
    if a.n is not None and a.n < 2: p.error(f"--n {a.n}: expected 2 or more seeds (an interval needs two).")
    if not 0 < a.target < 1: p.error(f"--target {a.target}: expected a chance between 0 and 1, e.g. 0.9.")
    loaded = [(f, *collect(f)) for f in a.folders]   # each run folder read once
    rows = pool_effects([_claims(results) for _, _, results in loaded])
    print(f"prediction from pooled per-seed effects ({', '.join(a.folders)}); mean and sd taken as the truth, so rough")
    print(f"{'claim':44s} {'pooled':>6s} {'n':>3s} {'mean/sd':>8s} {'P(repr.)':>9s} {'P(agree)':>9s}  seeds for {a.target:.0%} agreement")
    weak, every, planned = 0, 1.0, 1.0   # planned: with the claims under the target fixed by a plan made from these runs
    for cid, row in rows.items():
        parts, gates, n = row['parts'], row['gates'], a.n or row['n_run']
        ch, n_pool = claim_chances(parts, n, gates=gates), min(len(p[1]) for p in parts)
        ag = agreement(ch)
        weak, every, planned = weak + (ag < a.target), every * ag, planned * (ag if ag >= a.target else 1.0)
        if not a.all and ag >= a.target: continue
        # distance of the mean from the nearest boundary (zero or −δ; the sesoi too, where one is stated), in per-seed sds
        gaps = []   # (a presupposed condition's boundaries count too: it has no shift)
        for v, shift, sesoi in [(v, shift, sesoi) for _, v, shift, sesoi in parts] + [(v, 0.0, sesoi) for v, sesoi in gates]:
            m, sd = mean_sd(v)
            gaps += [(b + shift) / (sd or float('inf')) for b in ([m, m - sesoi] if sesoi else [m])]
        d = min(gaps, key=abs) if n_pool > 1 else float('nan')
        need = seeds_needed(parts, a.target, gates=gates)
        print(f"{cid:44s} {n_pool:6d} {n:3d} {d:+8.2f} {ch['reproduced']:9.2f} {ag:9.2f}  {need if need else 'more than 64'}")
    at = f"{a.n} seeds" if a.n else "the seeds each was judged on (n)"
    print(f"{weak} of {len(rows)} experiments judged on per-seed effects are predicted to agree between two runs with less than "
          f"{a.target:.0%} chance at {at}; on all {len(rows)} at once (taken as independent): {every:.2f}")
    print(f"under a power plan made from these runs (the {weak} judged inconclusive at this budget, fixed before the run): {planned:.2f}")
    if a.write:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip() or None
        plan = power_plan([_claims(results) for _, _, results in loaded], pilots=[pilot_record(*x) for x in loaded], target=a.target)
        plan['made'] = dict(command='python tools/seed_power.py ' + ' '.join(argv if argv is not None else sys.argv[1:]), revision=rev)
        write_json_atomic(Path(a.write), plan)
        weak_ids = [cid for cid, e in plan['claims'].items() if e['agreement'] < a.target]
        print(f"power plan written to {a.write}: {len(weak_ids)} of {len(plan['claims'])} experiments underpowered at the seeds "
              f"each was judged on ({', '.join(weak_ids)})")
    return 0

if __name__ == '__main__': sys.exit(main())

"""How many seeds would make each experimental verdict stable? A power estimate from published per-seed effects.

For every experiment judged on per-seed effects (`rule` of kind `effect`, or `all` of several), it pools the per-seed
values of the same claim over the run folders given, and, treating their mean and standard deviation as the truth
(a plug-in estimate from a handful of seeds: rough), predicts with the noncentral t distribution:

- the chance that one run with n seeds per arm calls the claim *reproduced* (its 95 % interval excludes zero in the
  paper's direction, or stays above the non-inferiority bound),
- the chance that two independent runs give the same verdict,
- the fewest seeds for which that agreement reaches `--target`.

A prediction, not a measurement: it says where a budget is too small, it does not decide a verdict.

The functions are the library's (`dcae_nb.verdicts.stability` and its parts), which every REPORT.md also uses to predict,
from that run alone, each experiment's chance that a rerun agrees; this tool pools several runs and adds the seeds
that the target agreement would need.

    python tools/seed_power.py data/repro-quick data/repro-quick-seed10
"""
import argparse, sys
from dcae_nb.verdicts import mean_sd, claim_chances, effect_parts, gate_parts, rerun_agreement as agreement
from dcae_nb.repro import collect

def pooled(folders) -> dict:
    """{claim id: {'parts': [(part name, per-seed values pooled over the folders, non-inferiority shift, sesoi)], 'gates':
    [(pooled per-seed values, sesoi)]}} of the experiments judged on per-seed effects (gates: the conditions they presuppose)."""
    out, gates = {}, {}
    for folder in folders:
        _, results = collect(folder)
        for r in results:
            for c in r['claims']:
                if c.get('kind', 'experiment') != 'experiment' or not isinstance(c.get('rule'), dict): continue
                for name, values, shift, sesoi in effect_parts(c['rule']):
                    got = out.setdefault(c['id'], {}).setdefault(name, [[], shift, sesoi])
                    got[0].extend(values)
                for i, (values, sesoi) in enumerate(gate_parts(c['rule'])):
                    gates.setdefault(c['id'], {}).setdefault(i, [[], sesoi])[0].extend(values)
    return {i: dict(parts=[(name, v, shift, sesoi) for name, (v, shift, sesoi) in parts.items()],
                    gates=[(v, sesoi) for v, sesoi in gates.get(i, {}).values()]) for i, parts in out.items()}

def seeds_needed(parts:list, target:float, most:int=64, gates:list=()):
    "Fewest seeds (3 or more) at which two runs agree with at least `target` chance; None when even `most` do not."
    return next((n for n in range(3, most + 1) if agreement(claim_chances(parts, n, gates=gates)) >= target), None)

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('folders', nargs='+', help="run folders (each with run.json and NN_name/results.json); a claim's per-seed values are pooled over them")
    p.add_argument('--n', type=int, default=3, help="seeds per arm to predict for (default 3, the quick profile's)")
    p.add_argument('--target', type=float, default=0.9, help="agreement chance asked of two runs (default 0.9)")
    p.add_argument('--all', action='store_true', help="print every experiment, not only those below the target at --n")
    a = p.parse_args(argv)
    if a.n < 2: p.error(f"--n {a.n}: expected 2 or more seeds (an interval needs two).")
    if not 0 < a.target < 1: p.error(f"--target {a.target}: expected a chance between 0 and 1, e.g. 0.9.")
    rows = pooled(a.folders)
    print(f"prediction from pooled per-seed effects ({', '.join(a.folders)}); mean and sd taken as the truth, so rough")
    print(f"{'claim':44s} {'seeds':>5s} {'mean/sd':>8s} {'P(repr.)':>9s} {'P(agree)':>9s}  seeds for {a.target:.0%} agreement")
    weak = 0
    for cid, row in rows.items():
        parts, gates = row['parts'], row['gates']
        ch, n_pool = claim_chances(parts, a.n, gates=gates), min(len(p[1]) for p in parts)
        ag = agreement(ch)
        if ag < a.target: weak += 1
        if not a.all and ag >= a.target: continue
        # distance of the mean from the nearest boundary (zero or −δ; the sesoi too, where one is stated), in per-seed sds
        gaps = []
        for _, v, shift, sesoi in parts:
            m, sd = mean_sd(v)
            gaps += [(b + shift) / (sd or float('inf')) for b in ([m, m - sesoi] if sesoi else [m])]
        for v, sesoi in gates:   # a presupposed condition's boundaries count too
            m, sd = mean_sd(v)
            gaps += [b / (sd or float('inf')) for b in ([m, m - sesoi] if sesoi else [m])]
        d = min(gaps, key=abs) if n_pool > 1 else float('nan')
        need = seeds_needed(parts, a.target, gates=gates)
        print(f"{cid:44s} {n_pool:5d} {d:+8.2f} {ch['reproduced']:9.2f} {ag:9.2f}  {need if need else 'more than 64'}")
    print(f"{weak} of {len(rows)} experiments judged on per-seed effects are predicted to agree between two runs with less than "
          f"{a.target:.0%} chance at {a.n} seeds")
    return 0

if __name__ == '__main__': sys.exit(main())

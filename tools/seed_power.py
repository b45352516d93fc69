"""How many seeds would make each experimental verdict stable? A power estimate from published per-seed effects.

For every experiment judged on per-seed effects (`rule` of kind `effect`, or `all` of several), it pools the per-seed
values of the same claim over the run folders given, and, treating their mean and standard deviation as the truth
(a plug-in estimate from a handful of seeds: rough), predicts with the noncentral t distribution:

- the chance that one run with n seeds per arm calls the claim *reproduced* (its 95 % interval excludes zero in the
  paper's direction, or stays above the non-inferiority bound),
- the chance that two independent runs give the same verdict,
- the fewest seeds for which that agreement reaches `--target`.

A prediction, not a measurement: it says where a budget is too small, it does not decide a verdict.

    python tools/seed_power.py data/repro-quick data/repro-quick-seed10
"""
import argparse, math, sys
from dcae_nb.repro import collect

LEVEL = 0.95

def verdict_chances(mean:float, sd:float, n:int, shift:float=0.0, level:float=LEVEL) -> dict:
    "Chances of reproduced / not reproduced (the other way) / inconclusive for n seeds, a true effect `mean` ± `sd` per seed."
    from scipy.stats import nct, t
    if n < 2: return dict(reproduced=0.0, against=0.0, inconclusive=1.0)
    if not sd > 0: return dict(reproduced=float(mean + shift > 0), against=float(mean + shift < 0), inconclusive=float(mean + shift == 0))
    crit, nc = float(t.ppf(0.5 + level / 2, n - 1)), (mean + shift) / sd * math.sqrt(n)
    up, down = float(nct.sf(crit, n - 1, nc)), float(nct.cdf(-crit, n - 1, nc))
    if not math.isfinite(up) or not math.isfinite(down):   # scipy gives nan far in the tails: the effect is then certain
        up, down = (1.0, 0.0) if nc > 0 else (0.0, 1.0)
    return dict(reproduced=up, against=down, inconclusive=max(0.0, 1 - up - down))

def agreement(ch:dict) -> float:
    "Chance that two independent runs give the same verdict."
    return sum(p * p for p in ch.values())

def _parts(rule:dict) -> list:
    "[(name, values, shift)] of the per-seed effects a rule judges (shift: the non-inferiority bound moves zero)."
    if rule.get('kind') == 'effect' and rule.get('values'):
        return [('', [float(v) for v in rule['values']], float(rule.get('noninferiority') or 0.0))]
    if rule.get('kind') == 'all':
        return [(r.get('name', f'part {i + 1}'), p[1], p[2]) for i, r in enumerate(rule.get('rules', [])) for p in _parts(r)]
    return []

def pooled(folders) -> dict:
    "{claim id: [(part name, per-seed values pooled over the folders, shift)]} of the experiments judged on per-seed effects."
    out = {}
    for folder in folders:
        _, results = collect(folder)
        for r in results:
            for c in r['claims']:
                if c.get('kind', 'experiment') != 'experiment' or not isinstance(c.get('rule'), dict): continue
                for name, values, shift in _parts(c['rule']):
                    got = out.setdefault(c['id'], {}).setdefault(name, [[], shift])
                    got[0].extend(values)
    return {i: [(name, v, s) for name, (v, s) in parts.items()] for i, parts in out.items()}

def mean_sd(v:list) -> tuple[float, float]:
    "Mean and sample standard deviation of per-seed effects (sd nan for one value)."
    m = sum(v) / len(v)
    return m, (math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1)) if len(v) > 1 else float('nan'))

def claim_chances(parts:list, n:int) -> dict:
    "Verdict chances of a claim at n seeds; several parts (rule `all`) are treated as independent: reproduced when all are."
    chs = [verdict_chances(*mean_sd(v), n, s) for _, v, s in parts]
    rep = math.prod(c['reproduced'] for c in chs)
    against = 1 - math.prod(1 - c['against'] for c in chs)
    return dict(reproduced=rep, against=against, inconclusive=max(0.0, 1 - rep - against))

def seeds_needed(parts:list, target:float, most:int=64):
    "Fewest seeds (3 or more) at which two runs agree with at least `target` chance; None when even `most` do not."
    return next((n for n in range(3, most + 1) if agreement(claim_chances(parts, n)) >= target), None)

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
    for cid, parts in rows.items():
        ch, n_pool = claim_chances(parts, a.n), min(len(v) for _, v, _ in parts)
        ag = agreement(ch)
        if ag < a.target: weak += 1
        if not a.all and ag >= a.target: continue
        stats = [(mean_sd(v), s) for _, v, s in parts]
        d = min(((m + s) / (sd or float('inf')) for (m, sd), s in stats), key=abs) if n_pool > 1 else float('nan')
        need = seeds_needed(parts, a.target)
        print(f"{cid:44s} {n_pool:5d} {d:+8.2f} {ch['reproduced']:9.2f} {ag:9.2f}  {need if need else 'more than 64'}")
    print(f"{weak} of {len(rows)} experiments judged on per-seed effects are predicted to agree between two runs with less than "
          f"{a.target:.0%} chance at {a.n} seeds")
    return 0

if __name__ == '__main__': sys.exit(main())

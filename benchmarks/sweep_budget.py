"""Where the quick profile's phase-1 time can go on a slow 2-core CPU: training precision and the size of the fitted
start, each measured on data the reproduction never evaluates on.

The quick profile must run in 30 minutes on 2 cores. On a 2-core AMD EPYC it took 37.6 min (fp32), and two thirds of
notebook 01's worker time is phase-1 training, one third the data-fitted linear start (least squares on 64 crops of
256 px). This sweep measures what the two cheaper settings cost in held-out quality:

- **precision**: bf16 autocast instead of fp32 (benchmarks/holdout_precision.py measured 0.2-0.3 dB on an earlier
  recipe; this re-measures it beside the other arms);
- **the fit's data**: 32 crops of 256 px, or 64 crops of 128 px (f64 is fitted at 4f = 256 px in every arm), against
  64 crops of 256 px.

Rules, stated before the sweep ran (issue 11, stop 30):
1. bf16 is adopted when its held-out PSNR is on average at most 0.5 dB below fp32's (paired per config and seed).
2. Of the fits, the one with the least wall time is adopted among those whose held-out PSNR is on average at most 0.1
   dB below the 64-crop, 256-px fit (paired per config and seed, all at the adopted precision).

The fetched *train* split is divided by photo as in `holdout.py` (44 photos to train on, every 5th from the third
held out: 11 photos); the eval split is never read. Every arm is the quick profile's phase 1 (`nbs/repro/params/
quick.yaml`: fitted start, blocks on top, 160 steps of batch 8 at 64 px) through `dcae_nb.recipe`, two single-thread
processes side by side, one arm at a time and each in its own store, so that each arm's wall time is its own. Runs are kept in --runs and reused
(then the wall times printed are those of the first run, read from the stored record).

    python benchmarks/sweep_budget.py [--seeds 0 1] [--write]
"""
import argparse, datetime, json, sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from holdout import holdout_split, train_arms, measure_runs  # noqa: E402  (the photo split and the measurement the sweeps share)

ARMS = {   # arm: recipe settings beside the quick profile's
    'fp32, fit 64 crops of 256 px': dict(precision='fp32', fit_crops=64, fit_res=256),
    'bf16, fit 64 crops of 256 px': dict(precision='bf16', fit_crops=64, fit_res=256),
    'bf16, fit 32 crops of 256 px': dict(precision='bf16', fit_crops=32, fit_res=256),
    'bf16, fit 64 crops of 128 px': dict(precision='bf16', fit_crops=64, fit_res=128),
}
CONFIGS = ('teach-f16c8-gated', 'teach-f32c32-gated', 'teach-f64c128-gated')
PRECISION_TOL, FIT_TOL = 0.5, 0.1   # dB: the rules above


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='seeds per arm and config (paired across arms)')
    ap.add_argument('--items', type=int, default=32, help='held-out crops of the final measurement')
    ap.add_argument('--runs', default='/tmp/dcae-budget-sweep', help='folder of the runs (reused when the script runs again)')
    ap.add_argument('--write', action='store_true', help='write data/budget_sweep.json')
    a = ap.parse_args()
    import numpy as np
    from dcae_nb.core import machine_info
    from dcae_nb.recipe import Recipe, run_spec, fmt_effect
    from dcae_nb.repro import load_profile
    quick = dict(load_profile('quick')['01_residual']['recipe'])
    for k in ('precision', 'data', 'eval_data'): quick.pop(k, None)
    quick.update(eval_every=1000, eval_items=2)   # no periodic evaluation: the arms' wall times are fit + training
    runs = Path(a.runs); train_dir, held_dir = holdout_split(runs)
    recipes, specs = {}, {}
    for arm, kw in ARMS.items():
        recipes[arm] = Recipe(store=str(runs / 'store' / str(len(recipes))),   # a store per arm: each arm's wall time is its own
                               data=str(train_dir), eval_data=str(held_dir), **{**quick, **kw})
        for c in CONFIGS:
            for s in a.seeds: specs[(arm, c, s)] = run_spec(recipes[arm], c, 1, s)
    wall = train_arms(recipes, specs, wall_file=runs / 'wall.json')
    order = {(arm, c, s): specs[arm, c, s] for c in CONFIGS for arm in ARMS for s in a.seeds}
    rows = measure_runs(order, held_dir, a.items, start=True, label=lambda k: f"{k[1]:20s} {k[0]:30s} seed {k[2]}")
    out = [dict(arm=arm, config=c, seed=s, crop=r['crop'], psnr=r['psnr'], lpips=r['lpips'], start_psnr=r['start_psnr'],
                s_per_step=r['s_per_step']) for (arm, c, s), r in rows.items()]
    base = {r['config']: dict(psnr=r['shortcut_psnr'], lpips=r['shortcut_lpips']) for r in rows.values()}
    psnr = {(r['arm'], r['config'], r['seed']): r['psnr'] for r in out}
    def diffs(arm, ref): return [psnr[arm, c, s] - psnr[ref, c, s] for c in CONFIGS for s in a.seeds]
    print("\nwall time per arm (fit + 160 steps, 2 processes side by side): " + ', '.join(f"{k} {v:.0f} s" for k, v in wall.items()))
    d_prec = diffs('bf16, fit 64 crops of 256 px', 'fp32, fit 64 crops of 256 px')
    bf16 = float(np.mean(d_prec)) >= -PRECISION_TOL
    print(f"bf16 − fp32 (held-out PSNR, paired over {len(d_prec)} runs): {fmt_effect(d_prec)}; rule 1 (at most {PRECISION_TOL} dB "
          f"worse on average): {'bf16' if bf16 else 'fp32'}")
    prec = 'bf16' if bf16 else 'fp32'
    ref = f'{prec}, fit 64 crops of 256 px'
    ok = [ref]
    for arm in ARMS:
        if arm.startswith(prec) and arm != ref:
            d = diffs(arm, ref); keep = float(np.mean(d)) >= -FIT_TOL
            print(f"{arm} − {ref}: {fmt_effect(d)} → {'within' if keep else 'beyond'} {FIT_TOL} dB")
            if keep: ok.append(arm)
    choice = min(ok, key=lambda k: wall[k])   # at fp32, ok is the reference alone
    print(f"rule 2: {choice}")
    rep = dict(what=('phase-1 precision and fitted-start size at the quick recipe: trained on 44 photos of the fetched train split, '
                     f'measured on {a.items} fixed crops of its 11 held-out photos (the eval split is never read)'),
               command='python benchmarks/sweep_budget.py ' + ' '.join(sys.argv[1:]), machine=machine_info(),
               date=datetime.date.today().isoformat(), seeds=a.seeds, recipe=quick, arms=ARMS,
               rules=dict(precision_tol_db=PRECISION_TOL, fit_tol_db=FIT_TOL), wall_seconds=wall,
               shortcut={c: dict(psnr=b['psnr'], lpips=b['lpips']) for c, b in base.items()}, runs=out,
               bf16_minus_fp32_db=d_prec, choice=dict(precision=prec, fit=choice))
    if a.write:
        p = Path(__file__).resolve().parent.parent / 'data' / 'budget_sweep.json'
        p.write_text(json.dumps(rep, indent=1) + '\n'); print(f"wrote {p}")


if __name__ == '__main__': main()

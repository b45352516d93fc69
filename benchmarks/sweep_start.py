"""A measured sweep of phase 1's start for the teaching sizes: from the shortcut path (the gated configs' own
initialisation) or from a data-fitted linear start (`dcae_nb.start`, notebook 03a), and what training moves after a fit
(every layer at several learning rates, or only the blocks with the fitted convolutions fixed).

Chosen on data the reproduction never evaluates on: the fetched *train* split is divided by photo into a training part
(44 photos) and a held-out part (every 5th photo from the third: 11 photos); every arm trains on the first and is
measured on 32 fixed crops of the second, beside the shortcut path (average-pool by f, nearest upsample) on the same
crops. The eval split is not read. Each arm trains through the library (`dcae_nb.recipe`: the same store, fit and
`train_phase` as `dcae reproduce`), fp32, two single-thread processes side by side. Runs are kept in --runs and
reused, so an interrupted sweep resumes. With --write the results go to data/start_sweep.json, which
`nbs/03a_start.ipynb` plots.

    python benchmarks/sweep_start.py [--steps 160] [--seeds 0 1] [--write]
"""
import argparse, datetime, json, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from holdout import holdout_split, train_arms, measure_runs  # noqa: E402  (the photo split and the measurement the sweeps share)

# arm: recipe settings (beside the common ones below); each runs for the residual configs of CONFIGS
ARMS = {
    'shortcut-path start, every layer, lr 1e-3': dict(start='init', lr=1e-3),
    'fitted start, every layer, lr 1e-3': dict(start='fit', after_fit='all', lr=1e-3),
    'fitted start, every layer, lr 2e-5': dict(start='fit', after_fit='all', lr=2e-5),
    'fitted start, blocks only, lr 1e-3': dict(start='fit', after_fit='blocks', lr=1e-3),
    'fitted start, blocks only, lr 1e-3, conventional twin': dict(start='fit', after_fit='blocks', lr=1e-3, twin=True),
}
CONFIGS = ('teach-f32c32-gated', 'teach-f64c128-gated')
COMMON = dict(res=64, batch=8, weight_decay=0.0, perceptual_weight=0.0, io_lr_scale=0.1, warmup=20, precision='fp32',
              hires=256, workers=2, threads=1, eval_items=16, fit_crops=64, fit_res=256)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=160, help='phase-1 optimizer steps per arm (the quick profile: 160)')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='seeds per arm (model initialisation, crops, fit crops)')
    ap.add_argument('--items', type=int, default=32, help='held-out crops of the final measurement')
    ap.add_argument('--runs', default='/tmp/dcae-start-sweep', help='folder of the runs (reused when the script runs again)')
    ap.add_argument('--arms', nargs='+', default=None, help='only these arms (default: all)')
    ap.add_argument('--write', action='store_true', help='write data/start_sweep.json')
    a = ap.parse_args()
    from dcae_nb.recipe import Recipe, run_spec, eval_curve, conventional_twin
    runs = Path(a.runs); train_dir, held_dir = holdout_split(runs)
    arms = a.arms or list(ARMS)
    recipes, specs = {}, {}
    for arm in arms:
        kw = {k: v for k, v in ARMS[arm].items() if k != 'twin'}
        recipes[arm] = Recipe(store=str(runs / 'store'), data=str(train_dir), eval_data=str(held_dir), steps=a.steps,
                              eval_every=max(10, a.steps // 8), **COMMON, **kw)
        for c in CONFIGS:
            cfg = conventional_twin(c) if ARMS[arm].get('twin') else c
            for s in a.seeds: specs[(arm, c, s)] = run_spec(recipes[arm], cfg, 1, s)
    t0 = time.time()
    train_arms(recipes, specs)
    order = {(arm, c, s): specs[arm, c, s] for c in CONFIGS for arm in arms for s in a.seeds}
    rows = measure_runs(order, held_dir, a.items, start=True, label=lambda k: f"{k[1]:20s} {k[0]:52s} seed {k[2]}")
    out, base = [], {}
    for (arm, c, s), r in rows.items():
        ev = eval_curve(Path(specs[arm, c, s]['folder']) / 'final')
        base[c] = dict(psnr=r['shortcut_psnr'], lpips=r['shortcut_lpips'])
        out.append(dict(arm=arm, config=c, trained=r['config'], seed=s, crop=r['crop'], psnr=r['psnr'], lpips=r['lpips'],
                        start_psnr=r['start_psnr'], start_lpips=r['start_lpips'], curve_steps=[e['step'] for e in ev],
                        curve_psnr=[e['psnr'] for e in ev], s_per_step=r['s_per_step']))
    from dcae_nb.core import machine_info
    rep = dict(what=('phase-1 start sweep at kit scale: trained on 44 photos of the fetched train split, measured on '
                     f'{a.items} fixed crops of its 11 held-out photos (the eval split is never read)'),
               command='python benchmarks/sweep_start.py ' + ' '.join(sys.argv[1:]), machine=machine_info(),
               date=datetime.date.today().isoformat(), steps=a.steps, seeds=a.seeds, common=COMMON, arms=ARMS,
               shortcut={c: dict(psnr=b['psnr'], lpips=b['lpips']) for c, b in base.items()}, runs=out,
               wall_minutes=round((time.time() - t0) / 60, 1))
    if a.write:
        p = Path(__file__).resolve().parent.parent / 'data' / 'start_sweep.json'
        p.write_text(json.dumps(rep, indent=1) + '\n'); print(f"wrote {p}")


if __name__ == '__main__': main()

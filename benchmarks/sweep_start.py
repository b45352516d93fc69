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


def holdout_split(folder:Path) -> tuple:
    "Symlink folders (train part, held-out part) of the fetched train split: every 5th photo from the third is held out."
    from dcae_nb.data import default_split
    photos = default_split('train', log=lambda *a: None)
    if all(p.name.startswith('skimage-') for p in photos): sys.exit("fetch the photos first: dcae fetch photos --split train")
    parts = {'train-part': [p for i, p in enumerate(photos) if not (i >= 2 and (i - 2) % 5 == 0)],
             'held-out': [p for i, p in enumerate(photos) if i >= 2 and (i - 2) % 5 == 0]}
    for name, ps in parts.items():
        d = folder / name; d.mkdir(parents=True, exist_ok=True)
        for p in ps:
            link = d / f"{p.name}{p.path.suffix}"
            if not link.exists(): link.symlink_to(p.path)
    return folder / 'train-part', folder / 'held-out'


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=160, help='phase-1 optimizer steps per arm (the quick profile: 160)')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='seeds per arm (model initialisation, crops, fit crops)')
    ap.add_argument('--items', type=int, default=32, help='held-out crops of the final measurement')
    ap.add_argument('--runs', default='/tmp/dcae-start-sweep', help='folder of the runs (reused when the script runs again)')
    ap.add_argument('--arms', nargs='+', default=None, help='only these arms (default: all)')
    ap.add_argument('--write', action='store_true', help='write data/start_sweep.json')
    a = ap.parse_args()
    import torch
    from dcae_nb.autoencoder import DCAE, get_config
    from dcae_nb.metrics import Shortcut
    from dcae_nb.phases import eval_crops
    from dcae_nb.recipe import Recipe, run_spec, train, eval_curve, measure, crop_for, conventional_twin
    from dcae_nb.train_parts import seconds_per_step
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
    for arm in arms:   # one arm at a time, its runs two side by side
        print(f"{arm}: {sum(k[0] == arm for k in specs)} runs", flush=True)
        train(recipes[arm], [sp for k, sp in specs.items() if k[0] == arm], progress=True)
    torch.set_num_threads(2)
    out, base = [], {}
    for c in CONFIGS:
        f, crop = get_config(c).spatial_compression, crop_for(recipes[arms[0]], c)[0]
        x = eval_crops(str(held_dir), crop, a.items, log=lambda *a: None).batch(range(a.items))
        base[c] = measure({'s': Shortcut(f)}, x)['s']
        for arm in arms:
            for s in a.seeds:
                sp = specs[(arm, c, s)]; final = Path(sp['folder']) / 'final'
                ms = {'final': DCAE.from_pretrained(final)}
                if recipes[arm].start == 'fit': ms['start'] = DCAE.from_pretrained(Path(sp['folder']) / 'start')
                m = measure(ms, x)
                ev = eval_curve(final)
                out.append(dict(arm=arm, config=c, trained=sp['args'].get('config') or c, seed=s, crop=crop,
                                psnr=m['final']['psnr'], lpips=m['final']['lpips'], start_psnr=m.get('start', {}).get('psnr'),
                                start_lpips=m.get('start', {}).get('lpips'), curve_steps=[e['step'] for e in ev],
                                curve_psnr=[e['psnr'] for e in ev], s_per_step=seconds_per_step(final)))
                r = out[-1]
                print(f"{c:20s} {arm:52s} seed {s}: " + (f"start {r['start_psnr']:.2f} → " if r['start_psnr'] else '')
                      + f"final {r['psnr']:.2f} dB (shortcut {base[c]['psnr']:.2f}: {r['psnr'] - base[c]['psnr']:+.2f}), "
                      f"LPIPS {r['lpips']:.3f} (shortcut {base[c]['lpips']:.3f})", flush=True)
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

"""A measured sweep of the teaching-size phase-1 recipe: which start, loss, learning rate and layer-wise scaling let a
kit-scale DC-AE learn more than its non-learned shortcut path (average-pool by f, nearest upsample) on 2 CPU cores.

Every arm trains through the library (`dcae_nb.phases.train_phase`, fp32, one torch thread per process, two processes
side by side) on the fetched train split and is evaluated periodically on fixed crops of the eval split; the shortcut
path is measured on the same crops. Runs are kept in --runs (default /tmp/dcae-recipe-sweep) and reused when the
script is run again, so an interrupted sweep resumes. With --write the curves go to data/recipe_sweep.json, which
`nbs/11_phases.ipynb` plots.

    python benchmarks/sweep_recipe.py [--steps 300] [--seeds 0 1] [--workers 2] [--write]
"""
import argparse, datetime, json, multiprocessing as mp, os, sys, time
from pathlib import Path

# arm: (config, crop px, settings for train_phase); the f64 arms use 128-px crops (a 2x2 latent), the others 64 px
ARMS = {
    'kit default (L1 + LPIPS, lr 2.56e-4, wd 0.1)': ('teach-f32c32', 64, dict(perceptual_weight=1.0)),
    'L1, lr 1e-3, wd 0': ('teach-f32c32', 64, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0)),
    'shortcut start, ungated': ('teach-f32c32-sc', 64, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0, io_lr_scale=0.1)),
    'gated shortcut start, io x1': ('teach-f32c32-gated', 64, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0)),
    'gated shortcut start, io x0.1': ('teach-f32c32-gated', 64, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0, io_lr_scale=0.1)),
    'conventional, L1, lr 1e-3': ('teach-f32c32-conv', 64, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0)),
    'f64 gated shortcut start, io x0.1': ('teach-f64c128-gated', 128, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0, io_lr_scale=0.1)),
    'f64 conventional, L1, lr 1e-3': ('teach-f64c128-conv', 128, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0)),
    'f64 gated shortcut start, io x0.3': ('teach-f64c128-gated', 128, dict(perceptual_weight=0.0, lr=1e-3, weight_decay=0.0, io_lr_scale=0.3)),
    'f64 gated shortcut start, io x0.1, lr 3e-3': ('teach-f64c128-gated', 128, dict(perceptual_weight=0.0, lr=3e-3, weight_decay=0.0, io_lr_scale=0.1)),
}
ONE_SEED = ('shortcut start, ungated', 'gated shortcut start, io x1', 'f64 gated shortcut start, io x0.1', 'f64 conventional, L1, lr 1e-3',
            'f64 gated shortcut start, io x0.3', 'f64 gated shortcut start, io x0.1, lr 3e-3')


def _register():
    "The ungated shortcut start (the kit's earlier `shortcut_init`, RMSNorm head) as a named config, in every process."
    from dcae_nb.autoencoder import get_config, register_config
    import dataclasses
    register_config(dataclasses.replace(get_config('teach-f32c32'), name='teach-f32c32-sc', shortcut_init=True))


def run_arm(job):
    arm, seed, steps, runs, eval_every = job
    import torch
    torch.set_num_threads(1)
    _register()
    from dcae_nb.phases import train_phase
    from dcae_nb.train_parts import read_log
    config, res, kw = ARMS[arm]
    out = Path(runs) / f"{arm.replace(' ', '_').replace(',', '').replace('(', '').replace(')', '').replace('+', 'p')}-s{seed}"
    t0 = time.time()
    train_phase(config, 1, steps, 8, res, out, data='train', eval_data='eval', seed=seed, precision='fp32', warmup=20,
                eval_every=eval_every, eval_items=16, progress=False, verbose=False, device='cpu', **kw)
    ev = [r for r in read_log(out) if r['kind'] == 'eval']
    rec = json.loads((out / 'phase.json').read_text())
    return dict(arm=arm, seed=seed, config=config, res=res, settings=kw, steps=[r['step'] for r in ev],
                psnr=[r['psnr'] for r in ev], lpips=[r['lpips'] for r in ev], seconds=rec['seconds'], wall=time.time() - t0)


def shortcut_baselines(res_list):
    import torch
    from dcae_nb.phases import eval_crops
    from dcae_nb.metrics import Shortcut, psnr, LPIPS
    lp, out = LPIPS('alex'), {}
    for f, res in res_list:
        x = eval_crops('eval', res, 16, log=lambda *a: None).batch(range(16))
        y = Shortcut(f)(x); p = psnr(y, x)
        out[f"f{f}@{res}"] = dict(psnr=float(p[torch.isfinite(p)].mean()), lpips=float(lp(y, x).mean()))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--steps', type=int, default=300, help='optimizer steps per arm')
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='seeds of the two-seed arms')
    ap.add_argument('--workers', type=int, default=2, help='training processes side by side (one torch thread each)')
    ap.add_argument('--eval-every', type=int, default=50, help='periodic evaluation interval')
    ap.add_argument('--runs', default='/tmp/dcae-recipe-sweep', help='folder of the runs (reused when the script runs again)')
    ap.add_argument('--arms', nargs='+', default=None, help='only these arms (default: all)')
    ap.add_argument('--write', action='store_true', help='write data/recipe_sweep.json')
    a = ap.parse_args()
    arms = a.arms or list(ARMS)
    jobs = [(arm, s, a.steps, a.runs, a.eval_every) for arm in arms for s in (a.seeds[:1] if arm in ONE_SEED else a.seeds)]
    jobs.sort(key=lambda j: -ARMS[j[0]][1])  # the long (128 px) runs first
    t0 = time.time()
    with mp.get_context('spawn').Pool(a.workers) as pool:
        results = []
        for r in pool.imap_unordered(run_arm, jobs):
            results.append(r)
            print(f"[{len(results)}/{len(jobs)}] {r['arm']} seed {r['seed']}: PSNR {' '.join(f'{v:.2f}' for v in r['psnr'])} "
                  f"({r['seconds']:.0f} s)", flush=True)
    import torch
    torch.set_num_threads(1)
    base = shortcut_baselines(sorted({(int(ARMS[r['arm']][0].split('-f')[1].split('c')[0]), r['res']) for r in results}))
    from dcae_nb.core import machine_info
    rep = dict(what='phase-1 recipe sweep at kit scale (teaching sizes, fetched train split, eval on 16 fixed eval-split crops)',
               command='python benchmarks/sweep_recipe.py ' + ' '.join(sys.argv[1:]), machine=machine_info(),
               date=datetime.date.today().isoformat(), steps=a.steps, batch=8, precision='fp32', warmup=20, schedule='cosine',
               workers=a.workers, shortcut=base, runs=sorted(results, key=lambda r: (r['arm'], r['seed'])),
               wall_minutes=round((time.time() - t0) / 60, 1))
    for r in rep['runs']:
        f = int(r['config'].split('-f')[1].split('c')[0]); b = base[f"f{f}@{r['res']}"]
        print(f"{r['arm']:42s} seed {r['seed']}: final PSNR {r['psnr'][-1]:.2f} (shortcut {b['psnr']:.2f}, {r['psnr'][-1] - b['psnr']:+.2f} dB), "
              f"LPIPS {r['lpips'][-1]:.3f} (shortcut {b['lpips']:.3f})")
    if a.write:
        p = Path(__file__).resolve().parent.parent / 'data' / 'recipe_sweep.json'
        p.write_text(json.dumps(rep, indent=1) + '\n'); print(f"wrote {p}")


if __name__ == '__main__': main()

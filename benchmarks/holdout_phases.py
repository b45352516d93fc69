"""Phases 2 and 3 after a fitted start, on data the reproduction never evaluates on: does each phase keep what the one
before it reached, and how fast may it move the fitted convolutions (the stem, latent layers and head)?

The fetched *train* split is divided by photo as in `holdout.py` (44 photos to train on, every 5th from the third
held out: 11 photos); the eval split is never read. For each `--io` value the quick profile's recipe (phase 1: fitted
start, blocks on top, 160 steps; phase 2: 40 steps at 256 px; phase 3: 100 steps, head GAN) trains through
`dcae_nb.recipe`, with the recipe's `io_lr_scale` set to that value (it applies in every phase), and every phase's
model is measured on 16 held-out crops at 256 px and at the training size. Runs are kept in --runs and reused.

    python benchmarks/holdout_phases.py [--io 0.1 1.0] [--seeds 0 1]
"""
import argparse, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from holdout import holdout_split  # noqa: E402  (the same photo split as the other sweeps)

CONFIGS = ('teach-f32c32-gated', 'teach-f64c128-gated')
# the quick profile's recipe as `dcae reproduce` reads it, in fp32, with the photos and periodic evaluation set here
OVERRIDES = dict(precision='fp32', eval_every=1000, eval_items=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--io', type=float, nargs='+', default=[0.1], help="recipe io_lr_scale values to compare (the quick profile's: 0.1)")
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='seeds per setting')
    ap.add_argument('--items', type=int, default=16, help='held-out crops per measurement')
    ap.add_argument('--runs', default='/tmp/dcae-holdout-phases', help='folder of the runs (reused when the script runs again)')
    a = ap.parse_args()
    import torch
    from dcae_nb.autoencoder import DCAE
    from dcae_nb.core import machine_info
    from dcae_nb.phases import eval_crops
    from dcae_nb.recipe import Recipe, run_spec, train, measure, crop_for
    from dcae_nb.repro import load_profile
    runs = Path(a.runs); tr, ho = holdout_split(runs)
    t0 = time.time()
    quick = {**load_profile('quick')['01_residual']['recipe'], **OVERRIDES, 'data': str(tr), 'eval_data': str(ho)}
    recipes = {io: Recipe(store=str(runs / 'store'), **{**quick, 'io_lr_scale': io}) for io in a.io}
    for io, r in recipes.items():
        print(f"io_lr_scale {io:g}: training", flush=True)
        train(r, [run_spec(r, c, 3, s, 'local') for c in CONFIGS for s in a.seeds], progress=True)
    torch.set_num_threads(2)
    m = machine_info()
    print(f"\nheld-out crops of the train split, {a.items} per size; PSNR (dB, higher is better) / LPIPS (lower is better); "
          f"{m['cpu']}, fp32, {time.time() - t0:.0f} s")
    for c in CONFIGS:
        for res in (256, crop_for(recipes[a.io[0]], c)[0]):
            x = eval_crops(str(ho), res, a.items, log=lambda *a: None).batch(range(a.items))
            for io, r in recipes.items():
                for s in a.seeds:
                    p3 = run_spec(r, c, 3, s, 'local'); p2 = p3['prev']; p1 = p2['prev']
                    v = measure({k: DCAE.from_pretrained(Path(sp['folder']) / 'final') for k, sp in
                                 (('phase 1', p1), ('phase 2', p2), ('phase 3', p3))}, x)
                    d2, d3 = v['phase 2']['psnr'] - v['phase 1']['psnr'], v['phase 3']['psnr'] - v['phase 2']['psnr']
                    print(f"{c:20s} {res:4d} px io x{io:<4g} seed {s}: " + '; '.join(f"{k} {q['psnr']:.2f} / {q['lpips']:.3f}" for k, q in v.items())
                          + f"  (phase 2 − 1 {d2:+.2f} dB, phase 3 − 2 {d3:+.2f} dB)", flush=True)


if __name__ == '__main__': main()

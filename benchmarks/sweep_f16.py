"""Why does the residual teach-f16c8 stop ~2.2 dB above the shortcut path in the long profile, when f32 and f64 reach
+3.9 and +4.9 dB? A measured sweep of its capacity (stage widths and block depth; the latent stays 8 channels, so the
compression ratio is the claim's), on data the reproduction never evaluates on.

The fetched *train* split is divided by photo as in `sweep_start.py` (44 photos to train on, every 5th from the third
held out: 11 photos); the eval split is never read. Each arm is a variant of teach-f16c8-gated, registered here under
its own name, trained with the long profile's phase-1 recipe (fitted start, blocks on top, 1000 steps at 64 px; as
`dcae reproduce --profile long` reads it, with the photos and periodic evaluation set here) through `dcae_nb.recipe`,
two single-thread processes side by side, and measured on --items fixed held-out crops at 64 px beside the shortcut
path (average-pool by 16, nearest upsample). Runs are kept in --runs and reused, so an interrupted sweep resumes.

    python benchmarks/sweep_f16.py [--seeds 0 1] [--arms base wide]
"""
import argparse, dataclasses, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sweep_start import holdout_split  # noqa: E402  (the same photo split as the start sweep)
from dcae_nb.autoencoder import get_config, register_config  # noqa: E402

BASE = get_config('teach-f16c8-gated')
# arm: the changes to teach-f16c8-gated (registered at import, so that the spawned training processes know them too)
ARMS = {
    'base': {},
    'wide': dict(widths=(32, 64, 128, 256, 256)),              # the f8 stage as wide as the f16 one
    'wide2': dict(widths=(64, 128, 256, 256, 512)),            # every stage twice as wide
    'deep': dict(encoder_depths=(0, 2, 2, 2, 2), decoder_depths=(0, 2, 2, 2, 2)),  # two blocks per stage
}
NAMES = {a: BASE.name if not kw else f"sweep-f16c8-{a}" for a, kw in ARMS.items()}
for _a, _kw in ARMS.items():
    if _kw: register_config(dataclasses.replace(BASE, name=NAMES[_a], **_kw))
OVERRIDES = dict(eval_every=250, eval_items=8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--seeds', type=int, nargs='+', default=[0, 1], help='seeds per arm (initialisation, crops, fit crops)')
    ap.add_argument('--items', type=int, default=32, help='held-out crops of the final measurement')
    ap.add_argument('--arms', nargs='+', default=list(ARMS), choices=list(ARMS), help='only these arms (default: all)')
    ap.add_argument('--runs', default='/tmp/dcae-f16-sweep', help='folder of the runs (reused when the script runs again)')
    a = ap.parse_args()
    import torch
    from dcae_nb.autoencoder import DCAE
    from dcae_nb.core import machine_info
    from dcae_nb.metrics import Shortcut
    from dcae_nb.phases import eval_crops
    from dcae_nb.recipe import Recipe, run_spec, train, measure
    from dcae_nb.train_parts import seconds_per_step
    from dcae_nb.repro import load_profile
    runs = Path(a.runs); tr, ho = holdout_split(runs)
    long = {**load_profile('long')['01_residual']['recipe'], **OVERRIDES, 'data': str(tr), 'eval_data': str(ho)}
    r = Recipe(store=str(runs / 'store'), **long)
    specs = {(arm, s): run_spec(r, NAMES[arm], 1, s) for arm in a.arms for s in a.seeds}
    t0 = time.time()
    for arm in a.arms:   # one arm at a time, its seeds side by side
        train(r, [sp for k, sp in specs.items() if k[0] == arm], progress=False)
        print(f"{arm}: trained ({time.time() - t0:.0f} s so far)", flush=True)
    torch.set_num_threads(2)
    x = eval_crops(str(ho), 64, a.items, log=lambda *a: None).batch(range(a.items))
    base = measure({'s': Shortcut(16)}, x)['s']
    print(f"{machine_info()['cpu']}; long recipe ({r.steps} steps at {r.res} px), {a.items} held-out crops at 64 px; "
          f"shortcut path {base['psnr']:.2f} dB, LPIPS {base['lpips']:.3f}")
    for (arm, s), sp in specs.items():
        final = Path(sp['folder']) / 'final'
        m = DCAE.from_pretrained(final)
        v = measure({'m': m}, x)['m']
        n = sum(p.numel() for p in m.parameters())
        print(f"  {arm:6s} {n / 1e6:5.1f} M params, seed {s}: {v['psnr']:.2f} dB ({v['psnr'] - base['psnr']:+.2f} over the "
              f"shortcut path), LPIPS {v['lpips']:.3f}; {seconds_per_step(final) * 1e3:.0f} ms/step", flush=True)


if __name__ == '__main__': main()

"""Why does the residual teach-f16c8 stop ~2.2 dB above the shortcut path in the long profile, when f32 and f64 reach
+3.9 and +4.9 dB? A measured sweep of its capacity (stage widths and block depth; the latent stays 8 channels, so the
compression ratio is the claim's), on data the reproduction never evaluates on.

The fetched *train* split is divided by photo as in `holdout.py` (44 photos to train on, every 5th from the third
held out: 11 photos); the eval split is never read. Each arm is a variant of teach-f16c8-gated, registered here under
its own name, trained with the long profile's phase-1 recipe (fitted start, blocks on top, at 64 px; as `dcae
reproduce --profile long` reads it, with the photos and periodic evaluation set here: 1000 steps when this sweep ran,
2000 for f16 since `sweep_steps.py` chose that) through `dcae_nb.recipe`,
two single-thread processes side by side, and measured on --items fixed held-out crops at 64 px beside the shortcut
path (average-pool by 16, nearest upsample). Runs are kept in --runs and reused, so an interrupted sweep resumes.

    python benchmarks/sweep_f16.py [--seeds 0 1] [--arms base wide]
"""
import argparse, dataclasses, sys, time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from holdout import holdout_split, train_arms, measure_runs  # noqa: E402  (the photo split and the measurement the sweeps share)
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
    from dcae_nb.core import machine_info
    from dcae_nb.recipe import Recipe, run_spec
    from dcae_nb.repro import load_profile
    runs = Path(a.runs); tr, ho = holdout_split(runs)
    long = {**load_profile('long')['01_residual']['recipe'], **OVERRIDES, 'data': str(tr), 'eval_data': str(ho)}
    r = Recipe(store=str(runs / 'store'), **long)
    specs = {(arm, s): run_spec(r, NAMES[arm], 1, s) for arm in a.arms for s in a.seeds}
    t0 = time.time()
    train_arms({arm: r for arm in a.arms}, specs, progress=False)   # one arm at a time, its seeds side by side
    print(f"trained in {time.time() - t0:.0f} s", flush=True)
    print(f"{machine_info()['cpu']}; long recipe ({r.steps} steps at {r.res} px), {a.items} held-out crops at 64 px")
    rows = measure_runs(specs, ho, a.items, label=lambda k: f"  {k[0]:6s} seed {k[1]}")
    for (arm, s), v in rows.items(): print(f"  {arm:6s} seed {s}: {v['params'] / 1e6:5.1f} M params")

if __name__ == '__main__': main()

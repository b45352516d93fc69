"""What the held-out sweeps share: the photo split, training arms one at a time, and measuring every run beside the
shortcut path.

Every recipe choice the kit makes (phase 1's start, its length, precision, the fit's size, phase-3 settings) is measured
on data the reproduction never evaluates on: the fetched *train* split divided by photo into a training part (44 photos)
and a held-out part (every 5th photo from the third: 11 photos). The eval split is never read. The scripts beside this
file (`sweep_start.py`, `sweep_budget.py`, `sweep_steps.py`, `sweep_f16.py`, `holdout_precision.py`,
`holdout_phases.py`) import it; it is not a script itself.
"""
import json, sys, time
from pathlib import Path


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


def train_arms(recipes:dict, # {arm: dcae_nb.recipe.Recipe}
               specs:dict, # {key: run spec}, key[0] the arm
               wall_file:Path|None=None, # where each arm's first wall time is kept (a rerun that reuses the runs keeps it)
               progress:bool=True) -> dict:
    "Train the runs of one arm at a time, each arm's runs two side by side (the recipe's workers); {arm: wall seconds}."
    from dcae_nb.recipe import train
    wall = json.loads(wall_file.read_text()) if wall_file and wall_file.is_file() else {}
    for arm, r in recipes.items():
        mine = [sp for k, sp in specs.items() if k[0] == arm]
        t0 = time.time(); print(f"{arm}: {len(mine)} runs", flush=True)
        train(r, mine, progress=progress)
        wall.setdefault(arm, round(time.time() - t0, 1))
        if wall_file: wall_file.write_text(json.dumps(wall))
    return wall


def measure_runs(specs:dict, # {key: phase-1 run spec}, measured in this order
                 held_dir:Path, # the held-out photos
                 items:int, # fixed crops per size
                 start:bool=False, # also measure each run's fitted start (RUN/start, where the run has one)
                 label=None, # key -> the name printed for a run (default: the key's parts)
                 ) -> dict:
    """Held-out PSNR and LPIPS of every run's final model (and of its fitted start with `start`; else None) on `items` fixed crops of
    `held_dir` at the run's training size, beside the shortcut path (average-pool by f, nearest upsample) on the same
    crops; prints one line per run and returns {key: row}."""
    import torch
    from dcae_nb.autoencoder import DCAE, get_config
    from dcae_nb.metrics import Shortcut
    from dcae_nb.phases import eval_crops
    from dcae_nb.recipe import measure
    from dcae_nb.train_parts import seconds_per_step
    torch.set_num_threads(2)
    crops, shortcut, rows = {}, {}, {}
    for key, sp in specs.items():
        folder, crop, f = Path(sp['folder']), sp['args']['res'], get_config(sp['config']).spatial_compression
        if crop not in crops: crops[crop] = eval_crops(str(held_dir), crop, items, log=lambda *a: None).batch(range(items))
        x = crops[crop]
        if (f, crop) not in shortcut: shortcut[f, crop] = measure({'s': Shortcut(f)}, x)['s']
        ms = {'final': DCAE.from_pretrained(folder / 'final')}
        if start and (folder / 'start').exists(): ms['start'] = DCAE.from_pretrained(folder / 'start')
        m, sc = measure(ms, x), shortcut[f, crop]
        rows[key] = r = dict(config=sp['config'], crop=crop, psnr=m['final']['psnr'], lpips=m['final']['lpips'],
                             start_psnr=m.get('start', {}).get('psnr'), start_lpips=m.get('start', {}).get('lpips'),
                             shortcut_psnr=sc['psnr'], shortcut_lpips=sc['lpips'], s_per_step=seconds_per_step(folder / 'final'),
                             params=sum(p.numel() for p in ms['final'].parameters()))
        name = label(key) if label else ', '.join(str(k) for k in key)
        print(f"{name}: " + (f"start {r['start_psnr']:.2f} → " if 'start' in ms else '') + f"final {r['psnr']:.2f} dB (shortcut "
              f"{sc['psnr']:.2f}: {r['psnr'] - sc['psnr']:+.2f}), LPIPS {r['lpips']:.3f} (shortcut {sc['lpips']:.3f}), "
              f"{1e3 * r['s_per_step']:.0f} ms/step", flush=True)
    return rows

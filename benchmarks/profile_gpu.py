#!/usr/bin/env python
"""The issue's GPU throughput targets in one short run, sized for a 15-minute device loan.

    python benchmarks/profile_gpu.py              # on a CUDA machine: prints the report, writes data/profile_gpu_<card>.json
    python benchmarks/profile_gpu.py --dry-run    # the same code path on the CPU with tiny models (about 2 min; writes nothing)

What it measures, the paper's way (REFERENCE.md §4; `dcae_nb.profiling`), at 512 px:
- fp16 autocast, activation checkpointing, DC-Gen's batch per token grid: DiT-XL training on f8p2 vs f32p1 latents
  (paper 4.46x), UViT-H training and inference on f8p2 vs f64p1 (paper 17.9x and 19.1x);
- bf16 autocast: DiT-XL training on f32p1 with the device's own measured bf16 matmul peak, for MFU (target >= 50 %).
Each case runs `--warmup` untimed and `--steps` timed steps (the paper: 20 + 100; the default 5 + 20 keeps the whole
run near 6-8 minutes on an H100-class card). The `#| gpu` cell of nbs/15_profiling.ipynb is the full grid (hours).
"""
import argparse, sys, time
from pathlib import Path

from dcae_nb.core import machine_info
from dcae_nb.profiling import profile_grid, save_report, gpu_report_name
from dcae_nb.profile_report import format_report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--steps', type=int, default=20, help="timed steps per case")
    p.add_argument('--warmup', type=int, default=5, help="untimed steps per case")
    p.add_argument('--out', default=None, help="JSON path (default data/profile_gpu_<card>.json)")
    p.add_argument('--dry-run', action='store_true', help="tiny models on the CPU: checks the code path, writes nothing")
    a = p.parse_args(argv)
    t0 = time.time()
    if a.dry_run:
        dit, uvit, dev, kw = 'DiT-T', 'UViT-T', 'cpu', dict(steps=1, warmup=0, tokens_per_batch=256, threads=1)
    else:
        dit, uvit, dev, kw = 'DiT-XL', 'UViT-H', 'cuda', dict(steps=a.steps, warmup=a.warmup)
    common = dict(resolutions=[512], device=dev, repeats=1, progress=True, **kw)
    fp16 = [profile_grid([dit], ['f8p2', 'f32p1'], modes=['train'], precision='fp16', checkpointing=True, **common),
            profile_grid([uvit], ['f8p2', 'f64p1'], modes=['train', 'infer'], precision='fp16', checkpointing=True, **common)]
    bf16 = profile_grid([dit], ['f32p1'], modes=['train'], precision='bf16', checkpointing=False, **common)
    for r in fp16 + [bf16]: print(format_report(r), '\n', flush=True)
    by_target = {}
    for r in fp16 + [bf16]:
        for t in r['targets']:
            if t['target'].startswith('GPU') and (t['target'] not in by_target or t['measured'] is not None): by_target[t['target']] = t
    goals = list(by_target.values())
    print("targets:")
    for t in goals: print(f"  [{t['verdict']}] {t['target']}: measured {t['measured']}")
    print(f"took {time.time() - t0:.0f} s")
    if a.dry_run: return 0
    m = machine_info()
    path = Path(a.out) if a.out else Path(__file__).resolve().parent.parent / 'data' / gpu_report_name(m)
    save_report(dict(about="GPU throughput for the issue's targets, measured by benchmarks/profile_gpu.py "
                           f"({a.warmup} + {a.steps} steps per case, 512 px).",
                     command='python ' + ' '.join(['benchmarks/profile_gpu.py'] + (argv if argv is not None else sys.argv[1:])),
                     machine=m, reports=dict(fp16_dit=fp16[0], fp16_uvit=fp16[1], bf16_dit=bf16), targets=goals), path)
    print(f"written {path}")
    return 0


if __name__ == '__main__':
    sys.exit(main())

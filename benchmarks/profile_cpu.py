#!/usr/bin/env python
"""The kit's CPU throughput benchmark: denoiser MAC ratios vs measured time ratios, and autoencoder throughput.

    python benchmarks/profile_cpu.py            # measure and print (about 10-15 min on 2 busy cores)
    python benchmarks/profile_cpu.py --write    # ... and write data/profile_cpu.json
    python benchmarks/profile_cpu.py --quick    # a 1-2 min smoke version (DiT-S only, fewer steps)
    python benchmarks/profile_cpu.py --big      # add DiT-XL / UViT-H inference (256 tokens per call, seconds each)

What it measures (all in one process, compared cases interleaved, the fastest of the repeats by default):
- DiT-S and UViT-S at 256 px on SD-VAE-f8 p2 (256 tokens), DC-AE-f32 p1 (64) and DC-AE-f64 p1 (16) latents,
  training (AdamW, activation checkpointing, the kit's diffusion loss) and inference (one denoiser call),
  1024 tokens per batch (batch 4 / 16 / 64), fp32 and bf16 autocast;
- the teaching autoencoders (teach-f32c32, teach-f64c128) encode / decode at 256 px, fp32 and bf16;
- the peak of a large matmul in each precision, for MFU.
It prints every measurement with the load average, then the issue's CPU target: the per-sample time ratio
f8p2 : f32p1 : f64p1 beside the counted-MAC ratio, and whether they agree within 25 % (the DiT-S / UViT-S rows;
the DiT-XL / UViT-H rows of --big are 2 repeats of one call each: informative, not the target).
Step times: by default the fastest of the interleaved repeats (--estimator min): on a shared machine other
people's work only ever slows a run down, so the fastest repeat is the best estimate of the work's own cost.
The summary is printed for the median too, from the same measurements.
The ratios depend on the token counts: at 256 px they are about 4.3x and 17x for DiT-S; the paper's DiT-XL /
UViT-H at 512 px have 1024 / 256 / 64 tokens (MAC ratios 4.4x and 18x for DiT-XL, 4.4x and 17.5x for UViT-H).
"""
import argparse, datetime, os, sys, time
from pathlib import Path

import torch
from dcae_nb.core import machine_info
from dcae_nb.profiling import profile_grid, save_report, reestimate
from dcae_nb.profile_ae import profile_autoencoders
from dcae_nb.profile_report import format_report


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--write', action='store_true', help="write data/profile_cpu.json (or --out)")
    p.add_argument('--out', default=str(Path(__file__).resolve().parent.parent / 'data' / 'profile_cpu.json'))
    p.add_argument('--quick', action='store_true', help="DiT-S only, fewer steps: a smoke run")
    p.add_argument('--big', action='store_true', help="also DiT-XL and UViT-H inference at 256 px, 256 tokens per call")
    p.add_argument('--repeats', type=int, default=3, help="interleaved repeats (the fastest kept, or the median with --estimator median)")
    p.add_argument('--threads', type=int, default=1,
                   help="CPU threads; 1 by default: on a shared 2-core machine two threads were up to 10x slower")
    p.add_argument('--tokens-per-batch', type=int, default=1024)
    p.add_argument('--estimator', choices=['min', 'median'], default='min', help="step time from the repeats")
    a = p.parse_args(argv)
    t0 = time.time()
    print(f"machine: {machine_info()}\nload average at start: {os.getloadavg()}  (cores: {os.cpu_count()}, threads used: {a.threads})",
          flush=True)
    models = ['DiT-S'] if a.quick else ['DiT-S', 'UViT-S']
    steps, warmup, repeats = (2, 1, min(a.repeats, 2)) if a.quick else (3, 1, a.repeats)
    common = dict(resolutions=[256], device='cpu', threads=a.threads, repeats=repeats, steps=steps, warmup=warmup, progress=True,
                  estimator=a.estimator)
    reports = {}
    reports['dit_fp32'] = profile_grid(models, tokens_per_batch=a.tokens_per_batch, precision='fp32', **common)
    report(reports, 'dit_fp32')
    reports['dit_bf16'] = profile_grid(['DiT-S'], tokens_per_batch=a.tokens_per_batch, precision='bf16', **common)
    report(reports, 'dit_bf16')
    if not a.quick:
        for prec in ('fp32', 'bf16'):
            reports[f'ae_{prec}'] = profile_autoencoders(['teach-f32c32', 'teach-f64c128'], precision=prec, batch=1, **common)
            report(reports, f'ae_{prec}')
    if a.big:
        # 256 tokens per call (batch 1 / 4 / 16): equal work per call, a few seconds each. (At batch 1 for every
        # latent, f64p1's 16-token call would mostly read the 2.7 GB of weights: time no longer follows MACs.)
        reports['big_infer_fp32'] = profile_grid(['DiT-XL', 'UViT-H'], modes=['infer'], tokens_per_batch=256, precision='fp32',
                                                 **dict(common, steps=1, repeats=min(repeats, 2)))
        report(reports, 'big_infer_fp32')
    summary = cpu_target_summary(reports)
    other = 'median' if a.estimator == 'min' else 'min'
    summary_other = cpu_target_summary({k: reestimate(v, other) for k, v in reports.items()})
    for est, summ in ((other, summary_other), (a.estimator, summary)):
        print(f"\n== the issue's CPU target: counted-MAC ratio vs measured per-sample time ratio (within 25 %), {est} of repeats ==")
        for s in summ: print(s['line'])
    print(f"load average at end: {os.getloadavg()}; total {time.time() - t0:.0f} s")
    if a.write:
        out = dict(about="CPU throughput of the kit's denoisers and autoencoders, measured by benchmarks/profile_cpu.py. "
                         "Kit scale: DiT-S / UViT-S (not the paper's DiT-XL / UViT-H) at 256 px on random latents, "
                         "2-core shared CPU; absolute numbers are this machine's only. No GPU numbers were measured.",
                   command='python benchmarks/profile_cpu.py ' + ' '.join(argv if argv is not None else sys.argv[1:]),
                   machine=machine_info(), written=datetime.datetime.now().isoformat(timespec='seconds'),
                   threads=a.threads, tokens_per_batch=a.tokens_per_batch, reports=reports,
                   estimator=a.estimator, cpu_target=[{k: v for k, v in s.items() if k != 'line'} for s in summary],
                   cpu_target_other_estimator={other: [{k: v for k, v in s.items() if k != 'line'} for s in summary_other]})
        print(f"written {save_report(out, a.out)}")
    return 0


def report(reports, name):
    print(f"\n== {name} ==\n{format_report(reports[name])}", flush=True)


def cpu_target_summary(reports) -> list:
    "One line per (model, mode, precision): MAC ratios f8p2 : f32p1 : f64p1 beside the measured ratios, and the verdict."
    out = []
    for name, rep in reports.items():
        if rep['kind'] != 'dit': continue
        groups = {}
        for s in rep['speedups']: groups.setdefault((s['model'], s['res'], s['mode'], s['precision']), []).append(s)
        for (model, res, mode, prec), ss in groups.items():
            ok = all(abs(s['measured_vs_mac']) <= 0.25 for s in ss)
            macs = ' : '.join(['1'] + [f"{s['mac_ratio']:.2f}" for s in ss])
            meas = ' : '.join(['1'] + [f"{s['measured_ratio']:.2f}" for s in ss])
            lats = ' : '.join([ss[0]['base']] + [s['latent'] for s in ss])
            devs = ', '.join(f"{100 * s['measured_vs_mac']:+.0f}%" for s in ss)
            target = model in ('DiT-S', 'UViT-S')
            line = (f"  {model:7s} {res} px {mode:5s} {prec}: {lats} speed-up  MACs {macs}  measured {meas}  ({devs})  "
                    f"{'PASS' if ok else 'FAIL'}" + ('' if target else '  (informative: 2 x 1 call)'))
            out.append(dict(report=name, model=model, res=res, mode=mode, precision=prec, latents=lats,
                            mac_ratios=[s['mac_ratio'] for s in ss], measured_ratios=[s['measured_ratio'] for s in ss],
                            within_25pct=ok, is_target=target, line=line))
    return out


if __name__ == '__main__':
    sys.exit(main())

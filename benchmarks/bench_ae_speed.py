#!/usr/bin/env python
"""Speed of dcae_nb's DCAE against diffusers' AutoencoderDC: same weights, same process, interleaved.

    python benchmarks/bench_ae_speed.py                       # f32c32 at 512x512, fp32 and bf16 autocast
    python benchmarks/bench_ae_speed.py --threads 1           # one thread (faster on a busy shared 2-core machine)
    python benchmarks/bench_ae_speed.py --extras channels_last,bf16_weights,compile   # also the variants not kept
    python benchmarks/bench_ae_speed.py --size 256 --repeats 2                         # a quicker run

Both models hold identical random weights (dcae_nb's model is randomised, then converted with
`dcae_nb.checkpoints.to_diffusers_state_dict` into a separate diffusers model). Every repeat runs every case once
(encode, then decode), in the same order; a first round is a warm-up and is not counted; the median of the
repeats is reported. Because the cases are interleaved, their ratios are fair even on a loaded machine, while the
absolute seconds depend on the load (printed at start and end). Errors are relative to dcae_nb's fp32 output:
`rel_l2` = ||a - b|| / ||b||, `rel_max` = max|a - b| / max|b|.

The issue's targets: dcae_nb fp32 >= 1.0x diffusers fp32; dcae_nb's reduced-precision path >= 1.5x diffusers' bf16
autocast, with relative error to fp32 <= 1e-2.
"""
import argparse, copy, math, os, statistics, time

import torch
from dcae_nb.core import machine_info
from dcae_nb.autoencoder import DCAE
from dcae_nb.core import precision_context
from dcae_nb.checkpoints import to_diffusers_state_dict, diffusers_config


@torch.no_grad()
def randomize_(model, seed=0):
    "Random, well-scaled weights (N(0, 1/fan_in)), norm weights in [0.5, 1.5], random BatchNorm statistics."
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.ndim > 1: p.normal_(0, 1 / math.sqrt(p[0].numel()), generator=g)
        elif name.endswith('norm.weight'): p.uniform_(0.5, 1.5, generator=g)
        else: p.normal_(0, 0.1, generator=g)
    for name, b in model.named_buffers():
        if name.endswith('running_mean'): b.normal_(0, 0.1, generator=g)
        elif name.endswith('running_var'): b.uniform_(0.5, 2.0, generator=g)
    return model


def build_models(name):
    "dcae_nb model with random weights, and diffusers' AutoencoderDC with a copy of the same weights."
    from diffusers import AutoencoderDC
    with torch.device('meta'): ours = DCAE.from_config(name)
    ours = randomize_(ours.to_empty(device='cpu')).eval()
    with torch.device('meta'): ref = AutoencoderDC(**diffusers_config(ours.config))
    ref.load_state_dict({k: v.clone() for k, v in to_diffusers_state_dict(ours).items()}, strict=True, assign=True)
    return ours, ref.eval()


def make_cases(ours, ref, extras):
    "label -> (precision, encode fn, decode fn); extras: variants measured but not part of the kit's fast path."
    cases = {'diffusers fp32': ('fp32', lambda x: ref.encode(x).latent, lambda z: ref.decode(z).sample),
             'dcae_nb fp32': ('fp32', ours.encode, ours.decode),
             'diffusers bf16': ('bf16', lambda x: ref.encode(x).latent, lambda z: ref.decode(z).sample),
             'dcae_nb bf16': ('bf16', ours.encode, ours.decode)}
    if 'channels_last' in extras:
        cl, fmt = copy.deepcopy(ours).to(memory_format=torch.channels_last), torch.channels_last
        cases['dcae_nb bf16 channels_last'] = ('bf16', lambda x: cl.encode(x.contiguous(memory_format=fmt)),
                                               lambda z: cl.decode(z.contiguous(memory_format=fmt)))
    if 'bf16_weights' in extras:   # weights cast to bf16, no autocast (norms and attention still accumulate in fp32)
        m16 = copy.deepcopy(ours).to(torch.bfloat16)
        cases['dcae_nb bf16 weights'] = ('fp32', lambda x: m16.encode(x.bfloat16()), lambda z: m16.decode(z.bfloat16()))
    if 'bf16_convs' in extras:     # conv weights stored in bf16, under autocast (norms and BatchNorm stay fp32)
        mc = copy.deepcopy(ours)
        for m in mc.modules():
            if isinstance(m, torch.nn.Conv2d): m.to(torch.bfloat16)
        cases['dcae_nb bf16 convs'] = ('bf16', mc.encode, mc.decode)
    if 'compile' in extras:
        enc, dec = torch.compile(ours.encoder), torch.compile(ours.decoder)
        cases['dcae_nb bf16 compiled'] = ('bf16', enc, dec)
    return cases


def rel_l2(a, b): return ((a.float() - b).norm() / b.norm()).item()
def rel_max(a, b): return ((a.float() - b).abs().max() / b.abs().max()).item()
def med(v): return statistics.median(v) if v else float('nan')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--config', default='dc-ae-f32c32-in-1.0')
    p.add_argument('--size', type=int, default=512, help="square image side (pixels)")
    p.add_argument('--repeats', type=int, default=3, help="counted rounds (after one warm-up round); median kept")
    p.add_argument('--threads', type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument('--extras', default='', help="comma-separated: channels_last, bf16_weights, compile")
    a = p.parse_args(argv)
    if a.threads: torch.set_num_threads(a.threads)
    extras = [e for e in a.extras.split(',') if e]
    print(f"machine: {machine_info()}")
    print(f"load average at start: {os.getloadavg()}  cores: {os.cpu_count()}  torch threads: {torch.get_num_threads()}")
    print(f"config {a.config}, {a.size}x{a.size}, batch 1, random weights; 1 warm-up round + {a.repeats} counted", flush=True)
    ours, ref = build_models(a.config)
    f, g = ours.spatial_compression, torch.Generator().manual_seed(0)
    x = torch.rand(1, 3, a.size, a.size, generator=g) * 2 - 1
    z = torch.randn(1, ours.latent_channels, a.size // f, a.size // f, generator=g)
    cases = make_cases(ours, ref, extras)
    times = {k: {'encode': [], 'decode': []} for k in cases}
    outs, t_start = {}, time.time()
    for r in range(a.repeats + 1):
        for label, (prec, enc, dec) in cases.items():
            with precision_context('cpu', prec):
                t0 = time.perf_counter(); lat = enc(x); t1 = time.perf_counter(); img = dec(z); t2 = time.perf_counter()
            if r: times[label]['encode'].append(t1 - t0); times[label]['decode'].append(t2 - t1)
            else: outs[label] = (lat.float(), img.float())
            print(f"  round {r}{' (warm-up)' if r == 0 else ''} {label:28s} encode {t1 - t0:7.2f} s  decode {t2 - t1:7.2f} s"
                  f"  load {os.getloadavg()[0]:.1f}", flush=True)
    e32, d32 = outs['dcae_nb fp32']
    print(f"\n{'case':28s} {'encode s':>9s} {'decode s':>9s} {'total s':>8s}   error vs dcae_nb fp32 (encode / decode)")
    med_t = {}
    for label in cases:
        te, td = med(times[label]['encode']), med(times[label]['decode'])
        med_t[label] = dict(encode=te, decode=td, total=te + td)
        le, ld = outs[label]
        print(f"{label:28s} {te:9.2f} {td:9.2f} {te + td:8.2f}   rel_l2 {rel_l2(le, e32):.1e} / {rel_l2(ld, d32):.1e}"
              f"   rel_max {rel_max(le, e32):.1e} / {rel_max(ld, d32):.1e}")
    print("\nspeed-up of dcae_nb over diffusers (diffusers time / dcae_nb time; > 1 means dcae_nb is faster):")
    pairs = [('dcae_nb fp32', 'diffusers fp32', 1.0)] + [(k, 'diffusers bf16', 1.5) for k in cases if k.startswith('dcae_nb bf16')]
    for ours_k, ref_k, target in pairs:
        r = {w: med_t[ref_k][w] / med_t[ours_k][w] for w in ('encode', 'decode', 'total')}
        print(f"  {ours_k:28s} vs {ref_k:15s}: encode {r['encode']:.2f}x  decode {r['decode']:.2f}x  total {r['total']:.2f}x"
              f"   (target >= {target}x: {'met' if r['total'] >= target else 'NOT met'})")
    print(f"  bf16 / fp32 speed-up within each implementation: dcae_nb "
          f"{med_t['dcae_nb fp32']['total'] / med_t['dcae_nb bf16']['total']:.2f}x, diffusers "
          f"{med_t['diffusers fp32']['total'] / med_t['diffusers bf16']['total']:.2f}x")
    le, ld = outs['diffusers fp32']
    print(f"  parity check, diffusers fp32 vs dcae_nb fp32: rel_max {rel_max(le, e32):.1e} / {rel_max(ld, d32):.1e}")
    print(f"\nload average at end: {os.getloadavg()}; wall time {time.time() - t_start:.0f} s")
    return 0


if __name__ == '__main__':
    raise SystemExit(main())

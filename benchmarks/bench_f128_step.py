"""Could the quick profile afford a teaching f128 autoencoder? One training step of `teach-f64c128-gated` at its
phase-1 crop (128 px, a 2x2 latent) beside the same design with one more stage (f128, latent 512, last width 512)
at 256 px (its smallest crop with a 2x2 latent), timed in the same process, interleaved.

Each step: forward, L1 loss, backward, AdamW; `--threads` torch threads (the quick profile trains with one thread per
process). Prints seconds per step of each (fastest of `--repeats` interleaved repeats), parameters, and the ratio
f128 / f64, and what six more phase-1 models (two arms x three seeds, `--steps` steps each, two side by side) would
add to `01_residual`.

    python benchmarks/bench_f128_step.py [--repeats 3] [--steps 160] [--threads 1]
"""
import argparse, dataclasses, time


def f128_twin(f64):
    "The f64 teaching config with one more (EfficientViT, 512-wide) stage: f128, latent 512."
    add = lambda name, v: tuple(getattr(f64, name)) + (v,)
    return dataclasses.replace(
        f64, name='teach-f128c512-gated (trial)', latent_channels=512, widths=add('widths', 512),
        encoder_depths=add('encoder_depths', 1), decoder_depths=add('decoder_depths', 1),
        encoder_blocks=add('encoder_blocks', 'evit'), decoder_blocks=add('decoder_blocks', 'evit'),
        encoder_norms=add('encoder_norms', 'rms'), encoder_acts=add('encoder_acts', 'silu'),
        decoder_norms=add('decoder_norms', 'rms'), decoder_acts=add('decoder_acts', 'silu'))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--repeats', type=int, default=3, help="interleaved repeats; the fastest of each case is kept (default: 3)")
    p.add_argument('--steps', type=int, default=160, help="phase-1 steps per model for the estimate (the quick profile: 160)")
    p.add_argument('--threads', type=int, default=1, help="torch threads (the quick profile: 1 per training process)")
    a = p.parse_args(argv)
    import torch
    from dcae_nb.autoencoder import DCAE, get_config
    torch.set_num_threads(a.threads); torch.manual_seed(0)
    f64 = get_config('teach-f64c128-gated')
    cases = {'f64 at 128 px, batch 2': (f64, 128, 2), 'f128 at 256 px, batch 1': (f128_twin(f64), 256, 1)}
    state = {}
    for k, (cfg, res, batch) in cases.items():
        m = DCAE(cfg)
        state[k] = (m, torch.optim.AdamW(m.parameters(), 1e-3), torch.rand(batch, 3, res, res) * 2 - 1, [])
    def step(m, opt, x):
        out = m(x); out = out[0] if isinstance(out, tuple) else getattr(out, 'sample', out)
        loss = (out - x).abs().mean(); opt.zero_grad(); loss.backward(); opt.step()
    for m, opt, x, _ in state.values(): step(m, opt, x)   # warm-up
    for _ in range(a.repeats):
        for m, opt, x, ts in state.values():
            t = time.perf_counter(); step(m, opt, x); ts.append(time.perf_counter() - t)
    s = {k: min(v[3]) for k, v in state.items()}
    for k, (m, *_ , ts) in state.items():
        print(f"{k:24s} {s[k]:.3f} s/step (repeats {' '.join(f'{t:.3f}' for t in ts)}), {sum(q.numel() for q in m.parameters()) / 1e6:.1f} M parameters")
    (k64, k128) = list(s)
    print(f"ratio f128 / f64 per step: {s[k128] / s[k64]:.2f}x ({a.threads} thread(s), fp32)")
    print(f"six more phase-1 models (2 arms x 3 seeds, {a.steps} steps, 2 side by side) would add about "
          f"{6 * a.steps * s[k128] / 2 / 60:.1f} min to 01_residual")


if __name__ == '__main__': main()

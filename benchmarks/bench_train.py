"""Teaching-size autoencoder training throughput on this machine, each figure beside its peer measured in the same run.

1. The kit's trainer (`dcae_nb.phases.PhaseTask` on `dcae_nb.trainer.Trainer`) against a plain PyTorch loop over the
   same model, data (the same seeded crops, made per step in both), loss, optimizer and clipping, in one process
   (interleaved repeats, the fastest of each kept): steps/s and the trainer's overhead; and what making the crops costs.
2. fp32 against bf16 autocast (the plain loop), and what `precision='auto'` picks here.
3. One process with all threads against one single-thread process per core side by side: aggregate steps/s.
4. The minutes per notebook of a reproduction run (`--run DIR`, default: the published quick report).

    python benchmarks/bench_train.py [--config teach-f32c32-gated] [--res 64] [--steps 20] [--repeats 2] [--run DIR]
"""
import argparse, json, multiprocessing as mp, os, statistics, sys, tempfile, time
from pathlib import Path


def _setup(threads):
    import torch
    torch.set_num_threads(threads)
    return torch


def plain_loop(config, res, batch, steps, precision="fp32", threads=1, warm=5, perceptual=0.0, seed=0, q=None):
    "Seconds per step of a hand-written loop: the same model, crops, loss, AdamW and clipping as the kit's phase 1."
    torch = _setup(threads)
    from dcae_nb.autoencoder import DCAE
    from dcae_nb.data import RandomCrops
    from dcae_nb.losses import ReconstructionLoss
    torch.manual_seed(seed)
    model = DCAE(config).to(memory_format=torch.channels_last).train()
    rec = ReconstructionLoss('l1', perceptual_weight=perceptual)
    opt = torch.optim.AdamW([p for p in model.parameters()], lr=1e-4, weight_decay=0.0, fused=True)
    ds = RandomCrops('train', size=res, length=10**7, seed=seed)
    times = []
    for i in range(warm + steps):
        t0 = time.perf_counter()  # the batch is made inside the timed step, as the trainer's DataLoader makes it
        x = ds.batch(range(i * batch, (i + 1) * batch)).contiguous(memory_format=torch.channels_last)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=precision == 'bf16'):
            loss = rec(model(x), x)['rec']
        opt.zero_grad(set_to_none=True); loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0); opt.step()
        if i >= warm: times.append(time.perf_counter() - t0)
    s = sum(times) / len(times)
    if q is not None: q.put(s)
    return s


def kit_trainer(config, res, batch, steps, precision="fp32", threads=1, warm=5, perceptual=0.0, seed=0):
    "Seconds per step of the kit's trainer on the same work (from its log: steps warm..end, no setup, no final save)."
    torch = _setup(threads)
    from dcae_nb.phases import train_phase
    from dcae_nb.train_parts import read_log
    with tempfile.TemporaryDirectory() as d:
        train_phase(config, 1, warm + steps, batch, res, Path(d) / 'run', data='train', eval_data='eval', seed=seed,
                    precision=precision, perceptual_weight=perceptual, lr=1e-4, weight_decay=0.0, warmup=0, log_every=5,
                    eval_every=0, eval_items=2, progress=False, verbose=False, device='cpu', reuse=False)
        rows = {r['step']: r['time'] for r in read_log(Path(d) / 'run') if r['kind'] == 'train'}
    return (rows[warm + steps] - rows[warm]) / steps


def side_by_side(config, res, batch, steps, n):
    "Aggregate steps/s of n single-thread processes training at once (one per core)."
    ctx = mp.get_context('spawn'); q = ctx.Queue()
    ps = [ctx.Process(target=plain_loop, args=(config, res, batch, steps), kwargs=dict(q=q, seed=i)) for i in range(n)]
    for p in ps: p.start()
    per = [q.get() for _ in ps]
    for p in ps: p.join()
    return sum(1 / s for s in per), per


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--config', default='teach-f32c32-gated', help='teaching config to train')
    ap.add_argument('--res', type=int, default=64, help='crop side in pixels')
    ap.add_argument('--batch', type=int, default=8, help='crops per step')
    ap.add_argument('--steps', type=int, default=20, help='timed steps per measurement (after 5 warm-up steps; a multiple of 5)')
    ap.add_argument('--repeats', type=int, default=2, help='interleaved repeats of trainer and plain loop (the fastest is kept)')
    ap.add_argument('--perceptual', type=float, default=0.0, help='LPIPS weight of the loss (0: L1, the gated recipe)')
    ap.add_argument('--run', default=None, help='a reproduction run folder for minutes per notebook (default: data/repro-quick)')
    a = ap.parse_args()
    torch = _setup(1)
    from dcae_nb.core import machine_info
    from dcae_nb.train_parts import auto_precision, cpu_bf16_speedup
    m = machine_info(); cores = os.cpu_count() or 1
    print(f"{m['cpu']}, {cores} cores, torch {m['torch']}; {a.config} at {a.res} px, batch {a.batch}, "
          f"{'L1' if not a.perceptual else f'L1 + {a.perceptual:g} LPIPS'}, {a.steps} timed steps\n")
    kw = dict(perceptual=a.perceptual)
    kit, plain = [], []
    for _ in range(a.repeats):  # interleaved: trainer, plain, trainer, plain ...
        kit.append(kit_trainer(a.config, a.res, a.batch, a.steps, **kw)); plain.append(plain_loop(a.config, a.res, a.batch, a.steps, **kw))
    k, p = min(kit), min(plain)
    from dcae_nb.data import RandomCrops
    ds = RandomCrops('train', size=a.res, length=10**7, seed=0); ds.batch(range(64))           # photos decoded once
    t0 = time.perf_counter(); [ds.batch(range(i * a.batch, (i + 1) * a.batch)) for i in range(8, 8 + a.steps)]
    crops = (time.perf_counter() - t0) / a.steps
    print(f"1. kit trainer {1 / k:.2f} steps/s vs plain loop {1 / p:.2f} steps/s (1 thread, fp32): trainer overhead "
          f"{(k / p - 1) * 100:+.1f} %  [repeats: trainer {', '.join(f'{v:.3f}' for v in kit)} s, plain {', '.join(f'{v:.3f}' for v in plain)} s]; "
          f"making a batch of crops takes {crops * 1e3:.0f} ms of each step ({crops / p:.0%})")
    b16 = plain_loop(a.config, a.res, a.batch, a.steps, 'bf16', **kw); f32 = plain_loop(a.config, a.res, a.batch, a.steps, 'fp32', **kw)
    print(f"2. fp32 {1 / f32:.2f} steps/s vs bf16 autocast {1 / b16:.2f} steps/s: bf16 is {f32 / b16:.2f}x fp32's speed here; "
          f"'auto' picks {auto_precision('cpu')} (its quick probe: {cpu_bf16_speedup():.2f}x)")
    if cores > 1:
        one = plain_loop(a.config, a.res, a.batch, a.steps, threads=cores, **kw)
        agg, per = side_by_side(a.config, a.res, a.batch, a.steps, cores)
        print(f"3. one process, {cores} threads: {1 / one:.2f} steps/s; {cores} single-thread processes side by side: "
              f"{agg:.2f} steps/s in all ({', '.join(f'{1 / s:.2f}' for s in per)}): {agg * one:.2f}x")
    run = Path(a.run) if a.run else Path(__file__).resolve().parent.parent / 'data' / 'repro-quick'
    if (run / 'run.json').exists():
        r = json.loads((run / 'run.json').read_text())
        nbs = {n: v.get('seconds', 0) / 60 for n, v in r.get('notebooks', {}).items()}
        print(f"4. {run} ({r.get('profile')} profile, {r.get('machine', {}).get('cpu', '?')}): " +
              ', '.join(f"{n} {v:.1f} min" for n, v in nbs.items()) + f"; {sum(nbs.values()):.1f} min in all")


if __name__ == '__main__': main()

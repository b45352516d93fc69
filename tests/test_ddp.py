"""Data-parallel training: 2 CPU processes (torchrun, gloo) match 1 process with the same effective batch.
As a script (under torchrun) it trains and saves each rank's weights: `torchrun --nproc_per_node 2 tests/test_ddp.py OUT`."""
import os, subprocess, sys
from pathlib import Path
import pytest, torch
from dcae_nb.train_parts import TrainConfig

STEPS = 8


def configs(out):
    c = lambda name, **kw: TrainConfig(steps=STEPS, batch_size=8, grad_accum=2, log_every=2, save_every=4, ema_decay=0.9,
                                       clip_grad=1.0, out_dir=str(Path(out) / name), device='cpu', progress=False, **kw)
    # 'gan': two optimizers alternating, no BatchNorm (exactly comparable); 'bn': BatchNorm, buffers must agree
    return {'gan': (dict(gan=True, bn=False), c('gan')), 'bn': (dict(bn=True), c('bn'))}


def worker(out):
    import torch.distributed as dist
    from dcae_nb.trainer import Trainer
    from dcae_nb.train_parts import NonFiniteLossError
    from toys import ToyAutoencoderTask
    torch.set_num_threads(1)
    dist.init_process_group('gloo')            # already initialised: the trainer uses it and leaves it open
    rank = dist.get_rank()
    for name, (kw, cfg) in configs(out).items():
        task = ToyAutoencoderTask(**kw); Trainer(task, cfg).fit()
        torch.save({k: m.state_dict() for k, m in task.modules().items()}, Path(out) / f'{name}-rank{rank}.pt')

    class NanOnRank1(ToyAutoencoderTask):  # an inf in rank 1's first micro-batch of step 3, invisible to rank 0
        def training_step(self, x, step, ctx):
            r = (self.model(x) - x).abs().mean()
            bad = ctx.rank == 1 and step == 3 and ctx.micro == 0
            ctx.backward(r * (float('inf') if bad else 1.), 'gen'); ctx.step('gen')
            return {'loss': r}
    (kw, cfg), = [configs(out)['bn']]
    try: Trainer(NanOnRank1(), TrainConfig(**{**cfg.__dict__, 'out_dir': str(Path(out) / 'nan')})).fit()
    except NonFiniteLossError as e: (Path(out) / f'nan-rank{rank}.txt').write_text(str(e))
    dist.destroy_process_group()


def test_two_processes_match_one(tmp_path):
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', __file__,
                        str(tmp_path)], env=env, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    torch.set_num_threads(1)
    from dcae_nb.trainer import Trainer
    from dcae_nb.train_parts import read_log, list_checkpoints
    from toys import ToyAutoencoderTask
    (kw, cfg), = [configs(tmp_path / 'single')['gan']]
    ref = ToyAutoencoderTask(**kw); Trainer(ref, cfg).fit()
    r0, r1 = (torch.load(tmp_path / f'gan-rank{r}.pt') for r in (0, 1))
    for mod in ('model', 'disc'):
        for k, v in ref.modules()[mod].state_dict().items():
            assert torch.equal(r0[mod][k], r1[mod][k]), f"ranks disagree on {mod}.{k}"
            torch.testing.assert_close(r0[mod][k], v, rtol=1e-4, atol=1e-5, msg=f"2 processes vs 1: {mod}.{k}")
    # only rank 0 wrote: one log row per log_every steps, one set of checkpoints
    assert [r['step'] for r in read_log(tmp_path / 'gan') if r['kind'] == 'train'] == list(range(2, STEPS + 1, 2))
    assert [p.name for p in list_checkpoints(tmp_path / 'gan' / 'checkpoints')] == ['step_00000004', 'step_00000008']
    # BatchNorm: each process normalises its own micro-batch, but running statistics are averaged and stay identical
    b0, b1 = (torch.load(tmp_path / f'bn-rank{r}.pt')['model'] for r in (0, 1))
    for k in b0: assert torch.equal(b0[k], b1[k]), f"ranks disagree on {k}"
    # a non-finite loss in one process stops both (no hang), before the bad gradient is applied
    msgs = [(tmp_path / f'nan-rank{r}.txt').read_text() for r in (0, 1)]
    assert 'step 3 (micro-batch 1 of 2)' in msgs[0] and 'another process' in msgs[0], msgs[0]
    assert "step 3 (micro-batch 1 of 2): the loss given to ctx.backward(..., 'gen') = inf" in msgs[1], msgs[1]


if __name__ == '__main__':
    worker(sys.argv[1])

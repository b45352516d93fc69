"""Exact resume: a training subprocess killed with SIGKILL after its first checkpoint, then resumed, ends bit-identical
(CPU) to the same run uninterrupted. Also runs as a script: `python tests/test_resume.py OUT_DIR RESUME SLEEP`."""
import os, signal, subprocess, sys, time
from pathlib import Path
import numpy as np, pytest, torch

STEPS, SAVE_EVERY = 24, 4


def run_training(out_dir, resume, sleep):
    "The run under test: GAN (two optimizers), dropout, BatchNorm, EMA, clipping, accumulation, cosine schedule."
    torch.set_num_threads(1)
    from dcae_nb.trainer import Trainer
    from dcae_nb.train_parts import TrainConfig
    from toys import ToyAutoencoderTask
    cfg = TrainConfig(steps=STEPS, batch_size=8, grad_accum=2, ema_decay=0.9, clip_grad=0.5, save_every=SAVE_EVERY,
                      keep_last=3, log_every=3, eval_every=5, out_dir=str(out_dir), device='cpu', progress=False)
    task = ToyAutoencoderTask(gan=True, dropout=0.2, n=20, sleep=sleep)
    return Trainer(task, cfg).fit(resume=resume)


def _launch(out_dir, resume, sleep):
    return subprocess.Popen([sys.executable, __file__, str(out_dir), str(int(resume)), str(sleep)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _state(run):
    from dcae_nb.train_parts import list_checkpoints, read_checkpoint
    ck = list_checkpoints(run / 'checkpoints')[-1]
    assert ck.name == f'step_{STEPS:08d}'
    return read_checkpoint(ck)


def _assert_identical(a, b, path=''):
    if isinstance(a, torch.Tensor): assert torch.equal(a, b), f"differs at {path}"
    elif isinstance(a, np.ndarray): assert np.array_equal(a, b), f"differs at {path}"
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for k in a: _assert_identical(a[k], b[k], f'{path}.{k}')
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)): _assert_identical(x, y, f'{path}[{i}]')
    else: assert a == b, f"differs at {path}: {a!r} vs {b!r}"


def test_sigkill_then_resume_is_bit_identical(tmp_path):
    ref_dir, run_dir = tmp_path / 'uninterrupted', tmp_path / 'killed'
    ref = _launch(ref_dir, False, 0.0)
    victim = _launch(run_dir, False, 0.05)   # 0.1 s per step: killable mid-run
    deadline, ckroot = time.time() + 90, run_dir / 'checkpoints'
    while not (ckroot.is_dir() and any(p.name.startswith('step_') for p in ckroot.iterdir())):
        assert victim.poll() is None, f"training ended before its first checkpoint:\n{victim.stdout.read()}"
        assert time.time() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    time.sleep(0.3)                                    # let it run on a little past the checkpoint
    os.kill(victim.pid, signal.SIGKILL); victim.wait()
    assert victim.returncode == -signal.SIGKILL
    assert not (run_dir / 'final').exists(), "the victim finished before it was killed: make it slower"
    resumed = _launch(run_dir, True, 0.0)
    for p in (ref, resumed):
        out, _ = p.communicate(timeout=120); assert p.returncode == 0, out
    a, b = _state(ref_dir), _state(run_dir)
    for k in ('modules', 'ema', 'optimizers', 'schedulers', 'rng', 'step'): _assert_identical(a[k], b[k], k)
    assert (ref_dir / 'final' / 'model.safetensors').read_bytes() == (run_dir / 'final' / 'model.safetensors').read_bytes()
    # the log reads as one run: the same rows (apart from wall-clock time), none duplicated by the killed attempt
    from dcae_nb.train_parts import read_log
    strip = lambda rows: [{k: v for k, v in r.items() if k != 'time'} for r in rows]
    assert strip(read_log(ref_dir)) == strip(read_log(run_dir))


def test_resume_in_process_matches(tmp_path):
    "Stopping cleanly at step 8 (steps=8), then resuming to the full length, also matches exactly (fast path)."
    torch.set_num_threads(1)
    from dcae_nb.trainer import Trainer
    from dcae_nb.train_parts import TrainConfig
    from toys import ToyAutoencoderTask
    base = dict(batch_size=8, grad_accum=2, ema_decay=0.9, save_every=4, out_dir=None, device='cpu', progress=False)
    mk = lambda: ToyAutoencoderTask(gan=True, dropout=0.2, n=20, schedule='constant')
    full = mk(); Trainer(full, TrainConfig(**{**base, 'steps': 12, 'out_dir': str(tmp_path / 'a')})).fit()
    Trainer(mk(), TrainConfig(**{**base, 'steps': 8, 'out_dir': str(tmp_path / 'b')})).fit()
    part = mk(); Trainer(part, TrainConfig(**{**base, 'steps': 12, 'out_dir': str(tmp_path / 'b')})).fit(resume=True)
    for k, m in full.modules().items(): _assert_identical(m.state_dict(), part.modules()[k].state_dict(), k)


if __name__ == '__main__':
    out, resume, sleep = sys.argv[1], bool(int(sys.argv[2])), float(sys.argv[3])
    run_training(Path(out), resume, sleep)

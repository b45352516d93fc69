"Trainer: frozen parameters, EMA, gradient accumulation, precision, NaN stop, config refusal, atomic writes, logs."
import json, math
import pytest, torch
import torch.nn as nn
from dcae_nb.core import BadInputError, DCAEError
from dcae_nb.trainer import Trainer, TrainTask
from dcae_nb.train_parts import TrainConfig, NonFiniteLossError, EMA, read_log, list_checkpoints, read_checkpoint, write_checkpoint, plot_losses
from toys import ToyAutoencoderTask, RandomImages
from dcae_nb.core import seed_everything
import dcae_nb.trainer as trainer_mod


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def cfg(tmp_path, name='run', **kw):
    base = dict(steps=10, batch_size=8, out_dir=str(tmp_path / name), device='cpu', progress=False, log_every=2)
    return TrainConfig(**{**base, **kw})


def initial_task(**kw):
    "A task built exactly as the trainer builds it (same seed), to read the initial weights."
    t = ToyAutoencoderTask(**kw); seed_everything(0); t.build(); return t


def test_frozen_params_bit_identical(tmp_path):
    # weight decay, EMA, a GAN discriminator and BatchNorm inside the frozen encoder: nothing frozen may move
    kw = dict(gan=True, freeze=('encoder.',), wd=0.5, dropout=0.3)
    task = ToyAutoencoderTask(**kw)
    Trainer(task, cfg(tmp_path, ema_decay=0.9, clip_grad=1.0)).fit()
    init = initial_task(**kw)
    for (n, p), (_, p0) in zip(task.model.named_parameters(), init.model.named_parameters()):
        if n.startswith('encoder.'): assert torch.equal(p, p0), n
        else: assert not torch.equal(p, p0), f"trainable {n} did not move"
    bn, bn0 = task.model.encoder[1], init.model.encoder[1]
    assert torch.equal(bn.running_mean, bn0.running_mean) and torch.equal(bn.running_var, bn0.running_var)
    assert not torch.equal(task.model.decoder[1].running_mean, init.model.decoder[1].running_mean)  # trained BN: stats move
    ema = read_checkpoint(list_checkpoints(tmp_path / 'run' / 'checkpoints')[-1])['ema']
    assert torch.equal(ema['encoder.0.weight'], init.model.encoder[0].weight)


def test_ema_matches_hand_computation(tmp_path):
    snaps = []
    class Recording(ToyAutoencoderTask):
        def training_step(self, x, step, ctx):
            snaps.append([p.detach().clone() for p in self.model.parameters()])  # θ after `step` optimizer steps
            return super().training_step(x, step, ctx)
    task, d = Recording(bn=False), 0.8
    Trainer(task, cfg(tmp_path, steps=6, ema_decay=d)).fit()
    snaps.append([p.detach().clone() for p in task.model.parameters()])
    ema = [s.clone() for s in snaps[0]]                                    # θ̄_0 = θ_0
    for theta in snaps[1:]: ema = [d * e + (1 - d) * t for e, t in zip(ema, theta)]
    got = read_checkpoint(list_checkpoints(tmp_path / 'run' / 'checkpoints')[-1])['ema']
    for (n, _), e in zip(task.model.named_parameters(), ema): torch.testing.assert_close(got[n], e, rtol=1e-5, atol=1e-6)
    # and final/ holds the EMA weights
    from safetensors.torch import load_file
    final = load_file(tmp_path / 'run' / 'final' / 'model.safetensors')
    assert torch.equal(final['decoder.4.weight'], got['decoder.4.weight'])


def test_ema_update_unit():
    m = nn.Linear(2, 2); e = EMA(m, 0.75); w0 = m.weight.detach().clone()
    with torch.no_grad(): m.weight.mul_(3)
    e.update(m); torch.testing.assert_close(e.module.weight, 0.75 * w0 + 0.25 * 3 * w0)


def test_grad_accumulation_equivalence(tmp_path):
    a = ToyAutoencoderTask(bn=False); Trainer(a, cfg(tmp_path, 'a', batch_size=8, grad_accum=1)).fit()
    b = ToyAutoencoderTask(bn=False); Trainer(b, cfg(tmp_path, 'b', batch_size=8, grad_accum=2)).fit()
    for (n, p), q in zip(a.model.named_parameters(), b.model.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=n)


def test_bf16_trains_and_fp16_cpu_refused(tmp_path):
    t = ToyAutoencoderTask(); res = Trainer(t, cfg(tmp_path, steps=20, precision='bf16', log_every=5)).fit()
    rows = [r for r in read_log(tmp_path / 'run') if r['kind'] == 'train']
    assert rows[-1]['loss'] < rows[0]['loss']
    if not torch.cuda.is_available():
        with pytest.raises(BadInputError, match="'fp16' needs a CUDA device"):
            Trainer(ToyAutoencoderTask(), cfg(tmp_path, 'f16', precision='fp16')).fit()


def test_nan_stops_and_checkpoint_survives(tmp_path):
    c = cfg(tmp_path, steps=12, save_every=5, ema_decay=0.9)
    with pytest.raises(NonFiniteLossError) as e:
        Trainer(ToyAutoencoderTask(nan_at=7), c).fit()
    msg = str(e.value)
    assert 'step 7' in msg and "loss = nan" in msg and 'step_00000005' in msg and 'intact' in msg
    ck = list_checkpoints(tmp_path / 'run' / 'checkpoints')
    assert [p.name for p in ck] == ['step_00000005'] and not (tmp_path / 'run' / 'final').exists()
    # the checkpoint is good: resuming from it (NaN fixed) ends exactly like a run that never failed
    fixed = ToyAutoencoderTask(); Trainer(fixed, c).fit(resume=True)
    clean = ToyAutoencoderTask(); Trainer(clean, cfg(tmp_path, 'clean', steps=12, save_every=5, ema_decay=0.9)).fit()
    for p, q in zip(fixed.model.state_dict().values(), clean.model.state_dict().values()): assert torch.equal(p, q)


def test_nan_in_backward_only_names_optimizer(tmp_path):
    class Hidden(ToyAutoencoderTask):  # the returned terms are finite, the back-propagated loss is not
        def training_step(self, x, step, ctx):
            r = (self.model(x) - x).abs().mean()
            ctx.backward(r * (float('inf') if step == 3 else 1.), 'gen'); ctx.step('gen')
            return {'loss': r}
    t = Hidden()
    with pytest.raises(NonFiniteLossError, match=r"step 3: the loss given to ctx.backward\(\.\.\., 'gen'\) = inf"):
        Trainer(t, cfg(tmp_path)).fit()
    assert all(torch.isfinite(p).all() for p in t.model.parameters())  # the bad step was never applied


def test_config_mismatch_refused_and_allowed_changes(tmp_path):
    Trainer(ToyAutoencoderTask(), cfg(tmp_path, steps=4, save_every=2)).fit()
    with pytest.raises(BadInputError) as e:
        Trainer(ToyAutoencoderTask(lr=3e-3), cfg(tmp_path, steps=6, batch_size=4, seed=1)).fit(resume=True)
    msg = str(e.value)
    for line in ('batch_size: checkpoint 8, now 4', 'seed: checkpoint 0, now 1', 'task.lr: checkpoint 0.01, now 0.003'):
        assert line in msg, msg
    assert 'steps' in msg.split('Only these may change on resume:')[1]
    with pytest.raises(BadInputError, match='--resume'): Trainer(ToyAutoencoderTask(), cfg(tmp_path, steps=4)).fit()
    res = Trainer(ToyAutoencoderTask(), cfg(tmp_path, steps=6, save_every=3, log_every=1, keep_last=5)).fit(resume=True)
    assert res['step'] == 6 and res['checkpoint'].name == 'step_00000006'


def test_atomic_checkpoint_interrupted(tmp_path, monkeypatch):
    c = cfg(tmp_path, steps=6, save_every=3)
    real_save, calls = torch.save, []
    def flaky_save(obj, f, *a, **k):
        calls.append(1)
        if len(calls) == 2: f.write(b'\0' * 1000); raise KeyboardInterrupt  # killed in the middle of the 2nd write
        return real_save(obj, f, *a, **k)
    monkeypatch.setattr(torch, 'save', flaky_save)
    with pytest.raises(KeyboardInterrupt): Trainer(ToyAutoencoderTask(), c).fit()
    root = tmp_path / 'run' / 'checkpoints'
    assert [p.name for p in list_checkpoints(root)] == ['step_00000003']
    assert sorted(p.name for p in root.iterdir()) == ['step_00000003']      # no half-written folder left
    assert read_checkpoint(root / 'step_00000003')['step'] == 3
    monkeypatch.setattr(torch, 'save', real_save)
    assert Trainer(ToyAutoencoderTask(), c).fit(resume=True)['step'] == 6


def test_corrupt_checkpoint_message(tmp_path):
    p = write_checkpoint(tmp_path, 1, {'a': 1}); (p / 'state.pt').write_bytes(b'garbage')
    with pytest.raises(DCAEError, match='Delete that folder'): read_checkpoint(p)


def test_logs_csv_jsonl_and_plot(tmp_path):
    Trainer(ToyAutoencoderTask(gan=True), cfg(tmp_path, steps=6, eval_every=3)).fit()
    rows = read_log(tmp_path / 'run')
    assert [r['step'] for r in rows if r['kind'] == 'train'] == [2, 4, 6]
    assert [r['step'] for r in rows if r['kind'] == 'eval'] == [3, 6]
    import csv
    with open(tmp_path / 'run' / 'log.csv') as f: csv_rows = list(csv.DictReader(f))
    assert len(csv_rows) == len(rows) and {'loss', 'd_loss', 'lr/gen', 'val_l1'} <= set(csv_rows[0])
    assert math.isclose(float(csv_rows[0]['loss']), rows[0]['loss'], rel_tol=1e-9)
    fig = plot_losses(tmp_path / 'run'); assert len(fig.axes) == 2


def test_iterable_dataset_matches_map_style(tmp_path):
    class Stream(ToyAutoencoderTask):  # the same items, in order, as a plain iterable
        def dataset(self):
            ds = RandomImages(self.hp['n'], self.hp['res'])
            class It(torch.utils.data.IterableDataset):
                def __iter__(self): return (ds[i] for i in range(len(ds)))
            return It()
    a = ToyAutoencoderTask(n=12, schedule='constant'); Trainer(a, cfg(tmp_path, 'map', shuffle=False, steps=5)).fit()
    b = Stream(n=12, schedule='constant'); Trainer(b, cfg(tmp_path, 'it', shuffle=False, steps=3, save_every=3)).fit()
    Trainer(Stream(n=12, schedule='constant'), cfg(tmp_path, 'it', shuffle=False, steps=5)).fit(resume=True)  # skips 3 x 8 items (2 epochs)
    b2 = read_checkpoint(list_checkpoints(tmp_path / 'it' / 'checkpoints')[-1])['modules']['model']
    for k, v in a.model.state_dict().items(): assert torch.equal(v, b2[k]), k


def test_task_mistakes_have_clear_errors(tmp_path):
    class NoStep(ToyAutoencoderTask):
        def training_step(self, x, step, ctx):
            r = (self.model(x) - x).abs().mean(); ctx.backward(r, 'gen'); return {'loss': r}
    with pytest.raises(BadInputError, match=r"never ctx.step\('gen'\)"): Trainer(NoStep(), cfg(tmp_path, 'a')).fit()
    class WrongName(ToyAutoencoderTask):
        def training_step(self, x, step, ctx): ctx.backward(self.model(x).mean(), 'generator')
    with pytest.raises(BadInputError, match="no optimizer named 'generator'"): Trainer(WrongName(), cfg(tmp_path, 'b')).fit()
    with pytest.raises(BadInputError, match='multiple of 3'):
        Trainer(ToyAutoencoderTask(), cfg(tmp_path, 'c', batch_size=8, grad_accum=3)).fit()


def test_fp16_gradscaler_path_and_resume(tmp_path, monkeypatch):
    "The fp16 + GradScaler code path (run on CPU here: GPUs are its real target) trains and resumes exactly."
    monkeypatch.setattr(trainer_mod, '_FP16_DEVICES', ('cuda', 'cpu'))
    kw = dict(gan=True, schedule='constant')
    c = lambda name, steps: cfg(tmp_path, name, steps=steps, precision='fp16', clip_grad=1.0, save_every=3, log_every=1)
    full = ToyAutoencoderTask(**kw); Trainer(full, c('full', 6)).fit()
    Trainer(ToyAutoencoderTask(**kw), c('part', 3)).fit()
    part = ToyAutoencoderTask(**kw); Trainer(part, c('part', 6)).fit(resume=True)
    for k, v in full.model.state_dict().items(): assert torch.equal(v, part.model.state_dict()[k]), k
    a, b = (read_checkpoint(list_checkpoints(tmp_path / n / 'checkpoints')[-1])['scaler'] for n in ('full', 'part'))
    assert a is not None and a == b
    rows = [r for r in read_log(tmp_path / 'full') if r['kind'] == 'train']
    assert all(math.isfinite(r['loss']) for r in rows)

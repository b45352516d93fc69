"DC-AE phases: frozen layers bit-identical through phases 2 and 3, trainable ones move, GAN variants, reuse, bad input."
import json, time
import pytest, torch
from dcae_nb.core import BadInputError, CheckpointError
from dcae_nb.autoencoder import DCAE
from dcae_nb.phases import (train_phase, PhaseTask, match_params, layer_patterns, PHASE_LAYERS,
                            evaluate_autoencoder, eval_crops)
from dcae_nb.profile_ae import phase_memory
from dcae_nb.train_parts import read_log

TINY = dict(steps=3, batch=2, res=64, data='embedded-train', eval_data='embedded-eval', eval_items=2, progress=False,
            warmup=1, gan_start=1, log_every=1)


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope='module')
def start(tmp_path_factory):
    "A saved teaching f32 model (random weights: enough to check what moves)."
    d = tmp_path_factory.mktemp('init') / 'model'
    torch.manual_seed(0); DCAE.from_config('teach-f32c32').save_pretrained(d)
    return d


def _diff(a, b):
    "Names of parameters and buffers that differ between two models."
    sa, sb = a.state_dict(), b.state_dict()
    return {k for k in sa if not torch.equal(sa[k], sb[k])}


def _expected(model, phase, trainable=None):
    return set(match_params(model, layer_patterns(trainable or PHASE_LAYERS[phase], model.config)))


@pytest.mark.parametrize('phase', [2, 3])
def test_frozen_bit_identical_trainable_moves(tmp_path, start, phase):
    # weight decay on (phase 2: 1e-3; phase 3 given 0.5), EMA on, clipping on, bf16: frozen must not move by one bit
    out = train_phase(None, phase, init=start, out=tmp_path / f'p{phase}', ema_decay=0.5, weight_decay=0.5, **TINY)
    a, b = DCAE.from_pretrained(start), DCAE.from_pretrained(out)
    want = _expected(a, phase)
    moved = _diff(a, b)
    assert moved == want, (sorted(moved - want)[:5], sorted(want - moved)[:5])   # includes BatchNorm buffers: unchanged
    assert 0 < len(want) < len(list(a.parameters()))


def test_phase3_gan_terms_and_full_variant(tmp_path, start):
    out = train_phase(None, 3, init=start, out=tmp_path / 'full', gan='full', **TINY)
    rows = [r for r in read_log(tmp_path / 'full') if r['kind'] == 'train']
    assert 'g_loss' not in rows[0] and {'g_loss', 'gan_weight', 'disc_loss', 'logits_real'} <= set(rows[-1])
    a, b = DCAE.from_pretrained(start), DCAE.from_pretrained(out)
    moved = _diff(a, b)
    assert 'encoder.project_in.conv.weight' in moved and 'decoder.project_out.conv.weight' in moved
    cfg = json.loads((tmp_path / 'full' / 'phase.json').read_text())['settings']['task']
    assert cfg['gan'] == 'full' and cfg['trainable'] == ['*'] and cfg['lr'] == pytest.approx(5.4e-5 * 4)


def test_reuse_and_resume_refusal(tmp_path):
    kw = dict(TINY, steps=2)
    p = train_phase('teach-f32c32', 1, out=tmp_path / 'p1', **kw)
    t0 = time.time(); assert train_phase('teach-f32c32', 1, out=tmp_path / 'p1', **kw) == p; assert time.time() - t0 < 10
    with pytest.raises(BadInputError, match=r"task.lr: checkpoint 0.000256, now 0.001"):
        train_phase('teach-f32c32', 1, out=tmp_path / 'p1', lr=1e-3, **kw)
    with pytest.raises(BadInputError, match='--resume'):
        train_phase('teach-f32c32', 1, out=tmp_path / 'p1', reuse=False, **kw)
    m = evaluate_autoencoder(p, eval_crops('embedded-eval', res=64, items=2))
    assert set(m) >= {'psnr', 'ssim', 'lpips'} and m['n'] == 2 and m['size'] == [64, 64]


def test_bad_inputs(tmp_path, start):
    mk = lambda *a, **k: PhaseTask(*a, **{**dict(data='embedded-train', eval_data='embedded-eval', log=lambda *x: None), **k})
    with pytest.raises(BadInputError, match=r"--res 70: must be a multiple of the spatial compression f=32 .*64 or 96"):
        mk('teach-f32c32', 1, 70)
    with pytest.raises(BadInputError, match="phase 2 .* adapts a trained model: pass --init"): mk('teach-f32c32', 2, 64)
    with pytest.raises(BadInputError, match="no such folder"): mk(None, 3, 64, init=tmp_path / 'absent')
    (tmp_path / 'junk').mkdir(); (tmp_path / 'junk' / 'config.json').write_text('{"a": 1}')
    with pytest.raises(CheckpointError, match="not a DC-AE model folder"): mk(None, 2, 64, init=tmp_path / 'junk')
    with pytest.raises(BadInputError, match="holds a 'teach-f32c32' model, but the config is 'teach-f16c8'"):
        mk('teach-f16c8', 2, 64, init=start)
    with pytest.raises(BadInputError, match="matches no parameter"): mk(None, 2, 64, init=start, trainable='decoder.nope')
    with pytest.raises(BadInputError, match="adaptive GAN weight"): mk(None, 3, 64, init=start, trainable='latent-layers')
    with pytest.raises(BadInputError, match="gan='full' trains the whole model"): mk(None, 3, 64, init=start, gan='full', trainable='head')
    with pytest.raises(BadInputError, match="pass --config NAME"): mk(None, 1, 64)
    with pytest.raises(BadInputError, match="unknown DC-AE config"): mk('teach-f33', 1, 64)


def test_phase_memory_middle_saves_memory():
    m = DCAE.from_config('teach-f32c32')
    full, mid, head = (phase_memory(m, 64, 2, s) for s in ('all', 'latent-layers', 'head'))
    assert head['activations'] < mid['activations'] < full['activations']
    assert mid['grads'] == 4 * mid['trainable_params'] and full['optimizer'] == 8 * full['params']
    assert all(p.requires_grad for p in m.parameters())


def test_phase3_crash_then_resume_is_bit_identical(tmp_path, start, monkeypatch):
    """A real phase-3 run (GAN, discriminator, random crops, EMA) that dies after its step-2 checkpoint and is resumed ends
    bit-identical to the same run uninterrupted (the SIGKILL version on the trainer is tests/test_resume.py)."""
    kw = dict(TINY, steps=4, save_every=2, ema_decay=0.5)
    ref = train_phase(None, 3, init=start, out=tmp_path / 'straight', **kw)
    real, crashed = PhaseTask.training_step, []
    def crash_once(self, batch, step, ctx):
        if step >= 3 and not crashed: crashed.append(step); raise RuntimeError('simulated crash')
        return real(self, batch, step, ctx)
    monkeypatch.setattr(PhaseTask, 'training_step', crash_once)
    with pytest.raises(RuntimeError, match='simulated crash'): train_phase(None, 3, init=start, out=tmp_path / 'crashed', **kw)
    assert crashed and not (tmp_path / 'crashed' / 'final').exists()
    steps_run = []
    def count(self, batch, step, ctx): steps_run.append(step); return real(self, batch, step, ctx)
    monkeypatch.setattr(PhaseTask, 'training_step', count)
    got = train_phase(None, 3, init=start, out=tmp_path / 'crashed', **kw)   # finds the checkpoint and resumes
    assert sorted(set(steps_run)) == [2, 3], steps_run   # 0-based: steps 2 and 3 after the step-2 checkpoint, not from scratch
    assert _diff(DCAE.from_pretrained(ref), DCAE.from_pretrained(got)) == set()
    loss = lambda d: [(r['step'], r['loss']) for r in read_log(d) if r['kind'] == 'train']
    assert loss(tmp_path / 'straight') == loss(tmp_path / 'crashed')


def test_gated_recipe_groups_and_auto_precision(tmp_path):
    "The gated teaching recipe trains through train_phase: the in/out layers get lr x io_lr_scale, 'auto' is recorded as chosen."
    from dcae_nb.train_parts import auto_precision
    t = PhaseTask('teach-f32c32-gated', 1, 64, data='embedded-train', eval_data='embedded-eval', lr=1e-3, weight_decay=0.,
                  io_lr_scale=0.1, perceptual_weight=0., log=lambda *a: None)
    t.device = torch.device('cpu'); t.build()
    (opt, _), = [t.optimizers(type('C', (), dict(steps=10))())['gen']]
    main_g, io_g = opt.param_groups
    assert main_g['initial_lr'] == 1e-3 and io_g['initial_lr'] == pytest.approx(1e-4)   # (before the warm-up multiplier)
    io_names = {n for n, p in t.model.named_parameters() if any(p is q for q in io_g['params'])}
    assert io_names and all(n.split('.')[1] in ('project_in', 'project_out') for n in io_names)
    assert len(main_g['params']) + len(io_g['params']) == len(list(t.model.parameters()))
    final = train_phase('teach-f32c32-gated', 1, out=tmp_path / 'g', precision='auto', io_lr_scale=0.1, perceptual_weight=0.,
                        lr=1e-3, weight_decay=0., **{k: v for k, v in TINY.items() if k != 'gan_start'})
    cfg = json.loads((tmp_path / 'g' / 'config.json').read_text())
    assert cfg['train']['precision'] == auto_precision('cpu') and cfg['task']['io_lr_scale'] == 0.1
    m = DCAE.from_pretrained(final)
    assert m.config.branch_gates and m.config.head_norm == 'none'
    assert 'io_lr_scale' not in PhaseTask('teach-f32c32', 1, 64, data='embedded-train', eval_data='embedded-eval', log=lambda *a: None).hp

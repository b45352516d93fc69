"`dcae latents`, `dcae train-dit`, `dcae sample` end to end, every bad input as a one-line error, and 2-process training."
import json, os, shutil, subprocess, sys
from pathlib import Path
import pytest, torch
from safetensors.torch import load_file
from dcae_nb.cli import main
from dcae_nb.autoencoder import DCAE
from dcae_nb.train_parts import read_log

TINY = ['--lr', '1e-3']


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def ae(d, seed=0, name='teach-f32c32', widths=(8, 16, 32, 32, 32, 32), **kw):
    torch.manual_seed(seed)
    return DCAE.from_config(name, widths=widths, **kw).save_pretrained(d)


def run(capsys, *argv):
    "Run `dcae ARGV`; return (exit status, stdout, stderr)."
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    d = tmp_path_factory.mktemp('cli')
    e = dict(dir=d, ae=ae(d / 'ae'), other=ae(d / 'other', seed=1), f8=ae(d / 'f8', name='teach-f8c4', widths=(8, 16, 32, 32)),
             f16=ae(d / 'f16', name='teach-f16c8', widths=(8, 16, 32, 32, 32), latent_channels=32))
    torch.set_num_threads(1)
    assert main(['latents', '--ae', str(e['ae']), '--out', str(d / 'cache'), '--size', '64', '--crops', '8', '--batch', '4',
                 '--no-progress']) == 0
    assert main(['train-dit', '--model', 'DiT-T', '--latents', str(d / 'cache'), '--steps', '2', '--batch', '4',
                 '--out', str(d / 'dit'), '--save-every', '1', '--no-progress', *TINY]) == 0
    return e


def test_end_to_end(env, capsys):
    d = env['dir']
    m = json.loads((d / 'cache' / 'manifest.json').read_text())
    assert m['count'] == 8 and m['latent_shape'] == [32, 2, 2] and m['autoencoder']['config'] == 'teach-f32c32'
    rec = json.loads((d / 'dit' / 'final' / 'dit.json').read_text())
    assert rec['model'] == 'DiT-T' and rec['config']['patch_size'] == 1 and rec['latents']['autoencoder'] == m['autoencoder']
    code, out, err = run(capsys, 'sample', '--dit', d / 'dit', '--ae', env['ae'], '--n', 5, '--cfg', 2, '--steps', 3,
                         '--sampler', 'ddim', '--out', d / 'samples', '--no-progress')
    assert code == 0, err
    files = sorted(p.name for p in (d / 'samples').iterdir())
    assert files == ['grid.png'] + [f'sample_{i:04d}.png' for i in range(5)] + ['samples.json']
    info = json.loads((d / 'samples' / 'samples.json').read_text())
    assert info['labels'] == m['classes'] + m['classes'][:1]                # classes cycle
    from PIL import Image
    assert Image.open(d / 'samples' / 'sample_0000.png').size == (64, 64)
    # the same seed gives the same PNGs
    run(capsys, 'sample', '--dit', d / 'dit', '--ae', env['ae'], '--n', 2, '--cfg', 2, '--steps', 3, '--sampler', 'ddim',
        '--out', d / 'samples2', '--no-progress')
    assert (d / 'samples' / 'sample_0001.png').read_bytes() == (d / 'samples2' / 'sample_0001.png').read_bytes()


def test_resume(env, capsys):
    d = env['dir']
    code, out, err = run(capsys, 'train-dit', '--model', 'DiT-T', '--latents', d / 'cache', '--steps', 2, '--batch', 4,
                         '--out', d / 'dit', '--no-progress', *TINY)
    assert code == 2 and 'already holds checkpoints' in err and '--resume' in err
    code, out, err = run(capsys, 'train-dit', '--model', 'DiT-T', '--latents', d / 'cache', '--steps', 3, '--batch', 4,
                         '--out', d / 'dit', '--resume', '--no-progress', *TINY)
    assert code == 0, err
    assert [r['step'] for r in read_log(d / 'dit') if r['kind'] == 'eval'] == [2, 3]


@pytest.mark.parametrize('case, argv, message', [
    ('unknown model', ['train-dit', '--model', 'DiT-Huge', '--latents', '{cache}', '--out', '{d}/x'], "unknown model name 'DiT-Huge'"),
    ('patch', ['train-dit', '--model', 'DiT-T/3', '--latents', '{cache}', '--out', '{d}/x'], "does not divide the latent size 2"),
    ('negative guidance', ['sample', '--dit', '{dit}', '--ae', '{ae}', '--cfg', '-1', '--out', '{d}/x'], "expected a finite number >= 0"),
    ('other weights', ['sample', '--dit', '{dit}', '--ae', '{other}', '--out', '{d}/x'], "different autoencoder"),
    ('channels', ['sample', '--dit', '{dit}', '--ae', '{f8}', '--out', '{d}/x'], "latent channel mismatch"),
    ('size', ['sample', '--dit', '{dit}', '--ae', '{f16}', '--out', '{d}/x'], "latent size mismatch"),
    ('not a DiT', ['sample', '--dit', '{cache}', '--ae', '{ae}', '--out', '{d}/x'], "holds no dit.json"),
    ('not an AE', ['latents', '--ae', '{cache}', '--out', '{d}/x'], "no config.json"),
    ('not a cache', ['train-dit', '--model', 'DiT-T', '--latents', '{d}', '--out', '{d}/x'], "is not a latent cache"),
    ('no crops', ['latents', '--ae', '{ae}', '--crops', '0', '--out', '{d}/x'], "argument --crops: expected an integer >= 1, got '0'"),
    ('crop size', ['latents', '--ae', '{ae}', '--size', '100', '--out', '{d}/x'], "multiple of 32"),
    ('split', ['latents', '--ae', '{ae}', '--split', 'nowhere', '--out', '{d}/x'], "unknown split 'nowhere'"),
    ('other cache in out', ['latents', '--ae', '{other}', '--size', '64', '--crops', '8', '--out', '{cache}'], "already holds a latent cache"),
])
def test_bad_input(env, capsys, case, argv, message):
    d = env['dir']
    argv = [a.format(d=d, cache=d / 'cache', dit=d / 'dit', **{k: env[k] for k in ('ae', 'other', 'f8', 'f16')}) for a in argv]
    code, out, err = run(capsys, *argv, '--no-progress')
    assert code == 2, (case, out, err)
    assert message in err and err.startswith(f'dcae {argv[0]}: error:') and 'Traceback' not in err, (case, err)
    assert not (d / 'x').exists()


def test_empty_and_corrupt_cache(env, capsys, tmp_path):
    bad = shutil.copytree(env['dir'] / 'cache', tmp_path / 'bad')
    (bad / 'shard_00000.safetensors').write_bytes(b'garbage')
    code, _, err = run(capsys, 'train-dit', '--model', 'DiT-T', '--latents', bad, '--out', tmp_path / 'x', '--no-progress')
    assert code == 2 and 'corrupt' in err
    m = json.loads((bad / 'manifest.json').read_text()); m.update(count=0, shards=[])
    (bad / 'manifest.json').write_text(json.dumps(m))
    code, _, err = run(capsys, 'train-dit', '--model', 'DiT-T', '--latents', bad, '--out', tmp_path / 'x', '--no-progress')
    assert code == 2 and 'is empty' in err


def test_two_processes(env, tmp_path):
    "torchrun with 2 CPU processes trains the same weights as 1 process with the same effective batch."
    env_ = {**os.environ, 'OMP_NUM_THREADS': '1'}
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env_.pop(k, None)
    args = ['train-dit', '--model', 'DiT-T', '--latents', str(env['dir'] / 'cache'), '--steps', '2', '--batch', '4',
            '--no-progress', '--device', 'cpu', '--precision', 'fp32', *TINY]  # fp32: 'auto' may pick bf16, whose sums differ by process count
    script = tmp_path / 'dcae_cmd.py'
    script.write_text("import sys\nfrom dcae_nb.cli import main\nsys.exit(main())\n")
    p = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script),
                        *args, '--out', str(tmp_path / 'ddp')], env=env_, capture_output=True, text=True, timeout=180)
    assert p.returncode == 0, p.stdout[-2000:] + p.stderr[-2000:]
    assert main([*args, '--out', str(tmp_path / 'one')]) == 0
    a, b = (load_file(str(tmp_path / r / 'final' / 'model.safetensors')) for r in ('ddp', 'one'))
    for k in a: torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)

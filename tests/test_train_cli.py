"`dcae train` end to end: phase 1 → 2 → 3 on the embedded photos, the final folders load; bad input is one clear line."
import contextlib, io, json, os, subprocess, sys
from pathlib import Path
import pytest, torch
from dcae_nb.autoencoder import DCAE
from dcae_nb.cli import main

COMMON = ['--steps', '2', '--batch', '2', '--res', '64', '--data', 'embedded-train', '--eval-data', 'embedded-eval',
          '--eval-items', '2', '--warmup', '1', '--gan-start', '1', '--log-every', '1', '--no-progress']


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def dcae(*args):
    "Run `dcae` in-process; return (exit status, stdout, stderr)."
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err): rc = main([str(a) for a in args])
    return rc, out.getvalue(), err.getvalue()


def test_three_phases_end_to_end(tmp_path):
    bin_dir = Path(sys.executable).parent
    exe = bin_dir / 'dcae'
    cmd = [str(exe)] if exe.exists() else [sys.executable, '-m', 'dcae_nb.cli']
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    r = subprocess.run(cmd + ['train', '--config', 'teach-f32c32', '--phase', '1', '--out', tmp_path / 'p1'] + COMMON,
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert 'trained model:' in r.stdout and 'phase 1 (low-resolution full training)' in r.stdout
    for phase, init in ((2, 'p1'), (3, 'p2')):
        rc, out, err = dcae('train', '--phase', phase, '--init', tmp_path / init / 'final', '--out', tmp_path / f'p{phase}', *COMMON)
        assert rc == 0, err
    for p in ('p1', 'p2', 'p3'):
        run = tmp_path / p
        m = DCAE.from_pretrained(run / 'final')
        assert m.config.name == 'teach-f32c32'
        assert {'log.csv', 'log.jsonl', 'losses.png', 'phase.json', 'recon'} <= set(os.listdir(run))
        assert list((run / 'recon').glob('step_*.png'))
        assert json.loads((run / 'final' / 'training.json').read_text())['phase']['phase'] == int(p[1])
    m1, m3 = DCAE.from_pretrained(tmp_path / 'p1' / 'final'), DCAE.from_pretrained(tmp_path / 'p3' / 'final')
    torch.testing.assert_close(m1.encoder.project_in.conv.weight, m3.encoder.project_in.conv.weight, rtol=0, atol=0)

    # resuming with a different setting is refused, listing the difference; starting again needs --resume
    rc, _, err = dcae('train', '--config', 'teach-f32c32', '--phase', '1', '--out', tmp_path / 'p1', '--resume', '--lr', '1e-3', *COMMON)
    assert rc == 2 and 'task.lr: checkpoint 0.000256, now 0.001' in err and 'Traceback' not in err
    rc, _, err = dcae('train', '--config', 'teach-f32c32', '--phase', '1', '--out', tmp_path / 'p1', *COMMON)
    assert rc == 2 and '--resume' in err
    rc, _, err = dcae('train', '--config', 'teach-f32c32', '--phase', '1', '--out', tmp_path / 'p1', '--resume',
                      *[a if a != '2' or i != 1 else '3' for i, a in enumerate(COMMON)])   # --steps 3: extends the run
    assert rc == 0, err
    rc, _, err = dcae('train', '--config', 'teach-f64c128', '--phase', '2', '--init', tmp_path / 'p1' / 'final', '--out', tmp_path / 'x', *COMMON)
    assert rc == 2 and "holds a 'teach-f32c32' model, but the config is 'teach-f64c128'" in err


@pytest.mark.parametrize('args, message', [
    (['--config', 'teach-f32c32', '--phase', '2'], "adapts a trained model: pass --init DIR"),
    (['--phase', '3', '--init', 'no/such/dir'], "--init no/such/dir: no such folder"),
    (['--config', 'teach-f32c32', '--phase', '1', '--res', '70'], "--res 70: must be a multiple of the spatial compression f=32"),
    (['--config', 'teach-f32c32', '--phase', '1', '--data', 'no-such-split'], "unknown split 'no-such-split'"),
    (['--config', 'teach-f32c32', '--phase', '1', '--trainable', 'encoder.nope'], "'encoder.nope' matches no parameter"),
    (['--config', 'nope', '--phase', '1'], "unknown DC-AE config 'nope'"),
])
def test_bad_input_messages(tmp_path, args, message):
    base = ['--res', '64', '--steps', '1', '--batch', '2', '--out', tmp_path / 'r', '--no-progress']
    rc, _, err = dcae('train', *base, *args)   # a later --res overrides the first
    assert rc == 2, err
    assert message in err and 'Traceback' not in err, err

"""Every bad input and every fault a user can meet, one table: each ends in one clear message (exit status 2 from
`dcae`, or a dcae_nb error from the API) that names the problem, and no traceback reaches the user.

The rows marked `fixed` were found by a hostile-user pass (issue 12); the others already gave clear messages and are
kept here so they stay that way."""
import contextlib, io, json, os, shutil, subprocess, sys, time
from pathlib import Path
import pytest, torch
from dcae_nb.cli import main
from dcae_nb.core import DCAEError, BadInputError, CheckpointError, LOCK_NAME
from dcae_nb.autoencoder import DCAE

AE_TRAIN = ['--config', 'teach-f32c32', '--phase', '1', '--steps', '2', '--batch', '2', '--res', '64', '--data', 'embedded-train',
            '--eval-data', 'embedded-eval', '--eval-items', '2', '--warmup', '1', '--precision', 'fp32', '--no-progress']


from test_train_cli import dcae, _one_thread  # `dcae ARGS` in-process -> (status, stdout, stderr); one torch thread (autouse)


def refused(rc, err, phrase, cmd=None):
    "One clear refusal: exit status 2, the phrase, the command's error prefix, no traceback."
    assert rc == 2, err
    assert phrase in err, err
    assert 'Traceback' not in err, err
    if cmd: assert err.startswith(f'dcae {cmd}: error:'), err


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    "A trained autoencoder run folder, a latent cache made from it, a DiT run on that cache, a damaged-folder kit."
    d = tmp_path_factory.mktemp('bad')
    torch.set_num_threads(1)
    rc, _, err = dcae('train', *AE_TRAIN, '--out', d / 'ae_run'); assert rc == 0, err
    rc, _, err = dcae('latents', '--ae', d / 'ae_run', '--out', d / 'cache', '--size', 64, '--crops', 8, '--batch', 4, '--no-progress')
    assert rc == 0, err                                                             # a run folder is accepted as --ae
    rc, _, err = dcae('train-dit', '--model', 'DiT-T', '--latents', d / 'cache', '--steps', 2, '--batch', 4, '--out', d / 'dit_run',
                      '--lr', '1e-3', '--no-progress'); assert rc == 0, err
    (d / 'a_file').write_text('not a folder')
    return d


# ---- the command line: values checked when parsed -------------------------------------------------------------------
PARSE = [  # (fixed?, command line after `dcae`, phrase)
    (True, ['train', *AE_TRAIN, '--lr', '-1', '--out', '{d}/x'], "argument --lr: expected a finite number > 0, got '-1'"),
    (True, ['train', *AE_TRAIN, '--lr', 'nan', '--out', '{d}/x'], "argument --lr: expected a finite number > 0, got 'nan'"),
    (True, ['train', *AE_TRAIN, '--save-every', '-1', '--out', '{d}/x'], "argument --save-every: expected an integer >= 0"),
    (True, ['train', *AE_TRAIN, '--keep-last', '0', '--out', '{d}/x'], "argument --keep-last: expected an integer >= 1"),
    (True, ['train', *AE_TRAIN, '--ema-decay', '1', '--out', '{d}/x'], "argument --ema-decay: expected a finite number >= 0 and < 1"),
    (True, ['train', *AE_TRAIN, '--clip-grad', '0', '--out', '{d}/x'], "argument --clip-grad: expected a finite number > 0"),
    (True, ['train', *AE_TRAIN, '--steps', '0', '--out', '{d}/x'], "argument --steps: expected an integer >= 1"),
    (True, ['train-dit', '--model', 'DiT-T', '--latents', '{d}/cache', '--class-dropout', '2', '--out', '{d}/x'],
     "argument --class-dropout: expected a finite number >= 0 and <= 1, got '2'"),
    (True, ['sample', '--dit', '{d}/dit_run', '--ae', '{d}/ae_run', '--n', '0', '--out', '{d}/x'], "argument --n: expected an integer >= 1"),
    (True, ['sample', '--dit', '{d}/dit_run', '--ae', '{d}/ae_run', '--labels', 'a,b', '--out', '{d}/x'], "expected comma-separated class indices"),
    (True, ['latents', '--ae', '{d}/ae_run', '--scaling', '-2', '--out', '{d}/x'], "expected 'measured', 'config' or a finite number > 0"),
    (True, ['evaluate', '--size', '-64', '--out', '{d}/x'], "argument --size: expected an integer >= 1"),
    (True, ['profile', 'ae', '--repeats', '0'], "argument --repeats: expected an integer >= 1"),
    (True, ['convert', '{d}/ae_run/final', '--scaling-factor', '0', '--out', '{d}/x'], "argument --scaling-factor: expected a finite number > 0"),
    (False, ['train', *AE_TRAIN, '--precision', 'fp8', '--out', '{d}/x'], "argument --precision: invalid choice: 'fp8'"),
    (False, ['reproduce', '--profile', 'huge', '--out', '{d}/x'], "argument --profile: invalid choice: 'huge'"),
    (False, ['train', '--phase', '1'], "the following arguments are required: --res"),
]


@pytest.mark.parametrize('fixed, argv, phrase', PARSE, ids=[' '.join(a[:1] + [x for x in a if x.startswith('--') and x not in AE_TRAIN][-1:]) for _, a, _ in PARSE])
def test_parse_time_checks(env, fixed, argv, phrase):
    argv = [a.format(d=env) for a in argv]
    rc, out, err = dcae(*argv)
    refused(rc, err, phrase, argv[0])
    assert not (env / 'x').exists()                                                # nothing was started


# ---- the command line: runs ------------------------------------------------------------------------------------------
RUNS = [  # (fixed?, command line, phrase)
    (True, ['train', *AE_TRAIN, '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['train', *AE_TRAIN, '--out', '{d}/a_file/run'], "is a file, so no folder can be made under it"),
    (True, ['train-dit', '--model', 'DiT-T', '--latents', '{d}/cache', '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['latents', '--ae', '{d}/ae_run', '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['sample', '--dit', '{d}/dit_run', '--ae', '{d}/ae_run', '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['reproduce', '--profile', 'smoke', '--only', '01', '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['reproduce', '--profile', 'smoke', '--only', '04', '--released', '{d}/no_such_ckpt', '--out', '{d}/r'], "--released"),
    (True, ['evaluate', '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['convert', '{d}/ae_run', '--out', '{d}/a_file'], "that is a file, not a folder"),
    (True, ['train', *AE_TRAIN, '--resume', '--out', '{d}/empty_run'], "holds no checkpoint to continue"),
    (True, ['train-dit', '--model', 'DiT-T', '--latents', '{d}/cache', '--resume', '--out', '{d}/empty_run'], "holds no checkpoint to continue"),
    (False, ['trian'], "unknown command 'trian'; did you mean 'train'?"),
    (False, ['train', *AE_TRAIN[2:], '--config', 'teach-f33', '--out', '{d}/x'], "unknown DC-AE config 'teach-f33'"),
    (False, ['train', *AE_TRAIN, '--res', '70', '--out', '{d}/x'], "must be a multiple of the spatial compression f=32"),
    (False, ['train', *AE_TRAIN, '--device', 'cuda', '--out', '{d}/x'] if not torch.cuda.is_available() else ['trian'],
     "no usable CUDA GPU" if not torch.cuda.is_available() else "unknown command"),
    (False, ['train', *AE_TRAIN, '--data', 'nowhere', '--out', '{d}/x'], "unknown split 'nowhere'"),
    (False, ['train-dit', '--model', 'DiT-Q', '--latents', '{d}/cache', '--out', '{d}/x'], "unknown model name 'DiT-Q'"),
    (False, ['train-dit', '--model', 'DiT-T', '--latents', '{d}', '--out', '{d}/x'], "is not a latent cache"),
    (False, ['sample', '--dit', '{d}/cache', '--ae', '{d}/ae_run', '--out', '{d}/x'], "holds no dit.json"),
    (False, ['evaluate', '--size', '100', '--out', '{d}/x'], "is not a multiple of f"),
    (False, ['reproduce', '--only', '99', '--out', '{d}/x'], "--only '99' matches no notebook"),
    (False, ['reproduce', '--report-only', '--out', '{d}/x'], "holds no run (no run.json)"),
    (False, ['fetch', 'weights', '--cache', '{d}/a_file'], "could not write into the cache"),
    (False, ['evaluate', '--ae', '{d}/nowhere', '--out', '{d}/x'], "does not exist"),
]


@pytest.mark.parametrize('fixed, argv, phrase', RUNS, ids=[f"{a[0]}-{i}" for i, (_, a, _) in enumerate(RUNS)])
def test_run_time_checks(env, fixed, argv, phrase):
    (env / 'empty_run').mkdir(exist_ok=True)
    argv = [a.format(d=env) for a in argv]
    rc, out, err = dcae(*argv)
    refused(rc, err, phrase, argv[0] if argv[0] != 'trian' else None)
    assert (env / 'a_file').read_text() == 'not a folder' and not (env / 'x').exists()


def test_run_folders_accepted_where_model_folders_are(env):
    "fixed: `--ae RUN_DIR` (latents: in the fixture; sample: here) and `--init RUN_DIR` use the run's final/."
    rc, out, err = dcae('sample', '--dit', env / 'dit_run', '--ae', env / 'ae_run', '--n', 2, '--steps', 2, '--out', env / 'samples',
                        '--no-progress')
    assert rc == 0, err
    assert (env / 'samples' / 'grid.png').exists()
    rc, out, err = dcae('train', '--phase', '2', '--init', env / 'ae_run', *AE_TRAIN[4:], '--out', env / 'p2')
    assert rc == 0, err
    assert DCAE.from_pretrained(env / 'p2').config.name == 'teach-f32c32'       # the API takes run folders too


# ---- damaged and mismatched model folders ------------------------------------------------------------------------------
def _damaged(env, name, how):
    d = env / name
    if not d.exists():
        shutil.copytree(env / 'ae_run' / 'final', d)
        how(d)
    return d

DAMAGES = {
    'truncated weights': (lambda d: (d / 'model.safetensors').write_bytes((d / 'model.safetensors').read_bytes()[:5000]),
                          "model.safetensors cannot be read as safetensors"),
    'not safetensors': (lambda d: (d / 'model.safetensors').write_bytes(b'PK\x03\x04 a zip file'), "copy or download it again"),
    'invalid config.json': (lambda d: (d / 'config.json').write_text('{"widths": [32, 64'), "config.json is not valid JSON"),
    'config of another model': (lambda d: (d / 'config.json').write_text((d / 'config.json').read_text().replace('"shortcuts": true', '"shortcuts": false')
                                                                         .replace('"teach-f32c32"', '"teach-f32c32-conv"')),
                                "holds the weights of 'teach-f32c32'"),
    'no config.json': (lambda d: (d / 'config.json').unlink(), "has no config.json"),
}


@pytest.mark.parametrize('case', list(DAMAGES))
def test_damaged_folders(env, case):
    "fixed (all but the last): every load names the file and says what to do, through the API and every command that loads weights."
    how, phrase = DAMAGES[case]
    d = _damaged(env, case.replace(' ', '_'), how)
    with pytest.raises(CheckpointError) as e: DCAE.from_pretrained(d)
    assert phrase in str(e.value)
    for argv in (['latents', '--ae', d, '--out', env / 'x'], ['convert', d, '--out', env / 'x'],
                 ['sample', '--dit', env / 'dit_run', '--ae', d, '--out', env / 'x'], ['evaluate', '--ae', d, '--out', env / 'x'],
                 ['train', '--phase', '2', '--init', d, *AE_TRAIN[4:], '--out', env / 'x']):
        rc, out, err = dcae(*argv)
        refused(rc, err, phrase, argv[0])
        assert not (env / 'x' / 'final').exists()


def test_damaged_cached_metric_weights(tmp_path):
    "A cached weight file with the right size but another sha256: named, with the command that fetches it again."
    from dcae_nb.assets import find_asset, local_path, weight_path
    from dcae_nb.metrics import LPIPS
    a = find_asset('lpips-alex'); dst = local_path(a, tmp_path); dst.parent.mkdir(parents=True)
    raw = bytearray(weight_path('lpips-alex').read_bytes()); raw[-20] ^= 0xFF; dst.write_bytes(bytes(raw))
    with pytest.raises(DCAEError) as e: LPIPS('alex', cache=tmp_path)
    assert 'does not match its sha256' in str(e.value) and 'dcae fetch weights' in str(e.value)


def test_truncated_training_state(env, tmp_path):
    "A damaged checkpoint: resuming names it and says to delete it (already clear before issue 12)."
    run = tmp_path / 'run'
    rc, _, err = dcae('train', *AE_TRAIN, '--out', run); assert rc == 0, err
    st = next((run / 'checkpoints').glob('step_*')) / 'state.pt'
    st.write_bytes(st.read_bytes()[:1000])
    rc, _, err = dcae('train', *[a if a != '2' else '3' for a in AE_TRAIN], '--resume', '--out', run)
    refused(rc, err, "cannot be read", 'train')
    assert 'Delete that folder' in err


# ---- the model's own inputs ---------------------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def model(): return DCAE.from_config('teach-f32c32').eval()

API = [  # (fixed?, call on the model, phrase)
    (True, lambda m: m.encode(torch.rand(1, 3, 64, 64) * 2.4 - 1.2), "± 0.001 for rounding"),
    (True, lambda m: m.decode(torch.zeros(1, 32, 2, 2, dtype=torch.long)), "Pass latents as floats"),
    (False, lambda m: m.encode(torch.zeros(1, 4, 64, 64)), "expected 3 channels"),
    (False, lambda m: m.encode(torch.zeros(3, 64, 64)), "x[None]"),
    (False, lambda m: m.encode(torch.zeros(1, 3, 64, 70)), "Nearest valid heights"),
    (False, lambda m: m.encode(torch.full((1, 3, 64, 64), float('nan'))), "contains NaN or inf"),
    (False, lambda m: m.encode(torch.zeros(0, 3, 64, 64)), "the tensor is empty"),
    (False, lambda m: m.encode(torch.rand(1, 3, 64, 64) * 255), "x / 127.5 - 1"),
    (False, lambda m: m.decode(torch.zeros(1, 8, 2, 2)), "expects 32 latent channels, got 8"),
    (False, lambda m: m.tiled_encode(torch.zeros(1, 3, 128, 128), tile=64, overlap=64), "overlap"),
    (False, lambda m: m.tiled_encode(torch.zeros(1, 3, 128, 128), tile=48), "multiple of"),
    (False, lambda m: DCAE.from_config('dc-ae-f32'), "Known configs:"),
]


@pytest.mark.parametrize('fixed, call, phrase', API, ids=[p for _, _, p in API])
def test_model_inputs(model, fixed, call, phrase):
    with pytest.raises(DCAEError) as e, torch.no_grad(): call(model)
    assert phrase in str(e.value), str(e.value)


def test_other_float_dtypes_are_cast(model):
    "fixed: float64 / float16 / bf16 input to an fp32 model is cast to the weights' dtype (documented in the docstring)."
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        ref = model.encode(x)
        for dt in (torch.float64, torch.float16, torch.bfloat16):
            z = model.encode(x.to(dt))
            assert z.dtype == torch.float32 and torch.allclose(z, ref, atol=0.05)
            assert model.decode(z.to(dt)).dtype == torch.float32
    assert 'cast to the weights' in DCAE.encode.__doc__


# ---- faults while running -------------------------------------------------------------------------------------------
def test_divergence_is_reported_as_divergence(tmp_path):
    "fixed: a diverging run names the step, keeps its last checkpoint and says what to try, before any input check fires."
    run = tmp_path / 'run'
    rc, _, err = dcae('train', *[a if a != '2' or i != 5 else '12' for i, a in enumerate(AE_TRAIN)], '--lr', '1e6', '--warmup', '0',
                      '--save-every', '1', '--out', run)
    refused(rc, err, 'training diverged at step', 'train')
    assert '--lr' in err and '--warmup' in err and '--precision fp32' in err and 'is intact' in err and 'contains NaN' not in err
    kept = [p.name for p in (run / 'checkpoints').glob('step_*')]
    assert kept and f"checkpoints/{sorted(kept)[-1]}" in err


def test_disk_full(tmp_path):
    "fixed: a full disk is one message naming the path and the space; nothing half-written is left."
    mnt = tmp_path / 'full'; mnt.mkdir()
    r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', str(mnt)], capture_output=True, text=True)
    if r.returncode: pytest.skip(f"cannot mount a small tmpfs here (needs root): {r.stderr.strip()}")
    try:
        rc, _, err = dcae('train', *AE_TRAIN, '--out', mnt / 'run')
        refused(rc, err, 'no space left on the disk', 'train')
        assert 'needs about' in err and 'MB free there' in err and 'Nothing half-written was left' in err
        left = [p.name for p in (mnt / 'run').rglob('*') if p.name.startswith('.') and p.name != LOCK_NAME]
        assert not left, left
    finally: subprocess.run(['umount', str(mnt)], capture_output=True)


HOLD = """
import sys, time
from contextlib import ExitStack
from dcae_nb.core import run_lock
with ExitStack() as s:
    for d in sys.argv[1:]: s.enter_context(run_lock(d, 'dcae train (the first run)'))
    print('held', flush=True); time.sleep(120)
"""


def test_one_run_per_folder(env, tmp_path):
    "fixed: while a run writes into a folder, a second run into it is refused at once, naming the holder's PID."
    names = ['train', 'train-dit', 'latents', 'sample', 'reproduce']
    holder = subprocess.Popen([sys.executable, '-c', HOLD, *[str(tmp_path / n) for n in names]], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        second = {'train': ['train', *AE_TRAIN], 'train-dit': ['train-dit', '--model', 'DiT-T', '--latents', env / 'cache', '--steps', 2, '--batch', 4],
                  'latents': ['latents', '--ae', env / 'ae_run', '--size', 64, '--crops', 4, '--no-progress'],
                  'sample': ['sample', '--dit', env / 'dit_run', '--ae', env / 'ae_run', '--n', 1, '--steps', 2, '--no-progress'],
                  'reproduce': ['reproduce', '--profile', 'smoke', '--only', '01']}
        for n in names:
            rc, _, err = dcae(*second[n], '--out', tmp_path / n)
            refused(rc, err, f'is in use by process {holder.pid}', n)
            assert 'dcae train (the first run)' in err and f"delete {tmp_path / n / LOCK_NAME}" in err
            assert [p.name for p in (tmp_path / n).iterdir()] == [LOCK_NAME]          # the second run wrote nothing (the holder made the folder)
    finally: holder.kill(); holder.wait()
    rc, _, err = dcae('latents', '--ae', env / 'ae_run', '--size', 64, '--crops', 4, '--no-progress', '--out', tmp_path / 'latents')
    assert rc == 0, err                                            # the holder is gone: its lock went with it (no stale lock)

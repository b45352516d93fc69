"The wheel a practitioner gets from `pip install .`: installed in a fresh venv, `dcae reproduce` runs from any folder."
import os, subprocess, sysconfig, venv
from pathlib import Path


def test_wheel_in_fresh_venv_runs_reproduce(tmp_path, built_wheel):
    "pip install of the wheel into a new venv (dependencies seen through a .pth, so nothing is downloaded), then"
    "`dcae reproduce --profile smoke` from an unrelated folder finds its notebooks and profiles and writes a report."
    whl = built_wheel
    env_dir = tmp_path/'venv'
    venv.EnvBuilder(with_pip=True).create(env_dir)  # ensurepip: offline, from the bundled wheel
    py = env_dir/'bin'/'python'
    site = subprocess.run([str(py), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                          capture_output=True, text=True, check=True).stdout.strip()
    # this interpreter's packages (torch, papermill, ...) without its own dcae_nb: a plain path line in a .pth
    # adds the folder but does not run the editable install's finder that lives there
    Path(site, 'deps.pth').write_text(sysconfig.get_paths()['purelib'] + '\n')
    r = subprocess.run([str(py), '-m', 'pip', 'install', '--no-deps', '--no-index', '-q', '--disable-pip-version-check',
                        str(whl)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([str(py), '-c', 'import dcae_nb; print(dcae_nb.__file__)'], capture_output=True, text=True,
                       cwd=tmp_path)
    assert r.returncode == 0 and r.stdout.startswith(site), (r.stdout, r.stderr[-1000:])  # the wheel's copy, not the checkout
    work = tmp_path/'elsewhere'; work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ('PYTHONPATH',)}
    r = subprocess.run([str(env_dir/'bin'/'dcae'), 'reproduce', '--profile', 'smoke', '--only', '01',
                        '--out', 'out', '--device', 'cpu'], capture_output=True, text=True, cwd=work, env=env, timeout=900)
    assert r.returncode == 0, (r.stdout[-2000:], r.stderr[-3000:])
    assert (work/'out'/'REPORT.md').exists() and (work/'out'/'01_residual'/'results.json').exists()


def test_lock_file_pins_registry_packages_only():
    "requirements-ci.txt installs on a fresh machine: every line is `name==version` (a `name @ file:///...` line from"
    "`pip freeze` of a locally built wheel points at a file no other machine has, and `make install` fails there)."
    lines = [l.strip() for l in (Path(__file__).parents[1]/'requirements-ci.txt').read_text().splitlines()]
    bad = [l for l in lines if l and not l.startswith('#') and '==' not in l]
    assert not bad, f"requirements-ci.txt lines that are not registry pins: {bad}"

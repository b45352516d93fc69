import shutil, subprocess, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).parents[1]


def pytest_configure(config):
    config.addinivalue_line('markers', 'browser: drives headless Chromium (skipped, with the reason, where it is missing)')


@pytest.fixture(scope='session')
def built_wheel(tmp_path_factory) -> Path:
    "The plain (non-editable) wheel of this checkout, built once per test session."
    if not (ROOT/'setup.py').exists(): pytest.skip('not a source checkout')
    tmp = tmp_path_factory.mktemp('wheel')
    src = tmp/'src'  # build from a copy: setuptools writes build/ and *.egg-info next to setup.py
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns('.venv', '.git', 'build', 'dist', 'runs', '*.egg-info',
                                                             '__pycache__', '_docs', '_proc', '.pytest_cache', 'tests'))
    r = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
                        str(tmp/'dist'), str(src)], capture_output=True, text=True, cwd=tmp)
    assert r.returncode == 0, r.stderr[-2000:]
    return next((tmp/'dist').glob('dcae_nb-*.whl'))

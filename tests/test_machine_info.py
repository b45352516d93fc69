import re, shutil, subprocess
from pathlib import Path
import pytest
import dcae_nb
from dcae_nb.core import machine_info

PKG = Path(dcae_nb.__file__).parent


def _git(*args):
    return subprocess.run(['git', *args], capture_output=True, text=True, cwd=PKG).stdout.strip()


def test_git_revision_says_when_the_code_was_edited():
    "Reports name the revision their numbers came from; a checkout with edited tracked files is marked -dirty."
    if not shutil.which('git') or not _git('rev-parse', '--git-dir'): pytest.skip('not a git checkout')
    rev = machine_info()['git_rev']
    assert re.fullmatch(r'[0-9a-f]{7,}(-dirty)?', rev), rev
    assert _git('rev-parse', 'HEAD').startswith(rev.removesuffix('-dirty')), rev
    edited = bool(_git('status', '--porcelain', '--untracked-files=no'))
    assert rev.endswith('-dirty') == edited, (rev, edited)

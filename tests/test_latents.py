"Latent pipeline: scaling-factor rule, cache round trip and identity, corrupt caches, DiT training (resume, bf16), sampling."
import json, math
import pytest, torch
from safetensors.torch import load_file, save_file
from dcae_nb.core import BadInputError, CheckpointError
from dcae_nb.autoencoder import DCAE
from dcae_nb.data import RandomCrops
from dcae_nb.latents import (scaling_factor_of, latent_stats, weights_hash, ae_identity, load_autoencoder, encode_split,
                             LatentCache, read_manifest, check_identity, photo_classes, latent_tokens, MANIFEST)
from dcae_nb.latent_dit import train_dit, load_dit, sample_images, sample_latents
from dcae_nb.assets import sha256_file as _sha256_file

TINY = dict(depth=1, hidden_size=32, num_heads=2)  # a DiT-T with overrides: milliseconds per step


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def tiny_ae(seed=0, name='teach-f32c32', widths=(8, 16, 32, 32, 32, 32), **kw):
    torch.manual_seed(seed)
    return DCAE.from_config(name, widths=widths, **kw).eval()


@pytest.fixture(scope='module')
def env(tmp_path_factory):
    torch.set_num_threads(1)
    d = tmp_path_factory.mktemp('lat')
    ae_dir = tiny_ae().save_pretrained(d / 'ae')
    cache = encode_split(ae_dir, 'embedded-train', size=64, crops=10, out=d / 'cache', shard_size=4, batch=3, progress=False)
    return dict(dir=d, ae_dir=ae_dir, cache=cache)


def test_scaling_factor_rule():
    g = torch.Generator().manual_seed(0)
    z = 2 * torch.randn(200, 8, 4, 4, generator=g) + 1.5                   # std 2, mean 1.5 → RMS 2.5
    assert scaling_factor_of(z) == pytest.approx(1 / 2.5, rel=0.01)       # DC-AE rule: 1/RMS (mean included)
    assert scaling_factor_of(z, 'std') == pytest.approx(1 / 2, rel=0.01)  # latent diffusion's 1/std
    assert latent_stats(z * scaling_factor_of(z))['rms'] == pytest.approx(1, abs=1e-6)
    assert scaling_factor_of(list(z.split(7))) == pytest.approx(scaling_factor_of(z), rel=1e-12)
    exact = 1 / z.double().pow(2).mean().sqrt().item()
    assert scaling_factor_of(z) == pytest.approx(exact, rel=1e-9)
    with pytest.raises(BadInputError, match="cannot scale"): scaling_factor_of(torch.zeros(4))
    with pytest.raises(BadInputError, match="no latent values"): scaling_factor_of([])


def test_tokens():
    assert [latent_tokens(512, 8, 2), latent_tokens(512, 32), latent_tokens(512, 64), latent_tokens(128, 32)] == [1024, 256, 64, 16]
    with pytest.raises(BadInputError, match="multiple of f·patch"): latent_tokens(96, 8, 8)


def test_weights_hash_identity(env):
    a, b = tiny_ae(), load_autoencoder(env['ae_dir'])
    assert weights_hash(a) == weights_hash(b) == read_manifest(env['cache'])['autoencoder']['weights_sha256']
    with torch.no_grad(): next(a.parameters()).view(-1)[0] += 1e-4       # one weight moves: another identity
    assert weights_hash(a) != weights_hash(b)
    ident = ae_identity(b)
    assert ident['config'] == 'teach-f32c32' and ident['latent_channels'] == 32 and ident['spatial_compression'] == 32


def test_cache_round_trip(env):
    cache = LatentCache(env['cache'])
    m = cache.manifest
    assert [s['count'] for s in m['shards']] == [4, 4, 2] and len(cache) == 10 and cache.latent_shape == (32, 2, 2)
    ds = RandomCrops('embedded-train', size=64, length=10, seed=0)
    with torch.no_grad(): ref = tiny_ae().encode(ds.batch(range(10)))
    torch.testing.assert_close(cache.latents, ref, rtol=1e-5, atol=1e-5)  # unscaled encoder output, in crop order
    assert cache.labels.tolist() == [ds.params(i)['photo'] for i in range(10)]
    assert m['classes'] == [p.name for p in ds.photos] and m['num_classes'] == 4
    assert m['scaling_factor'] == pytest.approx(1 / ref.double().pow(2).mean().sqrt().item(), rel=1e-5)
    z, y = cache[3]
    torch.testing.assert_close(z, ref[3] * m['scaling_factor'])        # items are scaled
    for k in ('split', 'size', 'crops', 'seed', 'augmentation', 'count', 'latent_shape', 'std_scaling_factor'): assert k in m
    assert m['size'] == 64 and m['split'] == 'embedded-train' and m['augmentation']['hflip'] == 'random, p=0.5'
    assert m['autoencoder']['path'].endswith('ae')


def test_cache_reuse_and_refusals(env):
    c, mt = env['cache'], (env['cache'] / MANIFEST).stat().st_mtime_ns
    assert encode_split(env['ae_dir'], 'embedded-train', size=64, crops=10, out=c, shard_size=4, progress=False) == c
    assert (c / MANIFEST).stat().st_mtime_ns == mt                      # reused
    with pytest.raises(BadInputError, match="size: cache 64, asked 32"):
        encode_split(env['ae_dir'], 'embedded-train', size=32, crops=10, out=c, progress=False)
    with pytest.raises(BadInputError, match="weights_sha256"):
        encode_split(tiny_ae(seed=1), 'embedded-train', size=64, crops=10, out=c, progress=False)
    (env['dir'] / 'junk').mkdir(); (env['dir'] / 'junk' / 'x.txt').write_text('x')
    with pytest.raises(BadInputError, match="not a latent cache"):
        encode_split(env['ae_dir'], 'embedded-train', size=64, crops=2, out=env['dir'] / 'junk', progress=False)
    with pytest.raises(BadInputError, match="multiple of 32"):
        encode_split(env['ae_dir'], 'embedded-train', size=40, crops=2, out=env['dir'] / 'c2', progress=False)
    with pytest.raises(BadInputError, match="empty cache"):
        encode_split(env['ae_dir'], 'embedded-train', size=64, crops=0, out=env['dir'] / 'c2', progress=False)
    assert not (env['dir'] / 'c2').exists()


def test_scaling_options(env):
    ae = tiny_ae(scaling_factor=0.5)
    c = encode_split(ae, 'embedded-train', size=32, crops=3, out=env['dir'] / 'cfgscale', scaling='config', progress=False)
    m = read_manifest(c)
    assert m['scaling_factor'] == 0.5 and m['measured_scaling_factor'] != 0.5 and 'config' in m['scaling_rule']
    with pytest.raises(BadInputError, match="records no scaling factor"):
        encode_split(tiny_ae(), 'embedded-train', size=32, crops=3, out=env['dir'] / 'cs2', scaling='config', progress=False)
    c = encode_split(tiny_ae(), 'embedded-train', size=32, crops=3, out=env['dir'] / 'cs3', scaling=0.25, progress=False)
    assert LatentCache(c).scaling_factor == 0.25


def _copy(src, dst):
    import shutil; shutil.copytree(src, dst); return dst


def test_corrupt_and_empty_caches(env, tmp_path):
    m = read_manifest(env['cache'])
    bad = _copy(env['cache'], tmp_path / 'flip')
    f = bad / m['shards'][0]['file']; b = bytearray(f.read_bytes()); b[-1] ^= 1; f.write_bytes(bytes(b))
    with pytest.raises(CheckpointError, match="is corrupt"): LatentCache(bad)
    bad = _copy(env['cache'], tmp_path / 'nan')                        # well-formed shard, right hash, NaN inside
    t = load_file(str(bad / m['shards'][2]['file'])); t['latents'][0, 0, 0, 0] = float('nan')
    save_file(t, str(bad / m['shards'][2]['file']))
    man = json.loads((bad / MANIFEST).read_text()); man['shards'][2]['sha256'] = _sha256_file(bad / m['shards'][2]['file'])
    (bad / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(CheckpointError, match="NaN or inf"): LatentCache(bad)
    bad = _copy(env['cache'], tmp_path / 'shape')
    man = json.loads((bad / MANIFEST).read_text()); man['latent_shape'] = [4, 8, 8]; (bad / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(CheckpointError, match="expected latents"): LatentCache(bad)
    bad = _copy(env['cache'], tmp_path / 'count')
    man = json.loads((bad / MANIFEST).read_text()); man['count'] = 0; (bad / MANIFEST).write_text(json.dumps(man))
    with pytest.raises(BadInputError, match="is empty"): LatentCache(bad)
    with pytest.raises(CheckpointError, match="not a latent cache"): LatentCache(tmp_path)
    with pytest.raises(CheckpointError, match="not a latent cache"): train_dit(tmp_path, steps=1, out=tmp_path / 'd', progress=False)


def test_identity_checks(env):
    rec = read_manifest(env['cache'])['autoencoder']
    check_identity(rec, load_autoencoder(env['ae_dir']))
    with pytest.raises(BadInputError, match="different autoencoder"): check_identity(rec, tiny_ae(seed=1))
    with pytest.raises(BadInputError, match="latent channel mismatch"):
        check_identity(rec, tiny_ae(name='teach-f8c4', widths=(8, 16, 32, 32)))
    with pytest.raises(BadInputError, match="latent size mismatch"):
        check_identity(rec, tiny_ae(name='teach-f16c8', widths=(8, 16, 32, 32, 32), latent_channels=32))


def test_labels():
    from dcae_nb.data import load_photos
    ph = load_photos('embedded')
    assert photo_classes(ph, 'photo')[1] == list(range(6))
    assert photo_classes(ph, 'source') == (['scikit-image 0.26.0 (skimage)'], [0] * 6)
    with pytest.raises(BadInputError, match="expected one of"): photo_classes(ph, 'class')


def test_resume_is_exact_and_reuse(env):
    d, kw = env['dir'], dict(batch=4, lr=1e-3, progress=False, **TINY)
    f = train_dit(env['cache'], 'DiT-T', steps=3, out=d / 'r', save_every=1, **kw)
    assert train_dit(env['cache'], 'DiT-T', steps=3, out=d / 'r', **kw) == f   # reused (settings match)
    train_dit(env['cache'], 'DiT-T', steps=5, out=d / 'r', **kw)              # continued from step 3
    train_dit(env['cache'], 'DiT-T', steps=5, out=d / 'straight', **kw)
    a, b = load_file(str(d / 'r' / 'final' / 'model.safetensors')), load_file(str(d / 'straight' / 'final' / 'model.safetensors'))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(BadInputError, match="configuration differs"):      # another lr cannot continue this run
        train_dit(env['cache'], 'DiT-T', steps=6, out=d / 'r', **{**kw, 'lr': 2e-3})
    # per-sample draws: 2 micro-batches of 2 give the weights of one batch of 4
    train_dit(env['cache'], 'DiT-T', steps=5, out=d / 'accum', grad_accum=2, **kw)
    c = load_file(str(d / 'accum' / 'final' / 'model.safetensors'))
    for k in a: torch.testing.assert_close(c[k], b[k], rtol=1e-4, atol=1e-6, msg=k)


def test_bf16_ema_learn_sigma_and_sampling(env):
    f = train_dit(env['cache'], 'DiT-T', steps=2, batch=4, out=env['dir'] / 'bf', precision='bf16', ema_decay=0.9,
                  learn_sigma=True, progress=False, **TINY)
    model, rec = load_dit(f)
    assert model.learn_sigma and rec['config']['in_channels'] == 32 and rec['latents']['scaling_factor'] > 0
    x, y = sample_images(f, env['ae_dir'], n=3, cfg_scale=2.0, sampler='ddpm', steps=4, return_labels=True)
    assert x.shape == (3, 3, 64, 64) and x.abs().max() <= 1 and y.tolist() == [0, 1, 2]
    z1, _ = sample_latents(f, n=2, cfg_scale=1.0, steps=3, seed=5)
    z2, _ = sample_latents(f, n=2, cfg_scale=1.0, steps=3, seed=5)
    assert torch.equal(z1, z2)
    with pytest.raises(BadInputError, match=">= 0"): sample_images(f, env['ae_dir'], n=1, cfg_scale=-0.1)
    with pytest.raises(BadInputError, match="different autoencoder"): sample_images(f, tiny_ae(seed=1), n=1)
    with pytest.raises(BadInputError, match="class indices"): sample_images(f, env['ae_dir'], n=2, labels=[0, 9])


def test_unconditional(env):
    c = encode_split(env['ae_dir'], 'embedded-train', size=32, crops=4, out=env['dir'] / 'unc', labels='none', progress=False)
    assert read_manifest(c)['num_classes'] == 0 and LatentCache(c).labels.tolist() == [0] * 4
    f = train_dit(c, 'DiT-T', steps=1, batch=2, out=env['dir'] / 'unc-dit', progress=False, **TINY)
    x, y = sample_images(f, env['ae_dir'], n=2, cfg_scale=1.0, steps=2, return_labels=True)
    assert x.shape == (2, 3, 32, 32) and y is None
    with pytest.raises(BadInputError, match="unconditional"): sample_images(f, env['ae_dir'], n=2, cfg_scale=3.0)


def test_bad_model_names(env):
    with pytest.raises(BadInputError, match="unknown model name 'DiT-Z'"): train_dit(env['cache'], 'DiT-Z', out=env['dir'] / 'z')
    with pytest.raises(BadInputError, match="does not divide"): train_dit(env['cache'], 'DiT-T/4', out=env['dir'] / 'z')
    assert not (env['dir'] / 'z').exists()

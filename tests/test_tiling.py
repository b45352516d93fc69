"""Tiled encode / decode (dcae_nb.tiling): exactness for local models, shapes, bounded tile sizes and memory, bad input.

A fake autoencoder whose encode is average pooling by f plus a per-pixel channel mix and whose decode is nearest
up-sampling plus a per-pixel mix is local at the f-grid, so blended tiles must reproduce the untiled output to
float rounding; a spy records every tile the model sees. All cases run in a few seconds.
"""
import pytest, torch, torch.nn.functional as F
from dcae_nb.core import BadInputError
from dcae_nb.autoencoder import DCAE
from dcae_nb.tiling import tiled_encode, tiled_decode, tiled_apply, tile_starts, blend_weights, PeakMemory, peak_bytes


class FakeLocalAE:
    "Pool-by-f encoder and nearest-upsampling decoder with fixed per-pixel channel mixes; records tile shapes."
    def __init__(self, f=8, c=4):
        g = torch.Generator().manual_seed(0)
        self.spatial_compression, self.latent_channels = f, c
        self.enc_mix, self.dec_mix = torch.randn(c, 3, generator=g), torch.randn(3, c, generator=g)
        self.seen = []
    def encode(self, x):
        self.seen.append(('encode', tuple(x.shape)))
        return torch.einsum('oc,bchw->bohw', self.enc_mix, F.avg_pool2d(x, self.spatial_compression))
    def decode(self, z):
        self.seen.append(('decode', tuple(z.shape)))
        return F.interpolate(torch.einsum('oc,bchw->bohw', self.dec_mix, z), scale_factor=self.spatial_compression, mode='nearest')


def rand_images(*shape, seed=0): return torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


@pytest.mark.parametrize('ramp', ['linear', 'cosine'])
@pytest.mark.parametrize('hw,tile,overlap,batch', [((256, 384), 64, 16, 1), ((200, 136), 48, 8, 3), ((64, 64), 128, 32, 1)])
def test_tiled_equals_untiled_for_local_model(ramp, hw, tile, overlap, batch):
    ae = FakeLocalAE()
    x = rand_images(2, 3, *hw)
    xp = F.pad(x, (0, -hw[1] % 8, 0, -hw[0] % 8), mode='reflect')
    z = tiled_encode(ae, x, tile=tile, overlap=overlap, ramp=ramp, batch=batch, pad=True)
    torch.testing.assert_close(z, ae.encode(xp), atol=1e-6, rtol=1e-5)
    y = tiled_decode(ae, z, tile_latent=tile // 8, overlap_latent=overlap // 8, ramp=ramp, batch=batch, size=hw)
    torch.testing.assert_close(y, ae.decode(z)[..., :hw[0], :hw[1]], atol=1e-6, rtol=1e-5)


def test_real_model_local_at_init_is_exact():
    "teach-f8c4 with shortcut_init is its shortcut path (local at the 8-pixel grid): tiled == untiled."
    m = DCAE.from_config('teach-f8c4', shortcut_init=True).eval()
    x = rand_images(1, 3, 96, 64)
    with torch.inference_mode():
        z = m.encode(x)
        torch.testing.assert_close(tiled_encode(m, x, tile=32, overlap=8), z, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(tiled_decode(m, z, tile_latent=4, overlap_latent=1), m.decode(z), atol=1e-5, rtol=1e-4)


def test_shapes_non_multiple_sizes():
    ae = FakeLocalAE(f=16, c=8)
    x = rand_images(1, 3, 100, 250)
    z = tiled_encode(ae, x, tile=64, overlap=16, pad=True)
    assert z.shape == (1, 8, 7, 16)
    assert tiled_decode(ae, z, tile_latent=4, overlap_latent=1).shape == (1, 3, 112, 256)
    assert tiled_decode(ae, z, tile_latent=4, overlap_latent=1, size=(100, 250)).shape == x.shape


def test_tiles_seen_by_the_model_are_bounded():
    "A 2048x1536 image: every encode call sees one 256x256 tile, every decode call a 32x32 latent tile."
    ae = FakeLocalAE()
    z = tiled_encode(ae, rand_images(1, 3, 2048, 1536), tile=256, overlap=32)
    assert {s for k, s in ae.seen if k == 'encode'} == {(1, 3, 256, 256)}
    n_enc = len(tile_starts(2048, 256, 32, 8)) * len(tile_starts(1536, 256, 32, 8))
    assert len(ae.seen) == n_enc
    tiled_decode(ae, z, tile_latent=32, overlap_latent=4, batch=4)
    dec = [s for k, s in ae.seen if k == 'decode']
    assert max(s[0] for s in dec) == 4 and {s[1:] for s in dec} == {(4, 32, 32)}


def test_peak_memory_does_not_grow_with_the_image():
    "Peak allocation of a tiled decode, minus its output canvas, is the same for 512² and 1024² latents x 8."
    ae = FakeLocalAE()
    peaks = []
    for n in (64, 128):
        z = torch.randn(1, 4, n, n)
        canvas = 4 * (3 + 1) * (8 * n) ** 2                        # fp32 output + weight sum
        peaks.append(peak_bytes(tiled_apply, ae.decode, z, 16, 2, 8) - canvas)
    # the per-tile 1-D blend weights grow with the tile count (a few kB); the output canvas grew by 12 MB
    assert abs(peaks[1] - peaks[0]) < 0.05 * peaks[0] and peaks[0] < 4 * 3 * 512 ** 2
    with PeakMemory() as pm: a = torch.zeros(256); b = a * 2; del a
    assert pm.peak == 2048 and pm.live == 1024


def test_blend_weights_partition_of_unity():
    for ramp in ('linear', 'cosine'):
        starts = tile_starts(100, 24, 6)
        total = torch.zeros(100)
        for s, w in zip(starts, blend_weights(starts, 24, ramp)): total[s:s + 24] += w
        torch.testing.assert_close(total, torch.ones(100))


@pytest.mark.parametrize('kw,msg', [
    (dict(tile=500), 'tile=500 pixels is not a multiple of the compression factor f=8: use 496 or 504'),
    (dict(tile=64, overlap=12), 'overlap=12 pixels is not a multiple'),
    (dict(tile=64, overlap=64), 'overlap=64 must be smaller than tile=64'),
    (dict(tile=0), 'expected a positive integer'),
    (dict(tile=64, overlap=8, ramp='step'), "expected one of ['linear', 'cosine']"),
])
def test_bad_tiling_arguments(kw, msg):
    with pytest.raises(BadInputError, match=None) as e: tiled_encode(FakeLocalAE(), rand_images(1, 3, 64, 64), **kw)
    assert msg in str(e.value)


def test_bad_images_and_latents():
    ae = FakeLocalAE()
    with pytest.raises(BadInputError, match='pass pad=True'): tiled_encode(ae, rand_images(1, 3, 60, 64), tile=32, overlap=8)
    with pytest.raises(BadInputError, match='expected 3 channels'): tiled_encode(ae, rand_images(1, 1, 64, 64), tile=32, overlap=8)
    with pytest.raises(BadInputError, match='expected 4 channels'): tiled_decode(ae, torch.randn(1, 8, 8, 8))
    with pytest.raises(BadInputError, match='overlap_latent=4 must be smaller'): tiled_decode(ae, torch.randn(1, 4, 8, 8), tile_latent=4, overlap_latent=4)
    with pytest.raises(BadInputError, match='larger than the decoded'): tiled_decode(ae, torch.randn(1, 4, 8, 8), size=(65, 64))

"""Parity of dcae_nb's DCAE with diffusers' AutoencoderDC (the peer implementation of the released DC-AE models).

Random weights (non-trivial norm weights/biases and BatchNorm running statistics), shared by both models, eval
mode, fp32: encode and decode must agree to a max relative error (max|ours - ref| / max|ref|) of 1e-5 for the
f32c32 and f64c128 architectures at 256x256, 512x512 and 384x256 (H x W). Each model is built once per module on the meta
device and its weights are assigned (the diffusers model holds views of dcae_nb's tensors), so memory and set-up
stay small; the cost is the forward passes themselves.
"""
import math
import pytest, torch

diffusers = pytest.importorskip('diffusers')
from diffusers import AutoencoderDC
from dcae_nb.autoencoder import DCAE, get_config
from dcae_nb.profile_ae import param_counts as count_params
from dcae_nb.checkpoints import to_diffusers_state_dict, from_diffusers, diffusers_config

TOL = 1e-5
SIZES = [(256, 256), (512, 512), (384, 256)]  # (H, W); 384x256 is the non-square case


def released_kwargs(n_stages: int, latent: int, scaling_factor: float) -> dict:
    "AutoencoderDC constructor arguments of the released dc-ae-f{32,64,128} models, written out independently."
    blocks = ['ResBlock'] * 3 + ['EfficientViTBlock'] * (n_stages - 3)
    widths = [128, 256, 512, 512, 1024, 1024] + [2048] * (n_stages - 6)
    return dict(in_channels=3, latent_channels=latent, attention_head_dim=32,
                encoder_block_types=blocks, decoder_block_types=blocks,
                encoder_block_out_channels=widths, decoder_block_out_channels=widths,
                encoder_layers_per_block=[0, 4, 8] + [2] * (n_stages - 3),
                decoder_layers_per_block=[0, 5, 10] + [2] * (n_stages - 3),
                encoder_qkv_multiscales=[[]] * n_stages, decoder_qkv_multiscales=[[]] * n_stages,
                upsample_block_type='pixel_shuffle', downsample_block_type='pixel_unshuffle',
                decoder_norm_types=['batch_norm'] * 3 + ['rms_norm'] * (n_stages - 3),
                decoder_act_fns=['relu'] * 3 + ['silu'] * (n_stages - 3),
                encoder_out_shortcut=True, decoder_in_shortcut=True, decoder_conv_act_fn='relu',
                scaling_factor=scaling_factor)


KWARGS = {'dc-ae-f32c32-in-1.0': released_kwargs(6, 32, 0.3189),
          'dc-ae-f64c128-in-1.0': released_kwargs(7, 128, 0.2889)}


@torch.no_grad()
def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    "Fill every parameter and BatchNorm statistic with random, well-scaled values (weights ~ N(0, 1/fan_in))."
    g = torch.Generator().manual_seed(seed)
    for name, p in model.named_parameters():
        if p.ndim > 1: p.normal_(0, 1 / math.sqrt(p[0].numel()), generator=g)
        elif name.endswith('norm.weight'): p.uniform_(0.5, 1.5, generator=g)
        else: p.normal_(0, 0.1, generator=g)
    for name, b in model.named_buffers():
        if name.endswith('running_mean'): b.normal_(0, 0.1, generator=g)
        elif name.endswith('running_var'): b.uniform_(0.5, 2.0, generator=g)
    return model


def build_pair(name: str, seed: int = 0):
    "dcae_nb model with random weights, and diffusers' AutoencoderDC holding the same tensors."
    with torch.device('meta'): ours = DCAE.from_config(name)
    ours = randomize_(ours.to_empty(device='cpu'), seed).eval()
    with torch.device('meta'): ref = AutoencoderDC(**KWARGS[name])
    ref.load_state_dict(to_diffusers_state_dict(ours), strict=True, assign=True)
    return ours, ref.eval()


def rel_err(a, b) -> float: return ((a - b).abs().max() / b.abs().max()).item()


@pytest.fixture(scope='module')
def f32(): return build_pair('dc-ae-f32c32-in-1.0', seed=1)


@pytest.fixture(scope='module')
def f64(): return build_pair('dc-ae-f64c128-in-1.0', seed=2)


def test_constructor_arguments_match():
    "dcae_nb's own diffusers_config agrees with the hand-written released arguments."
    for name, kw in KWARGS.items(): assert diffusers_config(get_config(name)) == kw


def test_parameter_counts():
    "REFERENCE.md's counts (without BatchNorm running statistics), and diffusers' counts, exactly."
    expect = {'dc-ae-f32c32-in-1.0': 323.36e6, 'dc-ae-f64c128-in-1.0': 676.90e6, 'dc-ae-f128c512-in-1.0': 1120.68e6}
    for name, n in expect.items():
        assert round(count_params(name)['total'], -4) == n, name
    p = count_params('dc-ae-f32c32-in-1.0')
    assert (round(p['encoder'], -4), round(p['decoder'], -4)) == (123.17e6, 200.18e6)
    for name, kw in KWARGS.items():
        with torch.device('meta'): ref = AutoencoderDC(**kw)
        assert sum(q.numel() for q in ref.parameters()) == count_params(name)['total']
    with torch.device('meta'): ref = AutoencoderDC(**released_kwargs(8, 512, 0.4883))
    assert sum(q.numel() for q in ref.parameters()) == count_params('dc-ae-f128c512-in-1.0')['total']


def _check(pair, what, hw, seed=0):
    ours, ref = pair
    H, W = hw
    g = torch.Generator().manual_seed(seed + H + 7 * W)
    with torch.inference_mode():
        if what == 'encode':
            x = torch.rand(1, 3, H, W, generator=g) * 2 - 1
            a, b = ours.encode(x), ref.encode(x).latent
        else:
            f = ours.spatial_compression
            z = torch.randn(1, ours.latent_channels, H // f, W // f, generator=g)
            a, b = ours.decode(z), ref.decode(z).sample
    assert a.shape == b.shape
    err = rel_err(a, b)
    assert err <= TOL, f"{what} {H}x{W}: max relative error {err:.2e} > {TOL}"


@pytest.mark.parametrize('what', ['encode', 'decode'])
@pytest.mark.parametrize('hw', SIZES, ids=[f'{h}x{w}' for h, w in SIZES])
def test_parity_f32c32(f32, what, hw): _check(f32, what, hw)


@pytest.mark.parametrize('what', ['encode', 'decode'])
@pytest.mark.parametrize('hw', SIZES, ids=[f'{h}x{w}' for h, w in SIZES])
def test_parity_f64c128(f64, what, hw): _check(f64, what, hw)


@pytest.mark.parametrize('hw', [(4, 4), (6, 6)])
def test_deepest_stage_both_attention_paths(f64, hw, monkeypatch):
    """The f64 deepest stage (2048 wide) alone, on maps with H*W <= 32 (quadratic attention: what f64 hits at
    256 px) and > 32 (linear); a spy confirms which branch dcae_nb took."""
    import dcae_nb.blocks as blocks
    calls = []
    for fn in ('relu_linear_attention', 'relu_quadratic_attention'):
        orig = getattr(blocks, fn)
        monkeypatch.setattr(blocks, fn, lambda *a, _o=orig, _n=fn, **k: (calls.append(_n), _o(*a, **k))[1])
    ours, ref = f64
    x = torch.randn(1, 2048, *hw, generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        for a, b in [(ours.encoder.stages[6], ref.encoder.down_blocks[6]), (ours.decoder.stages[6], ref.decoder.up_blocks[6])]:
            ya, yb = a(x), b(x)
            assert rel_err(ya, yb) <= TOL
    expect = 'relu_quadratic_attention' if hw[0] * hw[1] <= 32 else 'relu_linear_attention'
    assert calls and set(calls) == {expect}


def test_round_trip_is_exact(f32):
    "dcae_nb -> diffusers state dict -> dcae_nb, and from the diffusers model object, are bit-exact."
    ours, ref = f32
    back = from_diffusers(to_diffusers_state_dict(ours), config='dc-ae-f32c32-in-1.0')
    obj = from_diffusers(ref)
    assert obj.config == ours.config and obj.scaling_factor == 0.3189
    want = ours.state_dict()
    for m in (back, obj):
        got = m.state_dict()
        assert got.keys() == want.keys()
        for k, v in want.items(): assert torch.equal(v, got[k]), k

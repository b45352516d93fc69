"Tests of dcae_nb.dit: DiT / UViT shapes, adaLN-Zero, guidance on every channel, MACs and parameters, bad input."
import pytest, torch
from dcae_nb.core import BadInputError
from dcae_nb.core import count_params
from dcae_nb.dit import (create_model, count_macs, AdaLNZeroBlock, MODEL_SIZES, PUBLISHED_MACS,
                         patchify, unpatchify, sincos_pos_embed_2d)

torch.manual_seed(0)


def _randomise(m, std=0.05):
    "Give a fresh model nonzero weights everywhere (adaLN-Zero and the zero output layer would hide bugs)."
    with torch.no_grad():
        for p in m.parameters(): p.normal_(0, std)
    return m.eval()


@pytest.mark.parametrize('name', ['DiT-T', 'UViT-T'])
@pytest.mark.parametrize('C,s,p', [(4, 8, 2), (32, 4, 1), (128, 4, 2), (32, 8, 4)])
@pytest.mark.parametrize('learn_sigma', [False, True])
def test_shapes_any_channels_and_patch(name, C, s, p, learn_sigma):
    m = create_model(name, in_channels=C, input_size=s, patch_size=p, num_classes=5, learn_sigma=learn_sigma)
    test_attrs = (m.in_channels, m.patch_size, m.input_size, m.num_tokens)
    assert test_attrs == (C, p, s, (s // p) ** 2)
    x = torch.randn(2, C, s, s)
    with torch.no_grad(): out = m(x, torch.tensor([3, 900]), torch.tensor([0, 4]))
    assert out.shape == (2, 2 * C if learn_sigma else C, s, s)


def test_patchify_roundtrip_and_pos_embed():
    x = torch.randn(2, 6, 8, 12)
    assert torch.equal(unpatchify(patchify(x, 2), 2, 6, 4, 6), x)
    pos = sincos_pos_embed_2d(64, 4, 6)
    assert pos.shape == (24, 64) and len(torch.unique(pos, dim=0)) == 24   # every position has its own code


def test_adaln_zero_block_is_identity_at_init():
    blk = AdaLNZeroBlock(48, 4)
    x, c = torch.randn(3, 7, 48), torch.randn(3, 48)
    assert torch.equal(blk(x, c), x)
    m = create_model('DiT-T', in_channels=4, input_size=8, num_classes=10)
    for b in m.blocks: assert torch.equal(b(x := torch.randn(2, 64, 192), torch.randn(2, 192)), x)
    assert torch.equal(m(torch.randn(2, 4, 8, 8), 5, None), torch.zeros(2, 4, 8, 8))


@pytest.mark.parametrize('name', ['DiT-T', 'UViT-T'])
def test_guidance(name):
    m = _randomise(create_model(name, in_channels=32, input_size=4, num_classes=10))
    x, t, y = torch.randn(3, 32, 4, 4), torch.tensor([10, 500, 990]), torch.tensor([1, 2, 9])
    with torch.no_grad():
        cond, uncond = m(x, t, y), m(x, t, None)
        assert torch.allclose(m.forward_with_cfg(x, t, y, 1.0), cond)            # scale 1 = conditional
        assert torch.allclose(m.forward_with_cfg(x, t, y, 0.0), uncond, atol=1e-5)  # scale 0 = unconditional
        g = m.forward_with_cfg(x, t, y, 4.0)
    assert torch.allclose(g, uncond + 4 * (cond - uncond), atol=1e-5)
    moved = (g - cond).abs().mean((0, 2, 3))
    assert (moved > 0).all(), "guidance must act on every latent channel, not only the first three"
    for bad in (-0.1, float('nan'), 'big'):
        with pytest.raises(BadInputError, match='>= 0'): m.forward_with_cfg(x, t, y, bad)


def test_guidance_learned_sigma_keeps_conditional_variance():
    m = _randomise(create_model('DiT-T', in_channels=4, input_size=4, num_classes=3, learn_sigma=True))
    x, t, y = torch.randn(2, 4, 4, 4), torch.tensor([100, 200]), torch.tensor([0, 2])
    with torch.no_grad():
        cond, uncond, g = m(x, t, y), m(x, t, None), m.forward_with_cfg(x, t, y, 3.0)
    assert g.shape == (2, 8, 4, 4)
    assert torch.allclose(g[:, :4], uncond[:, :4] + 3 * (cond[:, :4] - uncond[:, :4]), atol=1e-5)
    assert torch.allclose(g[:, 4:], cond[:, 4:], atol=1e-6)


def test_guidance_agrees_with_diffusion_module():
    from dcae_nb.diffusion import guided_denoiser
    m = _randomise(create_model('UViT-T', in_channels=8, input_size=4, num_classes=4))
    x, t, y = torch.randn(2, 8, 4, 4), torch.tensor([7, 70]), torch.tensor([3, 1])
    with torch.no_grad():
        assert torch.allclose(guided_denoiser(m, y, 2.5)(x, t), m.forward_with_cfg(x, t, y, 2.5), atol=1e-5)


def test_label_dropout_only_in_training():
    m = create_model('DiT-T', in_channels=4, input_size=4, num_classes=10, class_dropout_prob=0.5)
    y = torch.arange(10).repeat(50)
    emb = m.y_embed
    assert torch.equal(emb(y, train=False), emb.table(y))
    dropped = (emb(y, train=True) == emb.table.weight[10]).all(1).float().mean().item()
    assert 0.4 < dropped < 0.6


def test_uvit_structure():
    m = create_model('UViT-H', in_channels=32, input_size=16, device='meta')
    assert (len(m.in_blocks), len(m.out_blocks)) == (14, 14)          # 14 + 1 + 14 = 29 blocks
    assert all(b.skip_linear is not None for b in m.out_blocks) and all(b.skip_linear is None for b in m.in_blocks)
    assert m.pos_embed.shape == (1, 2 + 256, 1152)                     # label and time tokens prepended


def test_count_macs_cpu_meta_and_by_hand():
    m = create_model('DiT-T', in_channels=4, input_size=8, num_classes=10)
    mm = create_model('DiT-T', in_channels=4, input_size=8, num_classes=10, device='meta')
    D, T, L = 192, 64, 6
    by_hand = L * (12 * D * D * T + 2 * T * T * D + 6 * D * D) + 4 * D * T + (256 * D + D * D) + (2 * D * D + D * 4 * T)
    assert count_macs(m) == count_macs(mm) == by_hand                 # attention counted on CPU too
    assert count_macs(m, batch=2) == 2 * by_hand


@pytest.mark.parametrize('name,C,s,ls,pub,src', PUBLISHED_MACS)
def test_published_macs(name, C, s, ls, pub, src):
    m = create_model(name, in_channels=C, input_size=s, learn_sigma=ls, device='meta')
    g = count_macs(m) / 1e9
    assert abs(g / pub - 1) < 0.01, f"{name} {s}x{s}x{C}: {g:.2f} G vs published {pub} G ({src})"


def test_dit_xl2_parameters():
    m = create_model('DiT-XL/2', in_channels=4, input_size=32, learn_sigma=True, device='meta')
    n = count_params(m)
    assert abs(n / 1e6 - 675) < 0.5
    assert n + 256 * 1152 == 675_129_632                               # the DiT code's count, position embedding included


def test_names():
    assert create_model('DiT-XL/2', in_channels=4, input_size=32, device='meta').patch_size == 2
    assert create_model('uvit-s', in_channels=32, input_size=16, device='meta').patch_size == 1
    assert set(MODEL_SIZES) >= {'DiT-S', 'DiT-B', 'DiT-L', 'DiT-XL', 'UViT-S', 'UViT-H', 'UViT-2B'}
    assert MODEL_SIZES['UViT-2B'][1:] == (28, 2048, 32) and MODEL_SIZES['DiT-L'][1:] == (24, 1024, 16)


def test_bad_input():
    m = create_model('DiT-T', in_channels=32, input_size=4, num_classes=10)
    with pytest.raises(BadInputError, match=r'expected latents of shape \(N, 32, 4, 4\)'): m(torch.randn(1, 4, 4, 4), 1)
    with pytest.raises(BadInputError, match='input_size=4'): m(torch.randn(1, 32, 8, 8), 1)
    with pytest.raises(BadInputError, match='expected latents'): m(torch.randn(32, 4, 4), 1)
    with pytest.raises(BadInputError, match=r'labels must lie in \[0, 9\]'): m(torch.randn(1, 32, 4, 4), 1, torch.tensor([12]))
    with pytest.raises(BadInputError, match='integer labels'): m(torch.randn(1, 32, 4, 4), 1, torch.tensor([0.5]))
    with pytest.raises(BadInputError, match='time steps of shape'): m(torch.randn(2, 32, 4, 4), torch.tensor([1, 2, 3]))
    with pytest.raises(BadInputError, match="Known models: DiT-S, DiT-B"): create_model('DiT-M')
    with pytest.raises(BadInputError, match="did you mean 'UViT-H'"): create_model('UViT-HH')
    with pytest.raises(BadInputError, match='does not divide the latent size 16'): create_model('DiT-T', input_size=16, patch_size=3)
    with pytest.raises(BadInputError, match='give one'): create_model('DiT-T/2', patch_size=4)
    with pytest.raises(BadInputError, match='unknown option'): create_model('DiT-T', depht=3)
    with pytest.raises(BadInputError, match='num_classes'): create_model('DiT-T', num_classes=-1)


def test_a_few_training_steps_reduce_the_loss():
    from dcae_nb.diffusion import Diffusion
    torch.manual_seed(0)
    m = create_model('DiT-T', in_channels=4, input_size=4, num_classes=2, depth=2, learn_sigma=True)
    diff, g = Diffusion(), torch.Generator().manual_seed(0)
    x0, y = torch.randn(8, 4, 4, 4), torch.randint(0, 2, (8,))
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    t, noise = torch.randint(0, 1000, (8,), generator=g), torch.randn(8, 4, 4, 4, generator=g)
    losses = []
    for _ in range(30):
        loss = diff.loss(m, x0, y, t=t, noise=noise)['loss']
        opt.zero_grad(); loss.backward(); opt.step(); losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]


def test_guidance_never_drops_labels_even_in_training_mode():
    m = _randomise(create_model('DiT-T', in_channels=4, input_size=4, num_classes=3, class_dropout_prob=1.0, depth=1))
    x, t, y = torch.randn(2, 4, 4, 4), torch.tensor([5, 50]), torch.tensor([0, 1])
    with torch.no_grad():
        cond = m(x, t, y)                                              # eval mode: no dropout
        m.train()
        assert torch.allclose(m(x, t, y), m(x, t, None))               # training with p=1: every label dropped
        assert torch.allclose(m.forward_with_cfg(x, t, y, 1.0), cond)  # guidance is for sampling: never drops

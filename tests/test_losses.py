"Losses: reconstruction, PatchGAN, hinge / non-saturating GAN losses, adaptive weight, discriminator start."
import math
import pytest, torch
import torch.nn as nn
import torch.nn.functional as F
from dcae_nb.core import BadInputError, DCAEError
from dcae_nb.losses import (ReconstructionLoss, NLayerDiscriminator, d_loss, g_loss, adaptive_gan_weight, disc_factor,
                            AutoencoderGANLoss)


class PoolDistance(nn.Module):
    "A fixed test distance (not LPIPS): squared difference of 2x2-pooled images, per image."
    def __init__(self): super().__init__(); self.w = nn.Parameter(torch.ones(()))
    def forward(self, a, b): return self.w * (F.avg_pool2d(a, 2) - F.avg_pool2d(b, 2)).pow(2).flatten(1).mean(1)


def test_reconstruction_terms():
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(2, 3, 8, 8, generator=g) * 2 - 1, torch.rand(2, 3, 8, 8, generator=g) * 2 - 1
    t = ReconstructionLoss('l1', perceptual=PoolDistance(), perceptual_weight=0.3)(y, x)
    assert torch.allclose(t['l1'], (y - x).abs().mean())
    assert torch.allclose(t['perceptual'], (F.avg_pool2d(y, 2) - F.avg_pool2d(x, 2)).pow(2).mean())
    assert torch.allclose(t['rec'], t['l1'] + 0.3 * t['perceptual'])
    assert torch.allclose(ReconstructionLoss('l2', perceptual_weight=0)(y, x)['rec'], F.mse_loss(y, x))


def test_perceptual_module_frozen_and_in_eval():
    p = PoolDistance(); loss = ReconstructionLoss(perceptual=p, perceptual_weight=1.0)
    loss.train()
    assert not p.training and not p.w.requires_grad


def test_default_perceptual_is_real_lpips_or_clear_error():
    try: loss = ReconstructionLoss()
    except DCAEError as e:  # dcae_nb.metrics missing or its weights not fetched: say how to fix, never fall back
        assert 'perceptual' in str(e) or 'fetch' in str(e), str(e)
        return
    assert type(loss.perceptual).__name__ == 'LPIPS'


def test_bad_inputs():
    with pytest.raises(BadInputError, match="'l1' or 'l2'"): ReconstructionLoss('l3', perceptual_weight=0)
    with pytest.raises(BadInputError, match='differs'):
        ReconstructionLoss(perceptual_weight=0)(torch.zeros(1, 3, 4, 4), torch.zeros(1, 3, 8, 8))
    with pytest.raises(BadInputError, match='hinge'): d_loss(torch.zeros(1), torch.zeros(1), 'wgan')


def test_patchgan_shape_and_init():
    D = NLayerDiscriminator(ndf=16, n_layers=3)
    assert D(torch.randn(2, 3, 64, 64)).shape == (2, 1, 6, 6)
    assert NLayerDiscriminator(ndf=8, n_layers=1, norm='group')(torch.randn(1, 3, 32, 32)).shape == (1, 1, 14, 14)
    convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    w = torch.cat([c.weight.flatten() for c in convs])
    assert abs(w.std().item() - 0.02) < 2e-3 and abs(w.mean().item()) < 1e-3
    assert [c.stride[0] for c in convs] == [2, 2, 2, 1, 1]


def test_gan_losses_by_hand():
    real, fake = torch.tensor([[2., 0.5], [-1., 1.]]), torch.tensor([[-2., 0.], [3., -0.5]])
    hinge_d = 0.5 * ((0 + 0.5 + 2 + 0) / 4 + (0 + 1 + 4 + 0.5) / 4)
    assert math.isclose(d_loss(real, fake, 'hinge').item(), hinge_d, rel_tol=1e-6)
    assert math.isclose(g_loss(fake, 'hinge').item(), -(-2 + 0 + 3 - 0.5) / 4, rel_tol=1e-6)
    sp = lambda z: math.log1p(math.exp(z))
    ns_d = 0.5 * (sum(sp(-v) for v in (2, .5, -1, 1)) / 4 + sum(sp(v) for v in (-2, 0, 3, -.5)) / 4)
    assert math.isclose(d_loss(real, fake, 'non-saturating').item(), ns_d, rel_tol=1e-6)
    assert math.isclose(g_loss(fake, 'non-saturating').item(), sum(sp(-v) for v in (-2, 0, 3, -.5)) / 4, rel_tol=1e-6)


def test_adaptive_weight_against_autograd():
    torch.manual_seed(0)
    last = nn.Conv2d(4, 3, 1); feat = torch.randn(2, 4, 16, 16); x = torch.rand(2, 3, 16, 16) * 2 - 1
    y = last(feat); D = NLayerDiscriminator(ndf=8, n_layers=2, norm='group')
    rec, gl = (y - x).abs().mean(), g_loss(D(y))
    lam = adaptive_gan_weight(rec, gl, last.weight, disc_weight=0.8)
    gr, = torch.autograd.grad(rec, last.weight, retain_graph=True); gg, = torch.autograd.grad(gl, last.weight, retain_graph=True)
    assert torch.allclose(lam, 0.8 * torch.clamp(gr.norm() / (gg.norm() + 1e-4), 0, 1e4))
    assert not lam.requires_grad
    assert adaptive_gan_weight(1e3 * rec, 1e-12 * y.sum(), last.weight).item() == pytest.approx(1e4)
    with torch.no_grad(): assert adaptive_gan_weight(rec, gl, last.weight).item() == 0


def test_disc_start_and_combined_loss():
    assert [disc_factor(s, 2) for s in range(4)] == [0, 0, 1, 1]
    torch.manual_seed(0)
    last = nn.Conv2d(4, 3, 1); feat = torch.randn(2, 4, 16, 16); x = torch.rand(2, 3, 16, 16) * 2 - 1
    L = AutoencoderGANLoss(ReconstructionLoss('l1', perceptual_weight=0), NLayerDiscriminator(ndf=8, n_layers=2), disc_start=5)
    y = last(feat)
    before = L.generator_loss(y, x, 4, last.weight)
    assert set(before) == {'l1', 'rec', 'loss'} and torch.equal(before['loss'], before['rec'])
    assert L.discriminator_loss(y, x, 4)['disc_loss'].item() == 0
    after = L.generator_loss(y, x, 5, last.weight)
    assert torch.allclose(after['loss'], after['rec'] + after['gan_weight'] * after['g_loss'])
    d = L.discriminator_loss(y, x, 5)['disc_loss']; d.backward()
    assert last.weight.grad is None  # the discriminator's loss never reaches the autoencoder
    with pytest.raises(BadInputError, match='last_layer'): L.generator_loss(y, x, 5)

"Tests of dcae_nb.diffusion: schedules, q_sample, loss, samplers (against closed forms and diffusers), guidance."
import math, pytest, torch
from dcae_nb.core import BadInputError
from dcae_nb.diffusion import Diffusion, guided_denoiser, ToyDenoiser, split_output

torch.set_num_threads(1)
DIFF = Diffusion()


def _bc(v, x): return v.to(x.dtype).view(-1, *([1] * (x.ndim - 1)))

def point_denoiser(x_star, diff=DIFF):
    "The optimal epsilon for data that is one point x_star."
    def fn(x, t, y=None):
        ab = diff.abar(t)
        return (x - _bc(ab.sqrt(), x) * x_star) / _bc((1 - ab).sqrt(), x)
    return fn

def gaussian_denoiser(mu, s, diff=DIFF):
    "The optimal epsilon for data ~ N(mu, s²)."
    def fn(x, t, y=None):
        ab = _bc(diff.abar(t), x)
        return (1 - ab).sqrt() * (x - ab.sqrt() * mu) / (ab * s ** 2 + 1 - ab)
    return fn


@pytest.mark.parametrize('ours,theirs', [('linear', 'linear'), ('scaled_linear', 'scaled_linear'), ('cosine', 'squaredcos_cap_v2')])
def test_schedules_match_diffusers(ours, theirs):
    from diffusers import DDPMScheduler
    ref = DDPMScheduler(num_train_timesteps=1000, beta_schedule=theirs, beta_start=1e-4 if ours == 'linear' else 0.00085,
                        beta_end=0.02 if ours == 'linear' else 0.012).alphas_cumprod
    assert torch.allclose(Diffusion(ours).alphas_cumprod.float(), ref, rtol=1e-4, atol=1e-7)


def test_q_sample_statistics():
    g = torch.Generator().manual_seed(0)
    x0 = torch.full((50000, 1), -1.5)
    for step in (0, 250, 999):
        ab = DIFF.alphas_cumprod[step].item()
        xt = DIFF.q_sample(x0, torch.full((50000,), step), torch.randn(x0.shape, generator=g))
        assert abs(xt.mean().item() - (-1.5) * ab ** 0.5) < 0.01
        assert abs(xt.std().item() - (1 - ab) ** 0.5) < 0.01


@pytest.mark.parametrize('kw', [dict(sampler='ddim', steps=50), dict(sampler='ddim', steps=10, eta=1.0),
                                dict(sampler='ddpm', steps=1000), dict(sampler='ddpm', steps=30),
                                dict(sampler='dpm++2m', steps=20), dict(sampler='dpm++2m', steps=5, spacing='linear')])
def test_perfect_denoiser_recovers_a_point(kw):
    x_star = torch.randn(1, 32, 4, 4, generator=torch.Generator().manual_seed(1))
    out = DIFF.sample(point_denoiser(x_star), (4, 32, 4, 4), generator=torch.Generator().manual_seed(0), **kw)
    assert torch.allclose(out, x_star.expand(4, -1, -1, -1), atol=1e-4)


@pytest.mark.parametrize('kw,tol', [(dict(sampler='ddpm'), 0.03), (dict(sampler='dpm++2m', steps=20), 0.03),
                                    (dict(sampler='ddim', steps=200), 0.04)])
def test_perfect_denoiser_recovers_a_gaussian(kw, tol):
    mu, s = torch.tensor([0.5, -1.0]), torch.tensor([1.0, 0.4])
    out = DIFF.sample(gaussian_denoiser(mu, s), (20000, 2), generator=torch.Generator().manual_seed(0), **kw)
    assert torch.allclose(out.mean(0), mu, atol=0.03)
    assert torch.allclose(out.std(0) / s, torch.ones(2), atol=tol)


def test_seeded_and_deterministic():
    den = gaussian_denoiser(torch.zeros(3), torch.ones(3))
    run = lambda seed, **kw: DIFF.sample(den, (4, 3), generator=torch.Generator().manual_seed(seed), **kw)
    for kw in (dict(sampler='ddim', steps=20), dict(sampler='ddpm', steps=20), dict(sampler='dpm++2m', steps=10)):
        assert torch.equal(run(5, **kw), run(5, **kw)) and not torch.allclose(run(5, **kw), run(6, **kw))
    # DDIM eta=0 depends on the starting noise only
    x_T = torch.randn(4, 3)
    a = DIFF.ddim(lambda x, t: den(x, t), x_T.clone(), steps=20, generator=torch.Generator().manual_seed(1))
    b = DIFF.ddim(lambda x, t: den(x, t), x_T.clone(), steps=20, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b)


def test_ddpm_equals_ddim_eta_one():
    den = gaussian_denoiser(torch.tensor([1.0]), torch.tensor([0.3]))
    x_T = torch.randn(6, 1)
    p = DIFF.sample(den, (6, 1), sampler='ddpm', steps=50, noise=x_T, generator=torch.Generator().manual_seed(3))
    q = DIFF.sample(den, (6, 1), sampler='ddim', steps=50, eta=1.0, noise=x_T, generator=torch.Generator().manual_seed(3))
    assert torch.allclose(p, q, atol=1e-5)


def test_ddim_matches_diffusers():
    from diffusers import DDIMScheduler
    sch = DDIMScheduler(num_train_timesteps=1000, beta_schedule='linear', beta_start=1e-4, beta_end=0.02,
                        set_alpha_to_one=True, timestep_spacing='leading', clip_sample=False)
    sch.set_timesteps(25)
    den = gaussian_denoiser(torch.tensor([0.3, -0.2]), torch.tensor([0.7, 1.2]))
    x = torch.randn(100, 2)
    ref = x.clone()
    for t in sch.timesteps: ref = sch.step(den(ref, t.expand(100)), t, ref).prev_sample
    ours = DIFF.ddim(den, x.clone(), timesteps=sch.timesteps)
    assert torch.allclose(ours, ref, atol=1e-4)


def test_dpm_solver_matches_diffusers():
    from diffusers import DPMSolverMultistepScheduler
    sch = DPMSolverMultistepScheduler(num_train_timesteps=1000, beta_schedule='linear', beta_start=1e-4, beta_end=0.02,
                                      algorithm_type='dpmsolver++', solver_order=2, timestep_spacing='linspace',
                                      final_sigmas_type='zero', lower_order_final=True)
    sch.set_timesteps(20)
    den = gaussian_denoiser(torch.tensor([0.3, -0.2]), torch.tensor([0.7, 1.2]))
    x = torch.randn(100, 2)
    ref = x.clone()
    for t in sch.timesteps: ref = sch.step(den(ref, t.expand(100)), t, ref).prev_sample
    ours = DIFF.dpm_solver(den, x.clone(), timesteps=sch.timesteps)
    assert torch.allclose(ours, ref, atol=1e-4)


def test_logsnr_spacing():
    assert DIFF.timesteps(1, spacing='logsnr').tolist() == [999]
    for k in (2, 7, 20, 200, 1000):
        ts = DIFF.timesteps(k, spacing='logsnr')
        assert len(ts) == k and ts[0] == 999 and ts[-1] == 0 and (ts.diff() < 0).all()
    lin = DIFF.timesteps(20, spacing='linear')
    assert lin[0] == 999 and lin[-1] == 0 and len(lin) == 20


def test_guidance_every_channel_and_scale_one():
    class M:
        null_label = 5
        def __call__(self, x, t, y): return x * 0 + _bc(y.float(), x) * torch.arange(1, x.shape[1] + 1).view(1, -1, 1, 1)
    m, x, t, y = M(), torch.zeros(2, 32, 2, 2), torch.tensor([3, 3]), torch.tensor([1, 2])
    cond, uncond = m(x, t, y), m(x, t, torch.full_like(y, 5))
    assert torch.equal(guided_denoiser(m, y, 1.0)(x, t), cond)
    g = guided_denoiser(m, y, 3.0)(x, t)
    assert torch.allclose(g, uncond + 3 * (cond - uncond))
    assert ((g - cond).abs().mean((0, 2, 3)) > 0).all()
    with pytest.raises(BadInputError, match='>= 0'): guided_denoiser(m, y, -1)
    with pytest.raises(BadInputError, match='>= 0'): DIFF.sample(m, (2, 32, 2, 2), y=y, cfg_scale=-2.0)
    with pytest.raises(BadInputError, match='needs class labels'): guided_denoiser(m, None, 2.0)


def test_loss_epsilon_and_learned_variance():
    x0, noise = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    assert DIFF.loss(lambda x, t, y: noise, x0, noise=noise)['loss'].item() == 0.0
    v = torch.zeros(1, 3, 1, 1, requires_grad=True); e = torch.zeros(1, 3, 1, 1, requires_grad=True)
    model = lambda x, t, y: torch.cat([noise + e, v.expand_as(x)], 1)
    out = DIFF.loss(model, x0, noise=noise, t=torch.tensor([0, 1, 400, 999]))
    assert set(out) == {'loss', 'mse', 'vlb'} and torch.isfinite(out['loss'])
    out['vlb'].backward()
    assert v.grad.abs().sum() > 0 and not e.grad.any()               # the VLB term trains only the variance
    with pytest.raises(BadInputError, match="expected the input's shape"): DIFF.loss(lambda x, t, y: x[:, :2], x0)


def test_learned_sigma_ddpm():
    den = gaussian_denoiser(torch.zeros(2), torch.ones(2))
    x_T = torch.randn(5, 2)
    fixed = DIFF.sample(den, (5, 2), sampler='ddpm', steps=30, noise=x_T, generator=torch.Generator().manual_seed(0))
    ls = lambda v: (lambda x, t, y=None: torch.cat([den(x, t), torch.full_like(x, v)], 1))
    low = DIFF.sample(ls(-1.0), (5, 2), sampler='ddpm', steps=30, noise=x_T, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(low, fixed, atol=1e-5)


def test_sampling_a_dit_with_learned_sigma_and_guidance():
    from dcae_nb.dit import create_model
    m = create_model('DiT-T', in_channels=4, input_size=4, num_classes=3, learn_sigma=True, depth=1)
    with torch.no_grad():
        for p in m.parameters(): p.normal_(0, 0.02)
    m.train()
    for sampler in ('ddpm', 'ddim', 'dpm++2m'):
        out = DIFF.sample(m, (2, 4, 4, 4), y=torch.tensor([0, 2]), cfg_scale=2.0, sampler=sampler, steps=5,
                          generator=torch.Generator().manual_seed(0))
        assert out.shape == (2, 4, 4, 4) and torch.isfinite(out).all()
    assert m.training                                                  # sample() restores the training mode


def test_bad_input():
    den = point_denoiser(torch.zeros(1, 2))
    with pytest.raises(BadInputError, match='known: linear, cosine'): Diffusion('sigmoid')
    with pytest.raises(BadInputError, match='known: ddpm, ddim, dpm\\+\\+2m'): DIFF.sample(den, (1, 2), sampler='heun')
    with pytest.raises(BadInputError, match=r'steps must be an integer in \[1, 1000\]'): DIFF.sample(den, (1, 2), steps=1001)
    with pytest.raises(BadInputError, match=r'steps must be an integer'): DIFF.sample(den, (1, 2), sampler='ddim', steps=0)
    with pytest.raises(BadInputError, match='strictly decrease'): DIFF.sample(den, (1, 2), timesteps=[10, 500])
    with pytest.raises(BadInputError, match='eta must be'): DIFF.sample(den, (1, 2), eta=-1.0)
    with pytest.raises(BadInputError, match='unknown spacing'): DIFF.sample(den, (1, 2), spacing='cubic')
    with pytest.raises(BadInputError, match='denoiser returned shape'): split_output(torch.zeros(1, 3), torch.zeros(1, 2))


def test_tiny_model_learns_toy_data():
    "A toy MLP trained for 400 steps on 2-D Gaussian data samples near that distribution."
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    mu, s = torch.tensor([2.0, -1.0]), torch.tensor([0.5, 0.25])
    toy = ToyDenoiser(hidden=64)
    opt = torch.optim.AdamW(toy.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=3e-3, total_steps=400)
    for _ in range(400):
        loss = DIFF.loss(toy, mu + s * torch.randn(256, 2, generator=g), generator=g)['loss']
        opt.zero_grad(); loss.backward(); opt.step(); sched.step()
    out = DIFF.sample(toy, (2000, 2), sampler='dpm++2m', generator=torch.Generator().manual_seed(1))
    assert torch.allclose(out.mean(0), mu, atol=0.1), out.mean(0)
    assert torch.allclose(out.std(0) / s, torch.ones(2), atol=0.15), out.std(0)

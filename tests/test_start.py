"The data-fitted linear start: it beats the shortcut-path start on unseen crops, phases record it, bad input is refused."
import json
import pytest, torch
import torch.nn.functional as F
from dcae_nb.core import BadInputError
from dcae_nb.autoencoder import DCAE, get_config
from dcae_nb.data import RandomCrops
from dcae_nb.metrics import psnr
from dcae_nb.start import fit_linear_start_, conv_lsq, identity_blocks_


def _crops(n, size, seed, split='embedded-train'):
    from dcae_nb.data import as_photos
    return RandomCrops(as_photos(split), size=size, length=n, seed=seed, flip=False).batch(range(n))


def _fitted_psnr(config):
    "Fitted on training crops, measured on crops of the evaluation photos (never seen by the fit)."
    torch.set_num_threads(2)
    fit_x, test_x = _crops(32, 128, 1), _crops(8, 128, 2, 'embedded-eval')
    model = DCAE(get_config(config)).eval()
    fit_linear_start_(model, fit_x)
    with torch.no_grad(): y = model.decode(model.encode(test_x)).clamp(-1, 1)
    shortcut = F.interpolate(F.avg_pool2d(test_x, 32), scale_factor=32, mode='nearest')
    return float(psnr(y, test_x).mean()), float(psnr(shortcut, test_x).mean())


def test_fitted_start_beats_shortcut_path_on_other_photos():
    fitted, shortcut = _fitted_psnr('teach-f32c32-gated')
    assert fitted > shortcut + 0.5, (fitted, shortcut)


def test_conventional_twin_fits_too():
    "Without shortcuts the same fit runs (a DownBlock alone cannot give a 2x2 cell's principal directions: it is worse)."
    fitted, shortcut = _fitted_psnr('teach-f32c32-conv')
    assert 5 < fitted < 60, fitted


def test_conv_lsq_recovers_a_conv_and_blocks_become_identity():
    torch.manual_seed(0)
    x = torch.randn(4, 6, 16, 16); w0, b0 = torch.randn(3, 6, 3, 3), torch.randn(3)
    w, b = conv_lsq(x, F.conv2d(x, w0, b0, padding=1), k=3, lam=1e-9)
    assert torch.allclose(w, w0, atol=1e-3) and torch.allclose(b, b0, atol=1e-3)
    m = identity_blocks_(DCAE(get_config('teach-f16c8')))
    x = torch.randn(1, 128, 4, 4)
    assert torch.equal(m.encoder.stages[3][0](x), x)


def test_bad_crops_get_one_clear_error():
    m = DCAE(get_config('teach-f32c32-gated'))
    for bad, msg in ((torch.zeros(4, 3, 100, 100), 'multiple of f=32'), (torch.zeros(1, 3, 32, 32), 'latent positions'),
                     (torch.zeros(4, 1, 64, 64), 'expected crops'), ([1, 2], 'expected crops')):
        with pytest.raises(BadInputError, match=msg): fit_linear_start_(m, bad)


def test_recipe_trains_from_the_fitted_start(tmp_path):
    "A Recipe with start='fit' fits the start once per run, trains phase 1 from it, keys it and reuses it."
    from dcae_nb.recipe import Recipe, run_spec, train, run_info
    torch.set_num_threads(1)
    kw = dict(store=str(tmp_path), data='embedded-train', eval_data='embedded-eval', res=64, batch=2, steps=2, hires=128,
              eval_every=2, eval_items=2, precision='fp32', workers=1)
    r = Recipe(start='fit', fit_crops=8, fit_res=128, **kw)
    spec = run_spec(r, 'teach-f32c32-gated', 1, 0)
    assert spec['key'] != run_spec(Recipe(**kw), 'teach-f32c32-gated', 1, 0)['key']
    assert spec['key'] != run_spec(Recipe(start='fit', fit_crops=16, fit_res=128, **kw), 'teach-f32c32-gated', 1, 0)['key']
    final = train(r, [spec], progress=False)[spec['name']]
    start = DCAE.from_pretrained(tmp_path / spec['name'] / 'start')
    info = run_info(final)
    assert info['init'] == str(tmp_path / spec['name'] / 'start')
    assert all(float(g) == 1.0 for n, g in start.named_parameters() if n.endswith('.gate'))   # fitted branches are on
    assert train(r, [spec], progress=False)[spec['name']] == final                            # reused
    with pytest.raises(BadInputError, match='start'): Recipe(start='pca', **kw)


def test_after_a_fit_the_fitted_convs_stay_and_the_blocks_train(tmp_path):
    "after_fit='blocks' (the default): phase 1 leaves every fitted conv exactly as fitted and changes the blocks; 'all' trains both."
    from dcae_nb.recipe import Recipe, run_spec, train
    from dcae_nb.start import fitted_params
    torch.set_num_threads(1)
    kw = dict(store=str(tmp_path), data='embedded-train', eval_data='embedded-eval', res=64, batch=2, steps=3, warmup=1, hires=128,
              eval_every=3, eval_items=2, precision='fp32', workers=1, start='fit', fit_crops=8, fit_res=128)
    specs = {a: run_spec(Recipe(after_fit=a, **kw), 'teach-f32c32-gated', 1, 0) for a in ('blocks', 'all')}
    assert specs['blocks']['key'] != specs['all']['key'] and 'trainable' not in specs['all']['args']
    for a, spec in specs.items():
        final = train(Recipe(after_fit=a, **kw), [spec], progress=False)[spec['name']]
        start = dict(DCAE.from_pretrained(tmp_path / spec['name'] / 'start').named_parameters())
        end = dict(DCAE.from_pretrained(final).named_parameters())
        fitted = set(fitted_params(DCAE(get_config('teach-f32c32-gated'))))
        moved = {n for n in end if not torch.equal(end[n], start[n])}
        if a == 'blocks': assert not moved & fitted and moved, sorted(moved & fitted)
        else: assert moved & fitted and moved - fitted
    with pytest.raises(BadInputError, match='after_fit'): Recipe(after_fit='head', **kw)


def test_later_phases_move_the_in_out_convs_at_the_recipes_io_rate(tmp_path):
    "Phases 2 and 3 (and the every-layer control) train the stem, latent layers and head at lr · io_lr_scale, as phase 1 does."
    from dcae_nb.recipe import Recipe, run_spec, train
    torch.set_num_threads(1)
    kw = dict(data='embedded-train', eval_data='embedded-eval', res=64, batch=2, steps=2, warmup=1, hires=128, p2_steps=2,
              p2_batch=2, p3_steps=2, p3_batch=2, eval_every=2, eval_items=2, precision='fp32', workers=1)
    r = Recipe(store=str(tmp_path / 'a'), io_lr_scale=0.1, **kw)
    for phase, variant in ((1, None), (2, None), (2, 'lowres-control'), (2, 'full-hires'), (3, 'local'), (3, 'full-gan')):
        assert run_spec(r, 'teach-f32c32-gated', phase, 0, variant)['args']['io_lr_scale'] == 0.1, (phase, variant)
    moved = {}
    for io in (0.1, 1.0):   # phase 3 trains the head alone (decoder.project_out): every trainable tensor is an in/out conv
        ri = Recipe(store=str(tmp_path / f'io{io}'), io_lr_scale=io, **kw)
        spec = run_spec(ri, 'teach-f32c32-gated', 3, 0, 'local')
        out = train(ri, [spec], progress=False)
        before = DCAE.from_pretrained(out[spec['prev']['name']]).decoder.project_out.conv.weight
        after = DCAE.from_pretrained(out[spec['name']]).decoder.project_out.conv.weight
        moved[io] = (after - before).abs().max().item()
    assert 0 < moved[0.1] < 0.3 * moved[1.0], moved

"""Checkpoint formats: dcae_nb folders, diffusers folders (both directions), and the original efficientvit naming.

Everything here uses teaching sizes (a few million parameters) so the file runs in seconds; the released sizes
are covered by tests/test_parity.py.
"""
import json
import pytest, torch
from dcae_nb.autoencoder import DCAE, get_config
from dcae_nb.checkpoints import (save_pretrained, load_pretrained, save_safetensors, load_safetensors, save_diffusers,
                                 from_diffusers, to_diffusers_state_dict, from_efficientvit, to_efficientvit_state_dict,
                                 folder_format)
from dcae_nb.cli import main


def randomized(name, seed=0):
    torch.manual_seed(seed)
    m = DCAE.from_config(name)
    with torch.no_grad():
        for n, p in m.named_parameters():
            if p.ndim == 1: p.normal_(1.0 if n.endswith('norm.weight') else 0.0, 0.1)
        for n, b in m.named_buffers():
            if n.endswith('running_mean'): b.normal_(0, 0.1)
            elif n.endswith('running_var'): b.uniform_(0.5, 2)
    return m.eval()


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa: assert torch.equal(sa[k], sb[k]), k


def test_safetensors_and_folder_round_trip(tmp_path):
    m = randomized('teach-f32c32')
    save_safetensors(m, tmp_path / 'w.safetensors')
    sd = load_safetensors(tmp_path / 'w.safetensors')
    assert all(torch.equal(v, sd[k]) for k, v in m.state_dict().items())
    m.save_pretrained(tmp_path / 'f')
    cfg = json.loads((tmp_path / 'f' / 'config.json').read_text())
    assert cfg['name'] == 'teach-f32c32' and 'scaling_factor' in cfg and cfg['_class_name'] == 'DCAE'
    back = DCAE.from_pretrained(tmp_path / 'f')
    assert back.config == m.config
    assert_same_weights(m, back)
    assert all(p.requires_grad for p in back.parameters())                   # trainable after loading
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    with torch.no_grad(): assert torch.equal(m(x), back.eval()(x))


def test_scaling_factor_survives_folders(tmp_path):
    m = DCAE.from_config('teach-f8c4', scaling_factor=0.42)
    assert load_pretrained(save_pretrained(m, tmp_path / 'a')).scaling_factor == 0.42
    assert load_pretrained(save_diffusers(m, tmp_path / 'b')).scaling_factor == 0.42


diffusers = pytest.importorskip('diffusers')
from diffusers import AutoencoderDC


def test_diffusers_folders_both_ways(tmp_path):
    "A folder written by diffusers loads in dcae_nb, and a folder written by dcae_nb loads in diffusers; same outputs."
    m = randomized('teach-f32c32', seed=1)
    ref = AutoencoderDC.from_pretrained(save_diffusers(m, tmp_path / 'ours'), low_cpu_mem_usage=False).eval()
    ref.save_pretrained(tmp_path / 'theirs')                                 # written by diffusers itself
    assert folder_format(json.loads((tmp_path / 'theirs' / 'config.json').read_text())) == 'diffusers'
    back = DCAE.from_pretrained(tmp_path / 'theirs').eval()
    assert back.config.name == 'teach-f32c32'                                # recognised from the architecture
    assert_same_weights(m, back)
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        z = ref.encode(x).latent
        assert (m.encode(x) - z).abs().max() <= 1e-5 * z.abs().max()
        y = ref.decode(z).sample
        assert (m.decode(z) - y).abs().max() <= 1e-5 * y.abs().max()


def test_dcae_convert_command(tmp_path):
    m = randomized('teach-f16c8', seed=2)
    AutoencoderDC.from_pretrained(save_diffusers(m, tmp_path / 'd'), low_cpu_mem_usage=False).save_pretrained(tmp_path / 'hub')
    assert main(['convert', '--from', 'diffusers', str(tmp_path / 'hub'), '--scaling-factor', '0.5',
                 '--out', str(tmp_path / 'out')]) == 0
    back = DCAE.from_pretrained(tmp_path / 'out')
    assert back.scaling_factor == 0.5
    assert_same_weights(m, back)
    save_safetensors(to_efficientvit_state_dict(m), tmp_path / 'e.safetensors')
    assert main(['convert', '--from', 'efficientvit', str(tmp_path / 'e.safetensors'), '--config', 'teach-f16c8',
                 '--out', str(tmp_path / 'out2')]) == 0
    assert_same_weights(m, DCAE.from_pretrained(tmp_path / 'out2'))


# ---- efficientvit naming --------------------------------------------------------------------------------------
def efficientvit_names(cfg) -> set:
    """The state-dict names of the original efficientvit DC-AE (dc_ae.py / ops.py), generated from its module
    structure: ConvLayer(.conv, .norm), ResidualBlock(.main, .shortcut), OpSequential(.op_list), written out
    independently of dcae_nb's converter."""
    n, names = len(cfg.widths), set()
    res = ['main.conv1.conv.weight', 'main.conv1.conv.bias', 'main.conv2.conv.weight']
    evit = ['context_module.main.qkv.conv.weight', 'context_module.main.proj.conv.weight',
            'local_module.main.inverted_conv.conv.weight', 'local_module.main.inverted_conv.conv.bias',
            'local_module.main.depth_conv.conv.weight', 'local_module.main.depth_conv.conv.bias',
            'local_module.main.point_conv.conv.weight']
    def norm(prefix, kind):
        stats = ['running_mean', 'running_var', 'num_batches_tracked'] if kind == 'bn' else []
        return {f'{prefix}.{s}' for s in ['weight', 'bias'] + stats}
    def block(prefix, kind, nrm):
        if kind == 'res': return {f'{prefix}.{s}' for s in res} | norm(f'{prefix}.main.conv2.norm', nrm)
        return ({f'{prefix}.{s}' for s in evit} | norm(f'{prefix}.context_module.main.proj.norm', nrm)
                | norm(f'{prefix}.local_module.main.point_conv.norm', nrm))
    names |= {'encoder.project_in.conv.conv.weight', 'encoder.project_in.conv.conv.bias'}
    for i in range(n):
        j = 0
        for _ in range(cfg.encoder_depths[i]):
            names |= block(f'encoder.stages.{i}.op_list.{j}', cfg.encoder_blocks[i], cfg.encoder_norms[i]); j += 1
        if i < n - 1 and cfg.encoder_depths[i]:
            names |= {f'encoder.stages.{i}.op_list.{j}.main.conv.conv.{s}' for s in ('weight', 'bias')}
    names |= {f'encoder.project_out.main.op_list.0.conv.{s}' for s in ('weight', 'bias')}
    names |= {f'decoder.project_in.main.conv.{s}' for s in ('weight', 'bias')}
    for i in range(n):
        j = 0
        if i < n - 1 and cfg.decoder_depths[i]:
            names |= {f'decoder.stages.{i}.op_list.0.main.conv.conv.{s}' for s in ('weight', 'bias')}; j = 1
        for _ in range(cfg.decoder_depths[i]):
            names |= block(f'decoder.stages.{i}.op_list.{j}', cfg.decoder_blocks[i], cfg.decoder_norms[i]); j += 1
    names |= {'decoder.project_out.op_list.0.weight', 'decoder.project_out.op_list.0.bias',
              'decoder.project_out.op_list.2.conv.conv.weight', 'decoder.project_out.op_list.2.conv.conv.bias'}
    return names


@pytest.mark.parametrize('name', ['dc-ae-f32c32-in-1.0', 'dc-ae-f64c128-in-1.0', 'dc-ae-f128c512-in-1.0', 'teach-f32c32'])
def test_efficientvit_names(name):
    with torch.device('meta'): m = DCAE.from_config(name)
    assert set(to_efficientvit_state_dict(m)) == efficientvit_names(m.config)


def test_from_efficientvit_state_dict_built_from_the_naming():
    "A state dict keyed by the documented names (shapes from the model) loads, and maps to the right tensors."
    m = randomized('teach-f32c32', seed=3)
    esd = to_efficientvit_state_dict(m)
    assert set(esd) == efficientvit_names(m.config)
    assert_same_weights(m, from_efficientvit(dict(esd), config='teach-f32c32'))


def test_efficientvit_checkpoint_through_diffusers_converter():
    """diffusers' own converter for original efficientvit checkpoints, applied to our efficientvit-named state
    dict, gives an AutoencoderDC that computes what dcae_nb computes: an independent check of the naming."""
    from diffusers.loaders.single_file_utils import convert_autoencoder_dc_checkpoint_to_diffusers
    m = randomized('teach-f32c32', seed=4)
    esd = {k: v.clone() for k, v in to_efficientvit_state_dict(m).items()}
    converted = convert_autoencoder_dc_checkpoint_to_diffusers(esd)
    from dcae_nb.checkpoints import diffusers_config
    ref = AutoencoderDC(**diffusers_config(m.config))
    ref.load_state_dict(converted, strict=True); ref.eval()
    x = torch.rand(1, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        y, yr = m(x), ref(x).sample
    assert (y - yr).abs().max() <= 1e-5 * yr.abs().max()

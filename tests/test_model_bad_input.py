"""Bad input to the model and to checkpoint loading: every mistake ends in a dcae_nb error that says what was
expected, what was given and what to do."""
import json
import pytest, torch
from dcae_nb.core import BadInputError, CheckpointError, DCAEError
from dcae_nb.autoencoder import DCAE, DCAEConfig, get_config
from dcae_nb.checkpoints import load_state_dict_checked, from_diffusers, from_efficientvit, to_diffusers_state_dict


@pytest.fixture(scope='module')
def model(): return DCAE.from_config('teach-f32c32').eval()


def test_sides_not_multiple_of_f(model):
    x = torch.rand(1, 3, 100, 250) * 2 - 1
    with pytest.raises(BadInputError) as e: model.encode(x)
    msg = str(e.value)
    assert 'multiples of the spatial compression f=32' in msg and '100x250' in msg
    assert 'heights: 96 or 128' in msg and 'widths: 224 or 256' in msg and 'pad=True' in msg
    with pytest.raises(BadInputError, match='heights: 32;'): model.encode(torch.zeros(1, 3, 20, 64))
    with pytest.raises(BadInputError): model(x)


def test_pad_and_crop(model):
    x = torch.rand(2, 3, 40, 70) * 2 - 1
    with torch.no_grad():
        z = model.encode(x, pad=True)
        assert z.shape == (2, 32, 2, 3)
        assert model(x, pad=True).shape == x.shape
        assert model.decode(z, size=(40, 70)).shape == x.shape
        assert model.encode(x, pad='constant').shape == z.shape
        # padding only adds pixels at the bottom/right: the crop equals decoding the padded image and cropping
        xp = torch.nn.functional.pad(x, (0, 26, 0, 24), mode='reflect')
        assert torch.allclose(model(x, pad=True), model(xp)[..., :40, :70])
        assert model(torch.rand(1, 3, 7, 9) * 2 - 1, pad=True).shape == (1, 3, 7, 9)   # smaller than f: replicate


def test_wrong_channels_and_types(model):
    with pytest.raises(BadInputError, match='expected 3 channels'): model.encode(torch.zeros(1, 4, 64, 64))
    with pytest.raises(BadInputError, match=r'x\[None\]'): model.encode(torch.zeros(3, 64, 64))
    with pytest.raises(BadInputError, match=r'x / 127.5 - 1'): model.encode(torch.rand(1, 3, 64, 64) * 255)
    with pytest.raises(BadInputError, match='floating-point'): model.encode(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))
    with pytest.raises(BadInputError, match='expects 32 latent channels, got 4'): model.decode(torch.zeros(1, 4, 2, 2))
    with pytest.raises(BadInputError, match='4 dimensions'): model.decode(torch.zeros(32, 2, 2))
    with pytest.raises(BadInputError, match='larger than the decoded'): model.decode(torch.zeros(1, 32, 2, 2), size=(65, 64))


def test_unknown_config_lists_known():
    with pytest.raises(BadInputError) as e: DCAE.from_config('dc-ae-f32c32')
    msg = str(e.value)
    assert 'did you mean' in msg and 'Known configs:' in msg and 'teach-f8c4' in msg and 'dc-ae-f128c512-mix-1.0' in msg
    with pytest.raises(BadInputError, match='unknown overrides'): DCAE.from_config('teach-f8c4', widthz=(1, 2))
    with pytest.raises(BadInputError, match='expected 4 entries'): DCAEConfig(widths=(8, 16, 32, 32), encoder_depths=(0, 1))
    with pytest.raises(BadInputError, match='unknown block type'): DCAE(get_config('teach-f8c4', encoder_blocks='vit'))


def test_checkpoint_errors_list_everything(model):
    sd = dict(model.state_dict())
    for k in [k for k in sd if k.startswith('decoder.stages.') and 'num_batches' not in k][:20]: del sd[k]  # 20 missing
    sd['encoder.project_out.conv.weight'] = torch.zeros(1)                                # mis-shaped
    sd.update({f'junk.{i}': torch.zeros(1) for i in range(3)})                            # 3 unexpected
    with pytest.raises(CheckpointError) as e: load_state_dict_checked(DCAE.from_config('teach-f32c32'), sd)
    msg = str(e.value)
    assert '20 missing' in msg and '... and 12 more' in msg
    assert '3 unexpected: junk.0, junk.1, junk.2' in msg
    assert '1 mis-shaped: encoder.project_out.conv.weight (1,) (model: (32, 256, 3, 3))' in msg
    assert isinstance(e.value, DCAEError) and msg == e.value.args[0]                      # no KeyError repr quoting


def test_wrong_config_for_a_checkpoint(model):
    dsd = to_diffusers_state_dict(model)
    with pytest.raises(CheckpointError, match="does not fit 'teach-f64c128'"): from_diffusers(dsd, config='teach-f64c128')
    with pytest.raises(BadInputError, match='needs config='): from_diffusers(dsd)
    with pytest.raises(BadInputError, match='pass config='): from_efficientvit({})
    with pytest.raises(BadInputError, match='no diffusers AutoencoderDC form'): to_diffusers_state_dict(DCAE.from_config('teach-f8c4-conv'))
    with pytest.raises(BadInputError, match='it has branch gates'): to_diffusers_state_dict(DCAE.from_config('teach-f32c32-gated'))


def test_bad_folders(tmp_path):
    with pytest.raises(CheckpointError, match='not a folder'): DCAE.from_pretrained(tmp_path / 'missing')
    (tmp_path / 'a').mkdir()
    with pytest.raises(CheckpointError, match='no config.json'): DCAE.from_pretrained(tmp_path / 'a')
    (tmp_path / 'a' / 'config.json').write_text(json.dumps({'hello': 1}))
    with pytest.raises(CheckpointError, match='not a dcae_nb'): DCAE.from_pretrained(tmp_path / 'a')
    (tmp_path / 'a' / 'config.json').write_text(json.dumps({'_class_name': 'AutoencoderDC'}))
    with pytest.raises(CheckpointError, match='no diffusion_pytorch_model.safetensors'): DCAE.from_pretrained(tmp_path / 'a')
    DCAE.from_config('teach-f8c4').save_pretrained(tmp_path / 'b')
    (tmp_path / 'b' / 'model.safetensors').unlink()
    with pytest.raises(CheckpointError, match='no weight file'): DCAE.from_pretrained(tmp_path / 'b')

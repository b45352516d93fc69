"""dcae_nb.data: the photo split, image reading and its errors, and the three datasets (reproducible crops)."""
import numpy as np
import pytest, torch
from pathlib import Path
from PIL import Image
from dcae_nb.assets import read_manifest, local_path, check_file
from dcae_nb.core import BadInputError, MissingAssetError
from dcae_nb.data import (read_image, to_tensor, to_uint8, load_photos, default_split, Photo, RandomCrops, CenterCrops,
                          Tiles, HiresSet)

ROWS = read_manifest('photos')
BY = {a.name: a for a in ROWS}


def save(path, a):
    Image.fromarray(a).save(path); return path


# ---------------------------------------------------------------- the split

def test_split_by_image_and_groups():
    pairs = [('mvtb-walls-l', 'mvtb-walls-r'), ('mvtb-rocks2-l', 'mvtb-rocks2-r'), ('mvtb-eiffel-1', 'mvtb-eiffel-2'),
             ('skimage-motorcycle_left', 'skimage-motorcycle_right')]
    for a, b in pairs: assert BY[a].split == BY[b].split
    for prefix, split in [('mvtb-campus-', 'eval'), ('mvtb-flowers', 'train'), ('mvtb-tomato', 'train'),
                          ('lxqt-', 'eval'), ('mate-', 'train'), ('plasma-', 'train'), ('lomiri-', 'hires'), ('bbc-', 'hires')]:
        assert {r.split for r in ROWS if r.name.startswith(prefix)} == {split}, prefix
    # embedded sub-splits sit inside the full ones: nothing is trained on and evaluated on
    for r in ROWS:
        if r.embedded: assert r.embedded == r.split
    assert len({r.sha256 for r in ROWS}) == len(ROWS)  # no exact duplicates (church.jpg/png: only one is listed)
    hires = [r for r in ROWS if r.split == 'hires']
    assert min(max(r.width, r.height) for r in hires) >= 1365


def test_embedded_manifest_matches_files():
    for r in ROWS:
        if r.via != 'skimage': continue
        assert check_file(r) is None
        assert read_image(local_path(r)).shape == (r.height, r.width, 3)


def test_load_photos_splits(tmp_path):
    assert [p.name for p in load_photos('embedded-eval')] == ['skimage-chelsea', 'skimage-coffee']
    assert len(load_photos('embedded-train')) == 4 and len(load_photos('embedded')) == 6
    with pytest.raises(MissingAssetError, match='dcae fetch photos --split eval'): load_photos('eval', cache=tmp_path)
    assert [p.name for p in load_photos('eval', cache=tmp_path, missing='skip')] == ['skimage-chelsea', 'skimage-coffee']
    assert load_photos('hires', cache=tmp_path, missing='skip') == []
    with pytest.raises(BadInputError, match='unknown split'): load_photos('validation')


def test_load_photos_directory(tmp_path):
    save(tmp_path/'a.png', np.zeros((40, 50, 3), np.uint8))
    (tmp_path/'sub').mkdir(); save(tmp_path/'sub'/'b.jpg', np.full((30, 20, 3), 200, np.uint8))
    (tmp_path/'notes.txt').write_text('not an image')
    ph = load_photos(tmp_path)
    assert [(p.name, p.size) for p in ph] == [('a', (50, 40)), ('sub/b', (20, 30))]
    assert [p.name for p in load_photos(str(tmp_path))] == ['a', 'sub/b']
    empty = tmp_path/'empty'; empty.mkdir()
    with pytest.raises(BadInputError, match='no images'): load_photos(empty)


def test_default_split_falls_back_with_message(tmp_path, monkeypatch):
    msgs = []
    assert [p.name for p in default_split('eval', cache=tmp_path, log=msgs.append)] == ['skimage-chelsea', 'skimage-coffee']
    assert 'embedded-eval' in msgs[0] and 'dcae fetch photos --split eval' in msgs[0]
    assert len(default_split('hires', cache=tmp_path, log=msgs.append)) == 2
    # one fetched eval photo in the cache: the fetched split is used, and the message counts what is missing
    a = BY['mvtb-campus-P1070491']
    p = local_path(a, tmp_path); p.parent.mkdir(parents=True); p.write_bytes(b'\0' * a.bytes)  # size check only
    msgs.clear()
    ph = default_split('eval', cache=tmp_path, log=msgs.append)
    assert 'mvtb-campus-P1070491' in [q.name for q in ph] and 'using the fetched eval split' in msgs[0]
    assert '35 listed photos are not fetched' in msgs[0]
    with pytest.raises(BadInputError, match='unknown split kind'): default_split('test')


# ---------------------------------------------------------------- reading images

def test_read_image_modes(tmp_path):
    rgba = np.zeros((10, 12, 4), np.uint8); rgba[..., 0] = 255; rgba[..., 3] = 255
    grey = np.arange(120, dtype=np.uint8).reshape(10, 12)
    assert read_image(save(tmp_path/'rgba.png', rgba))[0, 0].tolist() == [255, 0, 0]
    g = read_image(save(tmp_path/'grey.png', grey))
    assert g.shape == (10, 12, 3) and (g[..., 0] == grey).all() and (g[..., 2] == grey).all()


def test_bad_image_files(tmp_path):
    (tmp_path/'empty.png').touch()
    with pytest.raises(BadInputError, match='empty'): read_image(tmp_path/'empty.png')
    (tmp_path/'text.jpg').write_text('hello')
    with pytest.raises(BadInputError, match='not a readable image'): read_image(tmp_path/'text.jpg')
    good = save(tmp_path/'good.png', np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    data = good.read_bytes(); (tmp_path/'cut.png').write_bytes(data[:len(data) // 2])
    with pytest.raises(BadInputError, match='not a readable image'): read_image(tmp_path/'cut.png')
    with pytest.raises(MissingAssetError, match='does not exist'): read_image(tmp_path/'nope.png')
    with pytest.raises(BadInputError, match='not a readable image'): Photo('x', tmp_path/'text.jpg')  # header read fails


def test_vc2_raw(tmp_path):
    w, h = 6, 4
    rgb16 = np.random.default_rng(1).integers(0, 65536, (h, w, 3), dtype=np.uint16)
    planes = np.stack([rgb16[..., 1], rgb16[..., 2], rgb16[..., 0]])  # stored G, B, R
    p = tmp_path/'pic.raw'; planes.astype('<u2').tofile(p)
    a = read_image(p, (w, h))
    assert a.shape == (h, w, 3) and np.abs(a.astype(int) - np.round(rgb16 / 257)).max() <= 1
    with pytest.raises(BadInputError, match='expected 3'): read_image(p, (w + 1, h))
    with pytest.raises(BadInputError, match='width, height'): read_image(p)


def test_tensor_round_trip():
    a = np.random.default_rng(0).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    x = to_tensor(a)
    assert x.shape == (3, 5, 7) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    assert (to_uint8(x) == a).all() and to_uint8(x[None]).shape == (1, 5, 7, 3)


# ---------------------------------------------------------------- random crops

def test_random_crops_reproducible_and_resumable():
    ds = RandomCrops('embedded-train', size=64, length=50, seed=3)
    again = RandomCrops('embedded-train', size=64, length=50, seed=3, keep=False)
    for i in (0, 17, 49): assert torch.equal(ds[i], again[i])
    assert not torch.equal(ds[5], RandomCrops('embedded-train', size=64, length=50, seed=4)[5])
    # order does not matter: item i is the same whether asked first or last
    assert torch.equal(RandomCrops('embedded-train', size=64, length=50, seed=3)[30], ds[30])
    loader = torch.utils.data.DataLoader(ds, batch_size=5, num_workers=0)
    full = torch.cat(list(loader))
    resumed = torch.cat(list(torch.utils.data.DataLoader(torch.utils.data.Subset(ds, range(25, 50)), batch_size=5)))
    assert torch.equal(full[25:], resumed)
    with pytest.raises(IndexError): ds[50]


def test_random_crops_parameters():
    ds = RandomCrops('embedded', size=96, length=400, scales=(0.3, 1.0), seed=0)
    ps = [ds.params(i) for i in range(400)]
    assert {p['photo'] for p in ps} == set(range(6))  # every photo is drawn
    flips = sum(p['flip'] for p in ps); assert 150 < flips < 250
    for p in ps:
        w, h = ds.photos[p['photo']].size
        l, t, r, b = p['box']
        assert 0 <= l and 0 <= t and r <= w + 1e-6 and b <= h + 1e-6  # inside the photo
        assert abs((r - l) - 96 / p['scale']) < 1e-6 and abs((r - l) - (b - t)) < 1e-9
        assert max(0.3, 96 / min(w, h)) - 1e-9 <= p['scale'] <= 1.0 + 1e-9
    assert not any(RandomCrops('embedded', 96, 100, flip=False).params(i)['flip'] for i in range(100))


def test_random_crop_is_the_box_resized():
    ds = RandomCrops('embedded-eval', size=32, length=10, scales=(1.0, 1.0), flip=False, seed=0)
    p = ds.params(0)
    l, t = (int(round(v)) for v in p['box'][:2])
    x = ds[0]
    ref = ds.photos[p['photo']].array()
    # at scale 1 the crop is (nearly) the native pixels at a sub-pixel offset
    box = ref[t:t + 32, l:l + 32].astype(float)
    assert np.abs(to_uint8(x).astype(float) - box).mean() < 25


def test_dataset_argument_errors():
    with pytest.raises(BadInputError, match='positive integer'): RandomCrops('embedded', size=-3)
    with pytest.raises(BadInputError, match='positive integer'): RandomCrops('embedded', size=64.0)
    with pytest.raises(BadInputError, match='positive integer'): RandomCrops('embedded', length=0)
    with pytest.raises(BadInputError, match='0 < min <= max'): RandomCrops('embedded', scales=(1.0, 0.5))
    with pytest.raises(BadInputError, match='empty'): CenterCrops([])
    with pytest.raises(BadInputError, match='unknown split'): Tiles('nope')
    with pytest.raises(BadInputError, match='smaller than'): HiresSet('embedded', multiple=1024)


# ---------------------------------------------------------------- eval crops and high-res

def test_center_crops():
    ev = load_photos('embedded-eval')
    cc = CenterCrops(ev, 96)
    assert len(cc) == 2 and cc[1].shape == (3, 96, 96)
    # ImageNet protocol: the centre square (side = shorter side) resized to 96
    coffee = ev[1].pil()
    ref = np.asarray(coffee.resize((96, 96), Image.BICUBIC, box=(100, 0, 500, 400)))
    assert (to_uint8(cc[1]) == ref).all()
    nat = CenterCrops(ev, 100, resize=False)
    assert (to_uint8(nat[0]) == ev[0].array()[100:200, 175:275]).all()


def test_tiles_cover_and_native_pixels():
    ev = load_photos('embedded-eval')
    t = Tiles(ev, 100)
    assert len(t) == 4 * 3 + 6 * 4  # chelsea 451×300, coffee 600×400
    k, box = t.items[0]
    assert box == (25, 0, 125, 100)
    assert (to_uint8(t[0]) == ev[0].array()[0:100, 25:125]).all()
    shrunk = Tiles(ev, 100, short_side=200)  # chelsea → 300×200, coffee → 300×200: 3×2 each
    assert len(shrunk) == 12 and shrunk[11].shape == (3, 100, 100)
    big = Tiles(ev, 512)  # photos smaller than a tile are enlarged to one tile
    assert len(big) == 2 and big[0].shape == (3, 512, 512)


def test_hires_set():
    hs = HiresSet('embedded', multiple=32)
    shapes = [tuple(hs[k].shape) for k in range(len(hs))]
    assert shapes[:4] == [(3, 512, 512), (3, 416, 640), (3, 480, 736), (3, 480, 736)]
    assert all(s[1] % 32 == 0 and s[2] % 32 == 0 for s in shapes)
    capped = HiresSet('embedded', multiple=32, max_side=300)
    assert all(max(capped.shape(k)) <= 300 for k in range(len(capped)))
    a = hs.photos[1].array()  # rocket 640×427: centre-cropped to 640×416
    assert (to_uint8(hs[1]) == a[5:421]).all()

"""Background variants (issue 23): person masks from the parser, person pixels kept bit-exactly outside the
feather, background changed, the cache and folder tools with masks, manifest and contact sheet, and bad input."""
from __future__ import annotations

import json

import numpy as np
import pytest

from faceedit.train.background import feather_alpha, replace_background
from faceedit.testing import celeba_crops_data

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """Eight real CelebA crops, FFHQ-aligned at 64 px like the training cache."""
    data = celeba_crops_data(8)
    if data is None:
        pytest.skip("../shared/data is not available")
    path = tmp_path_factory.mktemp("bg") / "faces.npz"
    data.save(path)
    return path, data


def test_feather_is_one_on_the_mask_and_falls_outside():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:15] = True
    a = feather_alpha(mask, 2)
    assert (a[mask] == 1).all() and a[0, 0] == 0
    assert 0 < a[10, 15] < 1 and a[10, 15] > a[10, 16]  # one and two pixels outside
    assert (feather_alpha(mask, 0) == mask).all()


@pytest.mark.parametrize("mode", ["blur", "grey"])
def test_person_pixels_are_bit_exact_and_background_changes(mode):
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
    mask = np.zeros((32, 32), bool)
    mask[8:24, 10:22] = True
    out = replace_background(image, mask, mode, sigma=2.0, feather=2.0)
    assert np.array_equal(out[mask], image[mask])
    far = feather_alpha(mask, 2.0) == 0
    assert (np.abs(out[far].astype(int) - image[far]).mean()) > 20
    if mode == "grey":
        assert (out[far] == 128).all()
    assert np.array_equal(replace_background(image, mask, "keep", 2.0, 2.0), image)


def test_cache_variant_masks_manifest_and_reuse(cache, tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.train.data import load_cache

    path, data = cache
    assert main(["data", "background", str(path), str(tmp_path / "blur.npz"), "--mode", "blur"]) == 0
    blur = load_cache(tmp_path / "blur.npz")
    with np.load(tmp_path / "blur.masks.npz") as z:
        masks = z["masks"]
    manifest = json.loads((tmp_path / "blur.manifest.json").read_text())
    assert manifest["images"] == len(data) and manifest["parsed"] == len(data) and manifest["sigma_px"] == 4.0
    assert (tmp_path / "blur.sheet.png").is_file()
    # the person covers a face-sized central region, hair above the eyes, and not the corners
    cover = masks.mean(0)
    assert 0.3 < masks.mean() < 0.85 and cover[28:44, 24:40].min() > 0.99 and cover[:4, :4].max() < 0.5
    assert cover[8:16, 24:40].mean() > 0.5  # the hair band above the forehead
    alpha = np.stack([feather_alpha(m, 2.0) for m in masks])
    keep = alpha == 1
    assert np.array_equal(blur.images[keep], data.images[keep])
    changed = alpha == 0
    assert np.abs(blur.images[changed].astype(int) - data.images[changed]).mean() > 2
    np.testing.assert_array_equal(blur.attrs, data.attrs)
    # grey with the same masks, no parsing again
    assert main(["data", "background", str(path), str(tmp_path / "grey.npz"), "--mode", "grey",
                 "--masks", str(tmp_path / "blur.masks.npz")]) == 0
    grey = load_cache(tmp_path / "grey.npz")
    assert (grey.images[changed] == 128).all() and np.array_equal(grey.images[keep], data.images[keep])
    capsys.readouterr()


def test_folder_variant_and_bad_inputs(cache, tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.images import load_image, save_image

    _, data = cache
    src = tmp_path / "in"
    src.mkdir()
    for i in range(3):
        save_image(src / f"f{i}.png", data.images[i])
    (src / "notes.txt").write_text("not an image")
    assert main(["data", "background", str(src), str(tmp_path / "out"), "--mode", "grey"]) == 0
    out = tmp_path / "out"
    assert sorted(p.name for p in out.glob("*.png")) == ["f0.png", "f1.png", "f2.png", "sheet.png"]
    assert len(list((out / "masks").glob("*.png"))) == 3
    assert json.loads((out / "manifest.json").read_text())["files"] == ["f0.png", "f1.png", "f2.png"]
    assert load_image(out / "f0.png").shape == (64, 64, 3)
    capsys.readouterr()
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "x.png").write_text("not a png")
    for argv in ([str(empty), str(tmp_path / "o1")], [str(tmp_path / "bad"), str(tmp_path / "o2")],
                 [str(tmp_path / "missing.npz"), str(tmp_path / "o3.npz")],
                 [str(src / "notes.txt"), str(tmp_path / "o4")]):
        assert main(["data", "background", *argv, "--mode", "blur"]) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err

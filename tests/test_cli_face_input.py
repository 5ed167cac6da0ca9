"""The face-input commands end to end: align, paste-back, parse, depth (real photos, small sizes)."""
import json

import numpy as np
import pytest
from PIL import Image

from faceedit.cli import main
from faceedit.images import load_image
from faceedit.testing import data_dir

WILD = data_dir() / "wild" / "images"
pytestmark = pytest.mark.skipif(not WILD.is_dir(), reason=f"wild photos not found at {WILD}")


@pytest.fixture(scope="module")
def aligned_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("aligned")
    rc = main(["align", str(WILD / "000176.jpg"), str(WILD / "005069.jpg"), "--out", str(out), "--size", "128"])
    assert rc == 0
    return out


def test_align_writes_image_and_transform(aligned_dir):
    img = load_image(aligned_dir / "000176.png")
    assert img.shape == (128, 128, 3)
    rec = json.loads((aligned_dir / "000176.json").read_text())
    t = np.array(rec["transform"])
    assert t.shape == (3, 3) and rec["size"] == 128 and len(rec["landmarks"]) == 68
    photo = load_image(WILD / "000176.jpg")
    assert rec["source_size"] == [photo.shape[1], photo.shape[0]]
    # the aligned centre maps inside the photo, near the landmarks' centre
    centre = t @ [63.5, 63.5, 1]
    assert np.abs(centre[:2] - np.mean(rec["landmarks"], axis=0)).max() < 0.2 * photo.shape[1]


def test_align_failures_are_listed_and_exit_1(tmp_path, capsys):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\x00\x01 not an image")
    noface = tmp_path / "noface.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (90, 120, 3), dtype=np.uint8)).save(noface)
    out = tmp_path / "out"
    rc = main(["align", str(WILD / "001719.jpg"), str(bad), str(noface), "--out", str(out), "--size", "64"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "noface.png" in err and "no face" in err
    assert sorted(p.name for p in out.iterdir()) == ["001719.json", "001719.png"]


def test_paste_back_round_trip(aligned_dir, tmp_path):
    out = tmp_path / "pasted.png"
    rc = main(["paste-back", str(WILD / "005069.jpg"), str(aligned_dir / "005069.png"),
               str(aligned_dir / "005069.json"), "--out", str(out)])
    assert rc == 0
    photo, pasted = load_image(WILD / "005069.jpg"), load_image(out)
    assert pasted.shape == photo.shape
    assert np.abs(pasted.astype(float) - photo).mean() < 2.0
    # an edited face of another size (256) with the same framing lands in the same place
    big = tmp_path / "big.png"
    Image.fromarray(np.full((256, 256, 3), (0, 255, 0), np.uint8)).save(big)
    mask = tmp_path / "mask.png"
    Image.fromarray(np.full((256, 256), 255, np.uint8)).save(mask)
    rc = main(["paste-back", str(WILD / "005069.jpg"), str(big), str(aligned_dir / "005069.json"),
               "--out", str(out), "--mask", str(mask), "--feather", "1"])
    assert rc == 0
    rec = json.loads((aligned_dir / "005069.json").read_text())
    x, y, _ = np.array(rec["transform"]) @ [63.5, 63.5, 1]
    assert tuple(load_image(out)[int(y), int(x)]) == (0, 255, 0)
    assert main(["paste-back", str(WILD / "005069.jpg"), str(big), str(mask), "--out", str(out)]) == 1
    # only the change: unedited gives the photo back exactly
    rc = main(["paste-back", str(WILD / "005069.jpg"), str(aligned_dir / "005069.png"),
               str(aligned_dir / "005069.json"), "--out", str(out), "--original", str(aligned_dir / "005069.png")])
    assert rc == 0 and (load_image(out) == photo).all()


def test_parse_and_depth_commands(aligned_dir, tmp_path, monkeypatch):
    out = tmp_path / "maps"
    assert main(["parse", str(aligned_dir / "000176.png"), "--out", str(out)]) == 0
    labels = np.array(Image.open(out / "000176_labels.png"))
    assert labels.shape == (128, 128) and labels.max() < 19 and (labels == 1).mean() > 0.1
    assert load_image(out / "000176_overlay.png").shape == (128, 128, 3)
    assert main(["depth", str(aligned_dir / "000176.png"), "--out", str(out)]) == 0
    depth = np.load(out / "000176_depth.npy")
    assert depth.shape == (128, 128) and depth.dtype == np.float32 and depth.max() == pytest.approx(1.0)
    png = np.array(Image.open(out / "000176_depth.png"))
    assert png.dtype == np.uint16 and png.max() == 65535
    monkeypatch.delenv("FACEEDIT_DPT", raising=False)  # no DPT checkpoint anywhere: a clear error, exit 1
    monkeypatch.setenv("FACEEDIT_HOME", str(tmp_path / "home"))
    assert main(["depth", str(aligned_dir / "000176.png"), "--out", str(out), "--backend", "dpt"]) == 1

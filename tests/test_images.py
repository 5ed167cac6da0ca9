"""Image I/O: formats, EXIF, odd modes, errors, atomic writes, tensor conversion."""
import numpy as np
import pytest
import torch
from PIL import Image

from faceedit.errors import ImageReadError, InvalidInput
from faceedit.images import check_image, list_images, load_image, save_image, to_image, to_tensor
from faceedit.io import atomic_path


def _gradient(h=20, w=30):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 8 % 256, y * 12 % 256, (x + y) * 4 % 256], axis=2).astype(np.uint8)


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".tiff", ".webp"])
def test_lossless_round_trip(tmp_path, suffix):
    img = _gradient()
    kwargs = {"lossless": True} if suffix == ".webp" else {}
    Image.fromarray(img).save(tmp_path / f"a{suffix}", **kwargs)
    np.testing.assert_array_equal(load_image(tmp_path / f"a{suffix}"), img)


def test_jpeg_exif_orientation(tmp_path):
    img = _gradient(20, 40)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    Image.fromarray(img).save(tmp_path / "r.jpg", exif=exif, quality=100)
    out = load_image(tmp_path / "r.jpg")
    assert out.shape == (40, 20, 3)


def test_grayscale_rgba_16bit(tmp_path):
    Image.fromarray(np.full((5, 6), 77, np.uint8)).save(tmp_path / "g.png")
    assert load_image(tmp_path / "g.png").shape == (5, 6, 3) and load_image(tmp_path / "g.png")[0, 0, 0] == 77
    rgba = np.zeros((4, 4, 4), np.uint8)
    rgba[..., 0] = 255
    rgba[:2, :, 3] = 255  # top opaque red, bottom transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    out = load_image(tmp_path / "a.png")
    assert tuple(out[0, 0]) == (255, 0, 0) and tuple(out[3, 3]) == (255, 255, 255)
    Image.fromarray(np.full((3, 3), 65535 // 2, np.uint16)).save(tmp_path / "d.png")
    assert abs(int(load_image(tmp_path / "d.png")[1, 1, 0]) - 128) <= 1


def test_errors(tmp_path):
    with pytest.raises(ImageReadError, match="no such file"):
        load_image(tmp_path / "missing.png")
    (tmp_path / "t.png").write_text("not an image")
    with pytest.raises(ImageReadError, match="not an image"):
        load_image(tmp_path / "t.png")
    Image.fromarray(_gradient(64, 64)).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageReadError):
        load_image(tmp_path / "trunc.png")
    with pytest.raises(InvalidInput):
        check_image(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(InvalidInput):
        check_image(np.zeros((4, 4, 4), np.uint8))


def test_save_is_atomic(tmp_path):
    target = tmp_path / "o.png"
    with pytest.raises(InvalidInput):
        save_image(target, np.zeros((2, 2), np.float64))
    assert not target.exists() and list(tmp_path.iterdir()) == []
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("partial")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    save_image(target, _gradient())
    np.testing.assert_array_equal(load_image(target), _gradient())


def test_tensor_round_trip():
    img = _gradient()
    t = to_tensor(img)
    assert t.shape == (1, 3, 20, 30) and t.dtype == torch.float32
    assert float(t.min()) >= -1 and float(t.max()) <= 1
    np.testing.assert_array_equal(to_image(t)[0], img)
    np.testing.assert_array_equal(to_image(t[0]), img)
    assert to_tensor([img, img], size=8).shape == (2, 3, 8, 8)


def test_list_images(tmp_path):
    for n in ("b.png", "a.jpg", "c.txt"):
        (tmp_path / n).write_bytes(b"")
    assert [p.name for p in list_images([tmp_path])] == ["a.jpg", "b.png"]


def test_saved_files_get_normal_permissions(tmp_path):
    import os
    import stat

    save_image(tmp_path / "p.png", _gradient())
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "p.png").stat().st_mode) == 0o666 & ~mask


def test_files_recreated_by_their_writer_get_normal_permissions(tmp_path):
    """safetensors' writer replaces the temporary file, so the permissions are set at the rename."""
    import os
    import stat

    import torch

    from faceedit.models._files import save_safetensors_json

    save_safetensors_json({"a": torch.zeros(2)}, tmp_path / "m.safetensors", {"k": 1})
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "m.safetensors").stat().st_mode) == 0o666 & ~mask


def test_to_tensor_is_contiguous_nchw():
    """Channels-last strides from the NHWC array crash torch 2.13's CPU convolution backward: never return them."""
    from faceedit.images import to_tensor

    t = to_tensor(np.zeros((2, 8, 8, 3), np.uint8))
    assert t.shape == (2, 3, 8, 8) and t.is_contiguous()

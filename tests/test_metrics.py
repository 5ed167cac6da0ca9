"""Image metrics: PSNR, SSIM and dlib's face-recognition distance, checked against closed forms and data."""
from __future__ import annotations

import numpy as np
import pytest

from faceedit.errors import InvalidInput
from faceedit.metrics import face_distance, psnr, ssim
from faceedit.testing import data_dir


def test_psnr_closed_form():
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    assert psnr(a, b) == float("inf")
    b[0, 0, 0] = 110  # one pixel off by 10: MSE = 100 / 192
    assert psnr(a, b) == pytest.approx(10 * np.log10(255**2 / (100 / 192)))
    with pytest.raises(InvalidInput, match="shape"):
        psnr(a, np.zeros((4, 4, 3), np.uint8))


def test_ssim_constant_images_and_noise():
    a = np.full((32, 32, 3), 100, np.uint8)
    b = np.full((32, 32, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1), abs=1e-6)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (32, 32, 3)).astype(np.uint8)
    noisy = [np.clip(img + rng.normal(0, s, img.shape), 0, 255).astype(np.uint8) for s in (5, 20, 60)]
    values = [ssim(img, n) for n in noisy]
    assert 1 > values[0] > values[1] > values[2]
    assert ssim(img, noisy[1]) == pytest.approx(ssim(noisy[1], img))


def test_face_distance_same_vs_other_person():
    from faceedit.images import load_image, resize

    folder = data_dir() / "celeba" / "img_89x109"
    if not folder.is_dir():
        pytest.skip(f"data missing: {folder}")
    a, b = [resize(load_image(f)[23:93, 9:79], 64) for f in sorted(folder.iterdir())[:2]]
    rng = np.random.default_rng(0)
    a_noisy = np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    assert face_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    assert face_distance(a, a_noisy) < 0.3 < face_distance(a, b)

"""Image metrics: PSNR, SSIM (closed forms) and dlib's identity distance (faceedit.faces.identity) on real faces."""
from __future__ import annotations

import numpy as np
import pytest

from faceedit.errors import InvalidInput
from faceedit.measure.metrics import psnr, ssim
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


def test_identity_distance_same_vs_other_person():
    """The one dlib implementation (faceedit.faces.identity) on FFHQ-aligned 64 px crops of two CelebA people: a
    face is at 0 from itself, close to a noisy copy, and farther than dlib's 0.6 from another person."""
    from faceedit.faces.identity import SAME_PERSON, descriptors, identity_distance
    from faceedit.train.data import align_record

    folder = data_dir() / "celeba" / "img_89x109"
    if not folder.is_dir():
        pytest.skip(f"data missing: {folder}")
    a, b = [align_record(f, "celeba", 64) for f in sorted(folder.iterdir())[:2]]
    rng = np.random.default_rng(0)
    a_noisy = np.clip(a + rng.normal(0, 3, a.shape), 0, 255).astype(np.uint8)
    d = identity_distance([a, a, a], [a, a_noisy, b])
    assert d[0] == pytest.approx(0.0, abs=1e-6)
    assert d[1] < 0.3 < SAME_PERSON < d[2]
    assert descriptors(a).shape == (1, 128) and descriptors([]).shape == (0, 128)
    with pytest.raises(InvalidInput, match="faces"):
        identity_distance([a, a], [a])

"""The metric functions of benchmarks/photo_edits.py (benchmarks/photo_metrics.py) on a synthetic texture."""
from __future__ import annotations

import numpy as np
import pytest

from faceedit.testing import benchmark_module

pm = benchmark_module("photo_metrics")

cv2 = pytest.importorskip("cv2")


@pytest.fixture(scope="module")
def texture() -> np.ndarray:
    """A 256-px RGB 'face': smooth shading plus fine multi-scale texture (pores, strands)."""
    rng = np.random.default_rng(12345)  # not blurred_noisy's noise seed (0): the noise must not be the texture
    n = 256
    gx, gy = np.meshgrid(np.linspace(0, 1, n), np.linspace(0, 1, n))
    base = 128 + 30 * np.sin(3 * gx) * np.cos(2 * gy)
    fine = sum(cv2.GaussianBlur(rng.normal(0, 1, (n, n)).astype(np.float32), (0, 0), s) * a
               for s, a in ((1.0, 25.0), (2.0, 50.0)))
    g = base + fine
    img = np.stack([g, 0.8 * g + 20, 0.7 * g + 10], axis=2)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def mask() -> np.ndarray:
    m = np.zeros((256, 256), bool)
    cv2.ellipse(m.view(np.uint8), (128, 128), (80, 100), 0, 0, 360, 1, -1)
    return m


def test_laplacian_ratio_self_and_blurred(texture, mask):
    assert pm.sharpness_ratio(texture, texture, mask) == pytest.approx(1.0)
    blurred = cv2.GaussianBlur(texture, (0, 0), 1.5)
    assert pm.sharpness_ratio(blurred, texture, mask) < 0.5


def test_detail_kept_shifted_vs_blurred_noise(texture, mask):
    shifted = pm.small_warp(texture, amplitude=1.0, shift=(1.3, -0.6))
    assert not np.array_equal(shifted, texture)
    assert pm.detail_kept(shifted, texture, mask) > 0.9
    assert pm.detail_kept(pm.blurred_noisy(texture, sigma_512=4.0), texture, mask) < 0.2


def test_chroma_shift_and_changed_outside(texture, mask):
    cast = np.clip(texture.astype(np.int16) + np.array([0, 12, 0]), 0, 255).astype(np.uint8)
    assert pm.chroma_shift(texture, texture, mask) == 0.0
    assert pm.chroma_shift(cast, texture, mask) > 5.0
    out = texture.copy()
    out[0, 0] += 1
    frac, top = pm.changed_outside(out, texture, ~mask)
    assert top == 1 and 0 < frac < 0.01

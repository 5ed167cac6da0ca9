"""The realism measures of benchmarks/models.py (benchmarks/realism.py): Fréchet distance of descriptor sets
(closed forms, singular covariances, real dlib descriptors of real faces vs blurred copies), sharpness, and the
identity-disjoint real sets."""
from __future__ import annotations

import numpy as np
import pytest

from faceedit.errors import DataError, InvalidInput
from faceedit.testing import benchmark_module, data_dir

cv2 = pytest.importorskip("cv2")


rl = benchmark_module("realism")


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    return np.stack([cv2.GaussianBlur(im, (0, 0), sigma) for im in images])


@pytest.fixture(scope="module")
def faces() -> np.ndarray:
    """Six real CelebA photos (six people), FFHQ-aligned at 64 px like the training crops."""
    from faceedit.train.data import align_record

    folder = data_dir() / "celeba" / "img_89x109"
    if not folder.is_dir():
        pytest.skip(f"data missing: {folder}")
    crops = [c for f in sorted(folder.iterdir())[:8] if f.suffix == ".jpg"
             and (c := align_record(f, "celeba", 64)) is not None]
    return np.stack(crops[:6])


def test_frechet_closed_forms():
    rng = np.random.default_rng(0)
    d = 6
    mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
    # equal covariances: only the means count
    c = np.diag(rng.uniform(0.5, 2, d))
    assert rl.frechet_from_stats(mu1, c, mu2, c) == pytest.approx(((mu1 - mu2) ** 2).sum())
    # diagonal covariances: sum of (sqrt(a) - sqrt(b))^2
    a, b = rng.uniform(0.1, 3, d), rng.uniform(0.1, 3, d)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    assert rl.frechet_from_stats(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected)
    # general covariances: the textbook formula with scipy's sqrtm
    from scipy.linalg import sqrtm

    x, y = rng.normal(size=(d, d)), rng.normal(size=(d, d))
    c1, c2 = x @ x.T + 0.1 * np.eye(d), y @ y.T + 0.1 * np.eye(d)
    textbook = ((mu1 - mu2) ** 2).sum() + np.trace(c1 + c2 - 2 * np.real(sqrtm(c1 @ c2)))
    assert rl.frechet_from_stats(mu1, c1, mu2, c2) == pytest.approx(textbook, rel=1e-8)


def test_frechet_self_symmetric_and_singular_covariances():
    """Fewer vectors than dimensions (rank-deficient covariances): still real, finite, >= 0, ~0 for a set with
    itself and symmetric."""
    rng = np.random.default_rng(1)
    x = rng.normal(0, 0.05, (50, 128)).astype(np.float32)
    y = (rng.normal(0, 0.05, (60, 128)) + 0.01).astype(np.float32)
    assert rl.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    fxy, fyx = rl.frechet_distance(x, y), rl.frechet_distance(y, x)
    assert np.isfinite(fxy) and fxy > 0
    assert fxy == pytest.approx(fyx, rel=1e-9)
    with pytest.raises(InvalidInput):
        rl.frechet_distance(x, y[:, :64])
    with pytest.raises(InvalidInput):
        rl.frechet_distance(x[:1], y)


def test_frechet_of_real_dlib_descriptors_grows_with_blur(faces):
    """Through the one dlib implementation: real faces vs themselves ~0, vs blurred copies larger the
    stronger the blur, and symmetric."""
    from faceedit.faces.identity import descriptors

    d = descriptors(faces)
    d1 = descriptors(_blur(faces, 1.0))
    d2 = descriptors(_blur(faces, 2.0))
    assert rl.frechet_distance(d, d) == pytest.approx(0.0, abs=1e-9)
    f1, f2 = rl.frechet_distance(d, d1), rl.frechet_distance(d, d2)
    assert 0 < f1 < f2
    assert rl.frechet_distance(d2, d) == pytest.approx(f2, rel=1e-6)


def test_sharpness_ratio(faces):
    assert rl.sharpness_ratio(faces, faces) == pytest.approx(1.0)
    assert rl.sharpness_ratio(_blur(faces, 1.5), faces) < 0.5
    with pytest.raises(InvalidInput):
        rl.sharpness_ratio(faces, np.stack([cv2.resize(f, (32, 32)) for f in faces]))


def test_real_sets_are_identity_disjoint():
    identity = np.repeat(np.arange(30), [10] * 5 + [1] * 25)  # five people with 10 crops, 25 with one
    crops = np.arange(len(identity))
    bad = {3, 17}  # crops that cannot be aligned

    a, b = rl._split_by_identity(identity, 12, 0, lambda r: None if r in bad else np.array([crops[r]]), 4)
    a, b = a[:, 0], b[:, 0]
    assert len(a) == len(b) == 12 and not bad & set(a.tolist() + b.tolist())
    assert not set(identity[a]) & set(identity[b])
    for s in (a, b):
        assert np.bincount(identity[s]).max() <= 4
    a, b = rl._split_by_identity(identity, 25, 0, lambda r: np.array([r]))  # no cap: whole identities
    assert not set(identity[a[:, 0]]) & set(identity[b[:, 0]])
    with pytest.raises(DataError):
        rl._split_by_identity(identity, 40, 0, lambda r: np.array([r]))


def test_report_prints_numbers_and_targets():
    r = {"samples": 400, "real": 400, "other_real": 400, "descriptor_dim": 128, "frechet": 0.3,
         "frechet_floor": 0.05, "frechet_ratio": 6.0, "frechet_ratio_half": 4.0, "half": 200,
         "laplacian_energy": 50.0, "laplacian_energy_real": 1000.0, "sharpness_ratio": 0.05,
         "diversity": 86.0, "diversity_real": 89.0}
    text = "\n".join(rl.report(r))
    assert "400 samples vs 400 real" in text and "6.00x" in text and "target <= 2x: NOT met" in text
    assert "target >= 0.8: NOT met" in text and "target >= 85: met" in text
    small = dict(r, samples=100, real=100, other_real=100, frechet_ratio=1.5)
    assert "not judged below N = 400" in "\n".join(rl.report(small))

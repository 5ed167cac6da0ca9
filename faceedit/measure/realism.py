"""Realism measures of generated faces — the one implementation, shared by ``benchmarks/realism.py``,
``benchmarks/models.py`` and the per-checkpoint evaluation of the training families
(:mod:`faceedit.train.evaluate`).

At the model's resolution, ``n`` generator samples against ``n`` held-out real crops aligned the same way
(the ``val`` identities of ``faceedit.train.data``):

- Fréchet distance of dlib 128-d descriptors (:mod:`faceedit.faces.identity`, the one implementation: both sets
  resized to 256 px alike, landmarks on the known box of an aligned face), samples vs real, and the floor:
  the same real set vs another, identity-disjoint real set of the same size;
- sharpness: mean Laplacian energy of the samples / of the real crops;
- dlib's frontal-face detection rate (:func:`detection_rate`) and pixel diversity (:func:`diversity`).

Inception-based FID is not computed anywhere in faceedit: it needs ImageNet Inception weights, which are not
available offline.  Plain functions, no work at import time.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np


def gaussian_stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (float64) of the rows of ``x`` ``(N, D)``, N ≥ 2."""
    from ..errors import InvalidInput

    x = np.asarray(x, np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise InvalidInput(f"need at least 2 vectors (N, D) for a mean and covariance, got shape {x.shape}")
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _psd_sqrt(c: np.ndarray) -> np.ndarray:
    """Symmetric square root of a symmetric positive semi-definite matrix (negative round-off eigenvalues
    clipped to 0)."""
    vals, vecs = np.linalg.eigh((c + c.T) / 2)
    return (vecs * np.sqrt(np.clip(vals, 0, None))) @ vecs.T


def frechet_from_stats(mu1: np.ndarray, c1: np.ndarray, mu2: np.ndarray, c2: np.ndarray) -> float:
    """Fréchet distance of two Gaussians: |mu1 - mu2|² + tr(C1 + C2 - 2 (C1 C2)^½).

    tr (C1 C2)^½ is computed as the sum of the square roots of the eigenvalues of S C2 S with S = C1^½
    (symmetric, with the same non-zero eigenvalues as C1 C2): real by construction, exact for singular
    covariances (fewer samples than dimensions), no imaginary round-off to drop.  Clipped at 0.
    """
    from ..errors import InvalidInput

    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    c1, c2 = np.atleast_2d(np.asarray(c1, np.float64)), np.atleast_2d(np.asarray(c2, np.float64))
    if mu1.shape != mu2.shape or c1.shape != c2.shape or c1.shape != (mu1.size, mu1.size):
        raise InvalidInput(f"statistics do not fit: means {mu1.shape} / {mu2.shape}, "
                           f"covariances {c1.shape} / {c2.shape}")
    s = _psd_sqrt(c1)
    m = s @ c2 @ s
    tr_sqrt = float(np.sqrt(np.clip(np.linalg.eigvalsh((m + m.T) / 2), 0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(c1) + np.trace(c2) - 2 * tr_sqrt)
    return max(value, 0.0)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Fréchet distance between the Gaussians fitted to two sets of vectors ``(N, D)`` and ``(M, D)``."""
    from ..errors import InvalidInput

    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise InvalidInput(f"vector sets do not fit: {a.shape} vs {b.shape}")
    return frechet_from_stats(*gaussian_stats(a), *gaussian_stats(b))


def laplacian_energy(images: np.ndarray) -> float:
    """Mean over images and pixels of the squared ``cv2.Laplacian`` of the grey image (0..255 scale), the
    same energy as ``benchmarks/photo_metrics.laplacian_energy`` over the whole image."""
    import cv2

    total = 0.0
    for im in images:
        grey = cv2.cvtColor(np.ascontiguousarray(im), cv2.COLOR_RGB2GRAY).astype(np.float32)
        lap = cv2.Laplacian(grey, cv2.CV_32F)
        total += float((lap * lap).mean())
    return total / max(len(images), 1)


def sharpness_ratio(images: np.ndarray, reference: np.ndarray) -> float:
    """Laplacian energy of ``images`` / of ``reference`` (both at the same resolution)."""
    from ..errors import InvalidInput

    if len(images) == 0 or len(reference) == 0:
        raise InvalidInput("sharpness needs at least one image in each set")
    if images[0].shape != reference[0].shape:
        raise InvalidInput(f"image sets differ in size: {images[0].shape} vs {reference[0].shape}")
    return laplacian_energy(images) / max(laplacian_energy(reference), 1e-9)


def _split_by_identity(identity: np.ndarray, n: int, seed: int, get: Callable[[int], np.ndarray | None],
                       max_per_identity: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Two identity-disjoint sets of ``n`` crops: identities in a seeded order, each with all its crops (at
    most ``max_per_identity``; ``get(row)``: the crop, or None when it cannot be aligned) going to the set
    that is smaller so far.  No cap by default: the sets keep the held-out mix of photo sources and of
    people with many photos, as the training data has it."""
    from ..errors import DataError

    rng = np.random.default_rng(seed)
    rows_of: dict[int, list[int]] = {}
    for row in rng.permutation(len(identity)):
        rows_of.setdefault(int(identity[row]), []).append(int(row))
    sets: tuple[list[np.ndarray], list[np.ndarray]] = ([], [])
    for ident in rng.permutation(sorted(rows_of)):
        if len(sets[0]) >= n and len(sets[1]) >= n:
            break
        crops = [c for r in rows_of[int(ident)][:max_per_identity] if (c := get(r)) is not None]
        target = sets[0] if len(sets[0]) <= len(sets[1]) else sets[1]
        target.extend(crops[:n - len(target)])
    if min(len(sets[0]), len(sets[1])) < n:
        raise DataError(f"only {len(sets[0])} + {len(sets[1])} held-out real crops for two sets of {n}")
    return np.stack(sets[0]), np.stack(sets[1])


def held_out_sets(data: Any, n: int, seed: int = 0, max_per_identity: int | None = None,
                  sources: tuple[str, ...] = ("celeba",)) -> tuple[np.ndarray, np.ndarray]:
    """Two identity-disjoint sets of ``n`` held-out crops (``val`` rows of ``sources``) of an in-memory
    :class:`~faceedit.train.data.FaceData` (e.g. a background variant); DataError when there are too few."""
    keep = data.val & np.isin(data.source, list(sources))
    images, identity = data.images[keep], data.identity[keep]
    return _split_by_identity(identity, n, seed, lambda r: images[r], max_per_identity)


def real_sets(resolution: int, n: int, cache: str | None = None, seed: int = 0,
              max_per_identity: int | None = None) -> tuple[np.ndarray, np.ndarray, str]:
    """Two identity-disjoint sets of ``n`` held-out CelebA crops (``val`` split of ``faceedit.train.data``) at
    ``resolution`` px, and where they came from: the data cache when it exists at that resolution, else
    aligned now from the shared data (``faceedit.train.data.align_record``, the code that made the cache).
    ``max_per_identity`` caps the crops of one person (see :func:`_split_by_identity`)."""
    from ..testing import data_dir
    from ..train.data import align_record, collect_records, default_cache_dir, load_cache

    path = Path(cache) if cache else default_cache_dir() / "faces64.npz"
    if path.is_file():
        data = load_cache(path)
        if data.resolution == resolution:
            a, b = held_out_sets(data, n, seed, max_per_identity)
            return a, b, f"data cache {path}"
    records = [r for r in collect_records(data_dir(), ("celeba",)) if r.val]
    a, b = _split_by_identity(np.array([r.identity for r in records]), n, seed,
                              lambda r: align_record(records[r].path, "celeba", resolution), max_per_identity)
    return a, b, f"aligned now from {data_dir()} (no data cache at {path})"


def generator_samples(generator: Any, n: int, seed: int = 0, truncation: float = 1.0) -> np.ndarray:
    """``n`` RGB uint8 samples of ``generator`` from seeded latents (``faceedit.edit.directions.sample_w``)."""
    from ..edit.directions import sample_w
    from ..synthesis import synthesize

    w = sample_w(generator, n, seed)
    if truncation != 1:
        w_avg = generator.mean_latent().detach().cpu().numpy().reshape(1, -1)
        w = (w_avg + truncation * (w - w_avg)).astype(np.float32)
    return synthesize(generator, w)


def realism(samples: np.ndarray, real: np.ndarray, other_real: np.ndarray,
            diversity: Callable[[np.ndarray], float], progress: bool = True) -> dict[str, Any]:
    """All realism numbers of ``samples`` vs ``real`` (``other_real``: the floor's second real set)."""
    from ..faces.identity import descriptors

    t0 = time.perf_counter()
    d_s = descriptors(samples, progress="descriptors: samples" if progress else False)
    d_r = descriptors(real, progress="descriptors: real" if progress else False)
    d_o = descriptors(other_real, progress="descriptors: other real" if progress else False)
    fd, floor = frechet_distance(d_s, d_r), frechet_distance(d_o, d_r)
    h = min(len(d_s), len(d_r), len(d_o)) // 2  # the same on the first halves: the floor is mostly finite-sample
    half = frechet_distance(d_s[:h], d_r[:h]) / max(frechet_distance(d_o[:h], d_r[:h]), 1e-12)  # bias (~1/N)
    return {"samples": len(samples), "real": len(real), "other_real": len(other_real),
            "descriptor_dim": int(d_s.shape[1]), "frechet": fd, "frechet_floor": floor,
            "frechet_ratio": fd / max(floor, 1e-12), "frechet_ratio_half": half, "half": h,
            "sharpness_ratio": sharpness_ratio(samples, real),
            "laplacian_energy": laplacian_energy(samples), "laplacian_energy_real": laplacian_energy(real),
            "diversity": diversity(samples), "diversity_real": diversity(real),
            "descriptor_seconds": time.perf_counter() - t0}


def detection_rate(images: np.ndarray, size: int = 256) -> float:
    """Fraction of images in which dlib's frontal detector (one upsampling) finds a face at ``size`` px."""
    import dlib

    from ..images import resize

    if len(images) == 0:
        return float("nan")
    detector = dlib.get_frontal_face_detector()
    return float(np.mean([len(detector(resize(im, size), 1)) > 0 for im in images]))


def diversity(images: np.ndarray, pairs: int = 2000, seed: int = 0) -> float:
    """Mean RMS distance (0..255) between random pairs of different images."""
    rng = np.random.default_rng(seed)
    a, b = rng.integers(0, len(images), (2, pairs))
    keep = a != b
    x, y = images[a[keep]].astype(np.float32), images[b[keep]].astype(np.float32)
    return float(np.sqrt(((x - y) ** 2).mean(axis=(1, 2, 3))).mean())

"""Metric functions of ``benchmarks/photo_edits.py``: how much an edited face still looks like the photo.

All images are aligned RGB uint8 ``(N, N, 3)`` arrays of the same size; masks are bool ``(N, N)``.
These are plain functions (no models) so that ``tests/test_benchmark_photo_edits.py`` can check them.
"""
from __future__ import annotations

import numpy as np

#: CelebAMask-HQ classes of the "face": skin, brows, eyes, nose, lips (faceedit.faces.parsing.CLASSES ids)
FACE_CLASSES = (1, 2, 3, 4, 5, 10, 12, 13)
SKIN_CLASS = 1
#: high-pass sigma of the detail metric at 512 px (scaled with the image size)
DETAIL_SIGMA_512 = 1.5


def grey(image: np.ndarray) -> np.ndarray:
    """Float32 grey image (0..255) of an RGB uint8 image."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY).astype(np.float32)


def face_mask(labels: np.ndarray, classes: tuple[int, ...] = FACE_CLASSES, erode_frac: float = 0.0) -> np.ndarray:
    """Bool mask of the parsed ``classes``, optionally eroded by ``erode_frac`` of the side."""
    import cv2

    mask = np.isin(labels, np.asarray(classes))
    r = int(round(erode_frac * labels.shape[0]))
    if r >= 1:
        k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
        mask = cv2.erode(mask.astype(np.uint8), k).astype(bool)
    return mask


def laplacian_energy(image: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Mean of the squared ``cv2.Laplacian`` of the grey image over ``mask`` (all pixels if None)."""
    import cv2

    lap = cv2.Laplacian(grey(image), cv2.CV_32F)
    sq = lap * lap
    return float(sq[mask].mean()) if mask is not None else float(sq.mean())


def sharpness_ratio(output: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Laplacian energy of ``output`` / of ``original`` over the same ``mask`` (NaN on an empty mask)."""
    if mask.sum() < 16:
        return float("nan")
    return laplacian_energy(output, mask) / max(laplacian_energy(original, mask), 1e-9)


def align_to(moving: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``moving`` warped onto ``reference`` with a dense DIS optical flow (medium preset) on the grey images."""
    import cv2

    g_ref = np.clip(grey(reference) + 0.5, 0, 255).astype(np.uint8)
    g_mov = np.clip(grey(moving) + 0.5, 0, 255).astype(np.uint8)
    flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(g_ref, g_mov, None)
    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(moving, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)


def highpass(image: np.ndarray, sigma: float) -> np.ndarray:
    """Grey image minus its Gaussian blur of ``sigma`` px (float32)."""
    import cv2

    g = grey(image)
    return g - cv2.GaussianBlur(g, (0, 0), sigma)


def detail_kept(output: np.ndarray, original: np.ndarray, mask: np.ndarray, sigma: float | None = None) -> float:
    """Pearson correlation over ``mask`` of the high-pass bands of ``original`` and of ``output`` aligned
    to it by optical flow; ``sigma`` defaults to :data:`DETAIL_SIGMA_512` scaled to the image size."""
    if mask.sum() < 16:
        return float("nan")
    sigma = sigma or DETAIL_SIGMA_512 * original.shape[0] / 512
    a = highpass(original, sigma)[mask].astype(np.float64)
    b = highpass(align_to(output, original), sigma)[mask].astype(np.float64)
    a -= a.mean()
    b -= b.mean()
    return float((a * b).sum() / max(np.sqrt((a * a).sum() * (b * b).sum()), 1e-12))


def chroma_shift(output: np.ndarray, original: np.ndarray, mask: np.ndarray) -> float:
    """Length of the mean (Δa*, Δb*) vector (CIE Lab units) between ``output`` and ``original`` over
    ``mask``: a colour cast, not texture (per-pixel changes that cancel out do not count)."""
    import cv2

    if mask.sum() < 16:
        return float("nan")

    def ab(img: np.ndarray) -> np.ndarray:
        lab = cv2.cvtColor(img.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
        return lab[..., 1:][mask].mean(axis=0)

    return float(np.linalg.norm(ab(output) - ab(original)))


def changed_outside(output: np.ndarray, original: np.ndarray, outside: np.ndarray) -> tuple[float, int]:
    """(fraction of ``outside`` pixels that differ from the original in any channel, max |Δ| there)."""
    if not outside.any():
        return float("nan"), 0
    diff = np.abs(output.astype(np.int16) - original.astype(np.int16)).max(axis=2)[outside]
    return float((diff > 0).mean()), int(diff.max())


def blurred_noisy(image: np.ndarray, sigma_512: float = 3.0, noise: float | None = None, seed: int = 0,
                  render_size: int | None = None) -> np.ndarray:
    """A stand-in for a pasted render with re-added grain: ``image`` Gaussian-blurred by ``sigma_512`` px at
    512 (scaled to its size), or, with ``render_size``, resized down to that and back up (cubic), plus
    Gaussian noise of ``noise`` grey levels (default: the std of the image's own high-pass band)."""
    import cv2

    n = image.shape[0]
    if render_size:
        small = cv2.resize(image, (render_size, render_size), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (n, n), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    else:
        out = cv2.GaussianBlur(image, (0, 0), sigma_512 * n / 512).astype(np.float32)
    if noise is None:
        noise = float(highpass(image, DETAIL_SIGMA_512 * n / 512).std())
    out += np.random.default_rng(seed).normal(0.0, noise, out.shape[:2])[..., None].astype(np.float32)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def small_warp(image: np.ndarray, amplitude: float = 1.5, shift: tuple[float, float] = (0.7, -0.4)) -> np.ndarray:
    """``image`` moved by a smooth sinusoidal warp of ``amplitude`` px plus a sub-pixel ``shift``."""
    import cv2

    n = image.shape[0]
    gx, gy = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32))
    fx = shift[0] + amplitude * np.sin(2 * np.pi * gy / n)
    fy = shift[1] + amplitude * np.cos(2 * np.pi * gx / n)
    return cv2.remap(image, gx + fx.astype(np.float32), gy + fy.astype(np.float32), cv2.INTER_CUBIC,
                     borderMode=cv2.BORDER_REFLECT_101)

"""Pixel operations of the edit transfer (:mod:`faceedit.compose.transfer`): resizing, colour spaces, flow
remapping, edge-aware filtering, grain and chroma limits. Pure numpy / OpenCV functions on float images."""
from __future__ import annotations

import numpy as np


def ramp(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below ``lo``, 1 above ``hi``, linear between."""
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def resize_float(image: np.ndarray, n: int) -> np.ndarray:
    """RGB uint8 → float32 [0, 1] at ``n × n`` (cubic up, area down)."""
    import cv2

    f = image.astype(np.float32) / 255.0
    if f.shape[0] == n and f.shape[1] == n:
        return f
    interp = cv2.INTER_CUBIC if n > f.shape[0] else cv2.INTER_AREA
    return np.clip(cv2.resize(f, (n, n), interpolation=interp), 0.0, 1.0)


def structure(image: np.ndarray, sigma: float) -> tuple[np.ndarray, np.ndarray]:
    """Local contrast normalisation of the grey image: ``(uint8 picture for DIS, float z-scores)``."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    detail = grey - cv2.GaussianBlur(grey, (0, 0), sigma)
    z = detail / np.sqrt(cv2.GaussianBlur(detail * detail, (0, 0), sigma) + (4.0 / 255) ** 2)
    return np.clip(z * 40.0 + 128.0, 0, 255).astype(np.uint8), z.astype(np.float32)


def remap(image: np.ndarray, flow: np.ndarray, interpolation: int) -> np.ndarray:
    """``image(x + flow(x))`` (reflecting at the border)."""
    import cv2

    h, w = flow.shape[:2]
    gx, gy = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], interpolation, borderMode=cv2.BORDER_REFLECT_101)


def to_lab(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] → CIE Lab (L 0..100)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(rgb, dtype=np.float32), cv2.COLOR_RGB2Lab)


def to_rgb(lab: np.ndarray) -> np.ndarray:
    """CIE Lab → float RGB in [0, 1] (the inverse of :func:`to_lab`)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(lab, dtype=np.float32), cv2.COLOR_Lab2RGB)


def to_uint8(rgb: np.ndarray) -> np.ndarray:
    """Float RGB in [0, 1] → uint8, rounded."""
    return np.clip(np.rint(rgb * 255.0), 0, 255).astype(np.uint8)


def guided_filter(guide: np.ndarray, src: np.ndarray, radius: int, eps: float) -> np.ndarray:
    """He et al.'s guided filter (grey guide, multi-channel source): edge-aware smoothing of ``src``."""
    import cv2

    def box(x: np.ndarray) -> np.ndarray:
        return cv2.boxFilter(x, -1, (2 * radius + 1, 2 * radius + 1), borderType=cv2.BORDER_REFLECT)

    g = guide.astype(np.float32)
    mean_g = box(g)
    var_g = box(g * g) - mean_g * mean_g
    out = np.empty_like(src, dtype=np.float32)
    for c in range(src.shape[2]):
        p = src[..., c].astype(np.float32)
        mean_p = box(p)
        a = (box(g * p) - mean_g * mean_p) / (var_g + eps)
        b = mean_p - a * mean_g
        out[..., c] = box(a) * g + box(b)
    return out


def matched_grain(luminance: np.ndarray, where: np.ndarray | None) -> np.ndarray:
    """Deterministic noise whose high-pass level matches the photo's (robustly, on ``where`` or the
    centre of the face), in L units."""
    import cv2

    def highpass(x: np.ndarray) -> np.ndarray:
        return x - cv2.GaussianBlur(x, (0, 0), 1.0)

    h, w = luminance.shape
    hp = highpass(luminance.astype(np.float32))
    if where is None or where.sum() < 64:
        where = np.zeros((h, w), bool)
        where[int(0.55 * h):int(0.7 * h), int(0.3 * w):int(0.7 * w)] = True  # the cheeks of an aligned face
    level = 1.4826 * float(np.median(np.abs(hp[where])))
    noise = np.random.default_rng(0).standard_normal((h, w)).astype(np.float32)
    noise_level = 1.4826 * float(np.median(np.abs(highpass(noise))))
    return noise * (level / max(noise_level, 1e-6))




def limit_chroma(lab_o: np.ndarray, gain: np.ndarray, bound: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """``gain`` (a Lab change of ``lab_o``) with the result's chroma scaled back to ``bound`` where it exceeds it,
    and, outside ``allowed``, its hue turned back to the photo's (luminance kept)."""
    ab_o = lab_o[..., 1:]
    ab = ab_o + gain[..., 1:]
    c = np.hypot(ab[..., 0], ab[..., 1])
    co = np.hypot(ab_o[..., 0], ab_o[..., 1])
    if (c <= bound).all() and (allowed >= 1.0).all():
        return gain
    limited = ab * np.minimum(1.0, bound / np.maximum(c, 1e-6))[..., None]
    # the photo's own hue, at the result's chroma (capped): greying or darkening keeps the colour's direction
    own = ab_o * (np.minimum(c, bound) / np.maximum(co, 1e-6))[..., None]
    own = np.where((co > 1.0)[..., None], own, limited)  # a grey pixel has no hue to keep
    a = allowed[..., None]
    out = gain.copy()
    out[..., 1:] = (limited * a + own * (1.0 - a)) - ab_o
    return out.astype(np.float32)

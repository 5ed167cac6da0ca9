"""Image quality metrics on RGB uint8 images: PSNR and SSIM.

Identity (dlib's face-recognition distance) is measured by :mod:`faceedit.faces.identity`, the one implementation.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidInput
from ..images import check_image


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = check_image(a, "first image"), check_image(b, "second image")
    if a.shape != b.shape:
        raise InvalidInput(f"images differ in shape: {a.shape} vs {b.shape}")
    return a, b


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB of two RGB uint8 images (``inf`` when identical)."""
    a, b = _pair(a, b)
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def ssim(a: np.ndarray, b: np.ndarray, sigma: float = 1.5) -> float:
    """Structural similarity (Wang et al. 2004): Gaussian window (sigma 1.5, 11 taps), K1 = 0.01,
    K2 = 0.03, data range 255, computed per channel and averaged over channels and valid pixels."""
    import cv2

    a, b = _pair(a, b)
    x, y = a.astype(np.float64), b.astype(np.float64)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def blur(img: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(img, (11, 11), sigma, borderType=cv2.BORDER_REFLECT)

    mx, my = blur(x), blur(y)
    vx, vy, cxy = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    m = 5 if min(a.shape[:2]) > 20 else 0  # ignore the border, where the window leaves the image
    return float(s[m:s.shape[0] - m, m:s.shape[1] - m].mean())

"""Image quality metrics on RGB uint8 images: PSNR, SSIM, and dlib's face-recognition distance."""
from __future__ import annotations

import functools

import numpy as np

from .errors import InvalidInput
from .images import check_image


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


def face_descriptor(image: np.ndarray, upscale_to: int = 256) -> np.ndarray:
    """dlib's 128-d face-recognition descriptor of an aligned face image.

    The image is upscaled to ``upscale_to`` px and its central part (inset by 1/8, about where dlib's
    detector puts the box on an FFHQ-aligned crop) is taken as the face box; landmarks come from
    :func:`faceedit.alignment.landmarks_in_box`.  Meant for aligned crops; distances below about 0.6 mean
    "same person" in dlib's convention.
    """
    import dlib

    from .alignment import landmarks_in_box
    from .images import resize

    img = np.ascontiguousarray(resize(check_image(image), upscale_to))
    h, w = img.shape[:2]
    box = (w // 8, h // 8, w - w // 8, h - h // 8)
    points = landmarks_in_box(img, box)
    rect = dlib.rectangle(*box)
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in points])
    return np.asarray(_face_recogniser().compute_face_descriptor(img, shape), dtype=np.float32)


@functools.lru_cache(maxsize=1)
def _face_recogniser():
    import dlib
    import face_recognition_models

    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


def face_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Euclidean distance of dlib face descriptors of two aligned face images (lower = more alike)."""
    da, db = face_descriptor(a), face_descriptor(b)
    return float(np.linalg.norm(da - db))

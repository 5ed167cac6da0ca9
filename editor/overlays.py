"""Overlays drawn on the edited face in the editor's view (pure functions on RGB uint8 images)."""
from __future__ import annotations

import numpy as np


def difference_overlay(image: np.ndarray, original: np.ndarray) -> np.ndarray:
    """Grey picture of where ``image`` differs from ``original`` (largest channel difference, ×4)."""
    diff = np.abs(image.astype(np.int16) - original.astype(np.int16)).max(axis=2)
    return np.repeat(np.clip(diff * 4, 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def masks_overlay(image: np.ndarray, masks: dict[str, np.ndarray]) -> np.ndarray:
    """``image`` tinted red where any of the mixup ``masks`` (of its size) keeps the edit; unchanged without."""
    if not masks:
        return image
    m = np.zeros(image.shape[:2], np.float32)
    for mask in masks.values():
        mask = np.asarray(mask, np.float32)
        if mask.shape == m.shape:
            m = np.maximum(m, mask / max(1.0, float(mask.max())))
    color = np.zeros_like(image)
    color[..., 0] = 255
    return tint(image, color, m[..., None] * 0.5)


def tint(image: np.ndarray, color: np.ndarray, alpha: float | np.ndarray = 0.45) -> np.ndarray:
    """``image`` blended towards ``color`` by ``alpha`` (a number or a per-pixel ``(H, W, 1)`` map)."""
    out = image.astype(np.float32) * (1 - alpha) + color.astype(np.float32) * alpha
    return np.clip(out + 0.5, 0, 255).astype(np.uint8)

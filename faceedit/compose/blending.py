"""The one blending primitive of faceedit and the mask helpers around it.

:func:`blend` mixes an original and an edited image either through a keep-mask feathered by distance (the
mixups) or through a soft per-pixel weight (the edit transfer's new content, paste-back).  Every place that
mixes two images goes through it.
"""
from __future__ import annotations

import numpy as np

from ..errors import InvalidInput

FALLOFFS = ("linear", "exponential")
EXP_RATE = 3.0  # steepness of the exponential falloff: two thirds of the way at a third of the feather



def blend(
    original: np.ndarray,
    edited: np.ndarray,
    keep_mask: np.ndarray | None = None,
    feather_px: float = 0.0,
    falloff: str = "linear",
    *,
    alpha: np.ndarray | None = None,
) -> np.ndarray:
    """Restore ``original`` in ``keep_mask``, feathered over ``feather_px`` pixels into it.

    Soft form: ``alpha`` (float ``(H, W)`` in [0, 1], the weight of the original, any size: resized
    bilinearly) replaces ``keep_mask`` and ``feather_px``; ``out = alpha * original + (1 - alpha) * edited``
    with the same exact copies where alpha is 0 or 1.

    ``alpha = clip(dist / feather_px, 0, 1)`` where ``dist`` is the Euclidean distance of each pixel of
    the keep region to the nearest pixel outside it (0 outside); ``out = alpha * original + (1 - alpha)
    * edited``.  So the edit survives exactly outside the keep region and the original exactly from
    ``feather_px`` inside it on.  ``falloff="exponential"`` uses ``(1 - exp(-3 t)) / (1 - exp(-3))`` of
    ``t = clip(dist / feather_px, 0, 1)`` instead (same end points, a steeper start).

    Images: ``(H, W, 3)`` (or ``(H, W)``) arrays of the same shape, uint8 or float; the math is float32;
    the output is uint8 when both inputs are uint8, float32 otherwise.  ``keep_mask``: bool or uint8
    (non-zero = keep the original), ``(h, w)`` of any size (resized nearest to the image).
    """
    original, edited = _check_pair(original, edited)
    if alpha is not None:
        if keep_mask is not None:
            raise InvalidInput("blend takes a keep_mask or a soft alpha, not both")
        alpha = soft_alpha(alpha, original.shape[:2])
    elif keep_mask is None:
        raise InvalidInput("blend needs a keep_mask or a soft alpha")
    else:
        alpha = feather_alpha(keep_mask, original.shape[:2], feather_px, falloff)
    as_uint8 = original.dtype == np.uint8 and edited.dtype == np.uint8
    out = edited.copy() if as_uint8 else edited.astype(np.float32)
    # alpha 0 keeps the edited pixel and alpha 1 copies the original one (the formula gives the same
    # values; copying makes "exactly equal" hold by construction and is faster); compute only the rest
    full = alpha >= 1.0
    np.copyto(out, original, where=full[:, :, None] if original.ndim == 3 else full, casting="unsafe")
    part = np.flatnonzero((alpha > 0.0) & ~full)  # the feather: the only pixels that need the formula
    if part.size:
        a = alpha.ravel()[part][:, None]
        mixed = a * _pixels(original, part) + (1.0 - a) * _pixels(edited, part)
        if as_uint8:
            mixed = np.clip(np.rint(mixed), 0, 255).astype(np.uint8)
        out.reshape(alpha.size, -1)[part] = mixed
    return out


def soft_alpha(alpha: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Validate a float weight map in [0, 1] and resize it (bilinear) to ``shape``; float32 ``(H, W)``."""
    import cv2

    alpha = _as_2d(alpha, "alpha")
    if not np.issubdtype(alpha.dtype, np.floating):
        raise InvalidInput(f"alpha must be a float map in [0, 1]; got dtype {alpha.dtype}")
    if not np.isfinite(alpha).all():
        raise InvalidInput("alpha contains NaN or infinite values")
    alpha = alpha.astype(np.float32, copy=False)
    if alpha.shape != tuple(shape):
        alpha = cv2.resize(alpha, (int(shape[1]), int(shape[0])), interpolation=cv2.INTER_LINEAR)
    return np.clip(alpha, 0.0, 1.0)


def _pixels(image: np.ndarray, index: np.ndarray) -> np.ndarray:
    """The pixels at flat ``index`` as float32 rows ``(len(index), channels)``."""
    return image.reshape(image.shape[0] * image.shape[1], -1)[index].astype(np.float32)


def feather_alpha(
    keep_mask: np.ndarray, shape: tuple[int, int], feather_px: float, falloff: str = "linear"
) -> np.ndarray:
    """The blending weight of the original, float32 ``shape`` in [0, 1] (see :func:`blend`)."""
    if falloff not in FALLOFFS:
        raise InvalidInput(f"falloff must be one of {', '.join(FALLOFFS)}; got {falloff!r}")
    try:
        feather_px = float(feather_px)
    except (TypeError, ValueError):
        raise InvalidInput(f"feather_px must be a number; got {feather_px!r}") from None
    if not np.isfinite(feather_px) or feather_px < 0:
        raise InvalidInput(f"feather_px must be a finite number >= 0; got {feather_px}")
    keep = fit_mask(keep_mask, shape, "keep_mask")
    if feather_px == 0 or keep.all() or not keep.any():
        return keep.astype(np.float32)
    t = np.minimum(distance_to_outside(keep) / np.float32(feather_px), np.float32(1.0))
    if falloff == "exponential":
        curve = (1.0 - np.exp(-EXP_RATE * t)) / np.float32(1.0 - np.exp(-EXP_RATE))
        t = np.where(t >= 1.0, np.float32(1.0), np.minimum(curve, np.float32(1.0)))  # exactly 1 from the feather on
    return t.astype(np.float32, copy=False)


def distance_to_outside(mask: np.ndarray) -> np.ndarray:
    """Exact Euclidean distance (pixels, float32) of each pixel of ``mask`` to the nearest one outside it."""
    import cv2

    return cv2.distanceTransform(mask.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)


def dilate(mask: np.ndarray, radius_px: float) -> np.ndarray:
    """``mask`` grown by a Euclidean disk of ``radius_px`` pixels."""
    if radius_px <= 0 or not mask.any():
        return mask.copy()
    return distance_to_outside(~mask) <= radius_px


def fit_mask(mask: np.ndarray, shape: tuple[int, int], name: str = "mask") -> np.ndarray:
    """Validate a bool/uint8 mask and resize it (nearest) to ``shape``; returns a bool ``(H, W)`` array."""
    mask = _as_2d(mask, name)
    if mask.dtype != bool and mask.dtype != np.uint8:
        raise InvalidInput(
            f"{name} must be bool or uint8 (non-zero = selected); got dtype {mask.dtype} - threshold it first"
        )
    return resize_nearest(mask, shape) != 0


def resize_nearest(array: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of a 2-D array (masks, label maps, depth) to ``shape`` = (H, W).

    Output pixel centres are mapped to input pixels, so the result is symmetric and exact for integer
    scale factors.
    """
    h, w = int(shape[0]), int(shape[1])
    if array.shape == (h, w):
        return array
    rows = np.minimum(((np.arange(h) + 0.5) * array.shape[0] / h).astype(np.int64), array.shape[0] - 1)
    cols = np.minimum(((np.arange(w) + 0.5) * array.shape[1] / w).astype(np.int64), array.shape[1] - 1)
    return array[rows[:, None], cols[None, :]]


def _as_2d(array: np.ndarray, name: str) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim != 2 or array.size == 0:
        raise InvalidInput(f"{name} must be a non-empty 2-D array (H, W); got shape {array.shape}")
    return array


def _check_pair(original: np.ndarray, edited: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two images of the same shape, uint8 or float, ``(H, W, C)`` or ``(H, W)``."""
    out = []
    for name, image in (("original", original), ("edited", edited)):
        image = np.asarray(image)
        if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
            raise InvalidInput(f"{name} image must be uint8 or float; got dtype {image.dtype}")
        if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
            raise InvalidInput(f"{name} image must be (H, W, 3) or (H, W); got shape {image.shape}")
        out.append(image)
    if out[0].shape != out[1].shape:
        raise InvalidInput(f"original {out[0].shape} and edited {out[1].shape} images differ in shape")
    return out[0], out[1]



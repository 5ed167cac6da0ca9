"""Paste an (edited) aligned face back into its photo.

This sits above both :mod:`faceedit.faces.alignment` (the transform between the photo and the aligned face) and
:mod:`faceedit.faces.parsing` (the default mask is the parsed face and hair of the edit): face geometry stays
below parsing, and neither of them imports this module.

    out = paste_back(photo, edited_aligned, face.transform)            # parsed face-and-hair mask
    out = paste_back(photo, edited_aligned, face.transform, original_aligned=face.image)   # only the change
"""
from __future__ import annotations

import math

import numpy as np

from ..faces.alignment import _area_scale, _check_transform, _shrink, head_ellipse_mask, transform_points
from ..errors import InvalidInput, NoFaceFound
from ..images import check_image
from ..faces.parsing import face_hair_mask
from ..types import Face


def default_paste_mask(edited: np.ndarray, work_size: int = 256) -> np.ndarray:
    """The face-and-hair region of the edited aligned face (parsed at <= ``work_size``, holes filled),
    else the head ellipse; float ``(N, N)`` in 0..1."""
    import cv2

    n = edited.shape[0]
    k = max(1, n // work_size)
    try:
        mask = face_hair_mask(_shrink(edited, k)).astype(np.uint8)
    except NoFaceFound:
        return head_ellipse_mask(n)
    ks = max(3, int(0.04 * mask.shape[0]) | 1)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (ks, ks)))
    # fill holes: everything not reachable from the border through non-mask pixels
    outside = np.pad(1 - mask, 1, constant_values=1)
    flood = np.zeros((outside.shape[0] + 2, outside.shape[1] + 2), np.uint8)
    cv2.floodFill(outside, flood, (0, 0), 2)
    filled = (outside[1:-1, 1:-1] != 2).astype(np.float32)
    return cv2.resize(filled, (n, n), interpolation=cv2.INTER_LINEAR) if filled.shape[0] != n else filled


def paste_back(photo: np.ndarray, edited_aligned: np.ndarray, transform: np.ndarray,
               mask: np.ndarray | None = None, feather: float | None = None, poisson: bool = False,
               original_aligned: np.ndarray | None = None) -> np.ndarray:
    """Warp an (edited) aligned face back into its photo and blend it in; returns a new photo.

    ``transform`` maps pixels of ``edited_aligned`` to the photo (``Face.transform``; use
    :func:`faceedit.faces.alignment.rescale_transform` if the edited image has another size than the aligned
    one).  ``mask`` is an aligned-space ``(N, N)`` weight map (bool, uint8 0/255 or float 0..1) of what to take from the edit; by
    default the parsed face-and-hair region.  ``feather`` is the Gaussian softening of the mask edge in
    aligned pixels (default 1.5 % of N); the mask always fades out before the aligned square's border.
    ``poisson`` blends with OpenCV's seamless cloning (gradient domain) inside the feathered mask.
    ``original_aligned`` (the unedited aligned face, same size as the edit) pastes only the CHANGE
    ``edited - original``: the photo keeps its own resolution and detail where nothing changed, and an
    unedited round trip returns the photo exactly (not combinable with ``poisson``).
    """
    import cv2

    photo = check_image(photo, "photo")
    edited = check_image(edited_aligned, "edited_aligned")
    n = edited.shape[0]
    if edited.shape[1] != n:
        raise InvalidInput(f"edited_aligned must be square, got {edited.shape[1]}x{edited.shape[0]}")
    t = _check_transform(transform)
    if original_aligned is not None:
        original_aligned = check_image(original_aligned, "original_aligned")
        if original_aligned.shape != edited.shape:
            raise InvalidInput(f"original_aligned {original_aligned.shape} must match edited_aligned {edited.shape}")
        if poisson:
            raise InvalidInput("poisson blending pastes whole faces; it does not combine with original_aligned")
    alpha = _aligned_alpha(edited, mask, feather)

    h, w = photo.shape[:2]
    # the photo region the mask covers (the aligned square at most)
    ys, xs = np.nonzero(alpha > 1e-3)
    if len(xs) == 0:
        return photo.copy()
    ax0, ax1, ay0, ay1 = xs.min() - 1.5, xs.max() + 1.5, ys.min() - 1.5, ys.max() + 1.5
    corners = transform_points(t, [[ax0, ay0], [ax1, ay0], [ax1, ay1], [ax0, ay1]])
    x0, y0 = np.maximum(np.floor(corners.min(0)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(0)).astype(int) + 2, [w, h])
    if x1 <= x0 or y1 <= y0:
        raise InvalidInput("the aligned face lies outside the photo")
    roi_to_aligned = np.linalg.inv(t) @ np.array([[1.0, 0, x0], [0, 1.0, y0], [0, 0, 1]])
    # what is warped: the edited face, or only its difference to the original
    src = edited if original_aligned is None else edited.astype(np.float32) - original_aligned.astype(np.float32)
    src_alpha = alpha
    step = math.hypot(roi_to_aligned[0, 0], roi_to_aligned[1, 0])  # aligned pixels per photo pixel
    if step > 1.5:  # the face is smaller in the photo: area-downscale first
        src = _area_scale(src, 1.0 / step)
        src_alpha = _area_scale(alpha, 1.0 / step)
        f = src.shape[0] / n
        roi_to_aligned = np.array([[f, 0, 0.5 * f - 0.5], [0, f, 0.5 * f - 0.5], [0, 0, 1]]) @ roi_to_aligned
    size = (int(x1 - x0), int(y1 - y0))
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    face = cv2.warpAffine(src, roi_to_aligned[:2], size, flags=flags, borderMode=cv2.BORDER_REPLICATE)
    a = cv2.warpAffine(src_alpha, roi_to_aligned[:2], size, flags=flags, borderMode=cv2.BORDER_CONSTANT)

    region = photo[y0:y1, x0:x1]
    out = photo.copy()
    if original_aligned is not None:
        changed = region.astype(np.float32) + face * a[..., None]
        out[y0:y1, x0:x1] = np.clip(np.rint(changed), 0, 255).astype(np.uint8)
        return out
    if poisson:
        face = _seamless(face, region, a)
    out[y0:y1, x0:x1] = cv2.blendLinear(face, region, a, 1.0 - a)
    return out


def paste_change(photo: np.ndarray, edited: np.ndarray, face: Face) -> np.ndarray:
    """Paste only the change ``edited - face.image`` of an aligned face back into its ``photo``, over the
    whole aligned square (faded out at its border): every pixel the edit left alone stays the photo's."""
    if np.array_equal(edited, face.image):
        return photo
    everywhere = np.ones(edited.shape[:2], np.float32)
    return paste_back(photo, edited, face.transform, mask=everywhere, original_aligned=face.image)


def _aligned_alpha(edited: np.ndarray, mask: np.ndarray | None, feather: float | None) -> np.ndarray:
    """The feathered blend weight in aligned space, zero at the square's border."""
    import cv2

    n = edited.shape[0]
    if mask is None:
        m = default_paste_mask(edited)
    else:
        m = np.asarray(mask)
        if m.shape != (n, n):
            raise InvalidInput(f"mask must be ({n}, {n}) like the aligned image, got {m.shape}")
        m = m.astype(np.float32) / (255.0 if m.dtype == np.uint8 and m.max() > 1 else 1.0)
    sigma = 0.015 * n if feather is None else float(feather)
    if sigma < 0:
        raise InvalidInput(f"feather must be >= 0, got {feather}")
    # the feathered edge stays inside the square; smooth masks of big faces are blurred at <= 256 pixels
    k = max(1, min(n // 256, int(sigma // 2)))
    m = _shrink(m, k) if k > 1 else m.copy()
    sigma_k = sigma / k
    inset = int(math.ceil(3 * sigma_k)) + 1
    m[:inset], m[-inset:], m[:, :inset], m[:, -inset:] = 0, 0, 0, 0
    if sigma_k > 0:
        m = cv2.GaussianBlur(m, (0, 0), sigma_k)
    if m.shape[0] != n:
        m = cv2.resize(m, (n, n), interpolation=cv2.INTER_LINEAR)
    return np.clip(m, 0.0, 1.0)


def _seamless(face: np.ndarray, region: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Poisson-blend ``face`` into ``region`` where ``alpha > 0.5`` (gradient-domain, cv2.seamlessClone)."""
    import cv2

    binary = (alpha > 0.5).astype(np.uint8) * 255
    if not binary.any():
        return face
    pad = 8  # seamlessClone refuses masks that touch the destination border
    dst = cv2.copyMakeBorder(region, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    src = cv2.copyMakeBorder(face, pad, pad, pad, pad, cv2.BORDER_REFLECT_101)
    msk = cv2.copyMakeBorder(binary, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0)
    bx, by, bw, bh = cv2.boundingRect(msk)
    centre = (bx + bw // 2, by + bh // 2)
    cloned = cv2.seamlessClone(src, dst, msk, centre, cv2.NORMAL_CLONE)
    return cloned[pad:-pad, pad:-pad]

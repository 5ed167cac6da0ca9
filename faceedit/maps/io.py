"""Read, check and write segmentation maps of aligned faces (the 19 classes of :data:`faceedit.faces.parsing.CLASSES`).

A map file is either the class-index PNG that ``faceedit parse`` writes (``{stem}_labels.png``: one channel,
the class id of each pixel) or a colour PNG in :data:`faceedit.faces.parsing.PALETTE` (CelebAMask-HQ colours).  An
image whose three channels are equal everywhere is read as class ids, anything else as palette colours.  Maps
of any square size are resized with nearest neighbour.  Every problem is an :class:`~faceedit.errors.InvalidInput`
(or :class:`~faceedit.errors.ImageReadError` for a file that is no image) naming what is wrong.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidInput

MIN_SIDE = 8  # smaller maps cannot hold a face's parts


def labels_from_rgb(rgb: np.ndarray, name: str = "map") -> np.ndarray:
    """Class ids ``(H, W)`` uint8 of an RGB map: the ids themselves when R == G == B everywhere, else the
    palette colours looked up (an unknown colour is an error naming it)."""
    from ..faces.parsing import CLASSES, PALETTE

    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise InvalidInput(f"{name}: expected a (H, W) class-id map or an (H, W, 3) colour map of uint8, "
                           f"got {rgb.shape} {rgb.dtype}")
    if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all():
        return check_ids(rgb[..., 0], name)
    code = (rgb[..., 0].astype(np.int32) << 16) | (rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2]
    keys = (PALETTE[:, 0].astype(np.int32) << 16) | (PALETTE[:, 1].astype(np.int32) << 8) | PALETTE[:, 2]
    lookup = {int(k): i for i, k in enumerate(keys)}
    values, inverse = np.unique(code, return_inverse=True)
    unknown = [int(v) for v in values if int(v) not in lookup]
    if unknown:
        shown = ", ".join(f"({v >> 16}, {(v >> 8) & 255}, {v & 255})" for v in unknown[:3])
        raise InvalidInput(f"{name}: {len(unknown)} colour(s) not in the {len(CLASSES)}-class palette, e.g. "
                           f"{shown} (a colour map must use exactly faceedit.faces.parsing.PALETTE; save it as PNG)")
    ids = np.array([lookup[int(v)] for v in values], np.uint8)
    return ids[inverse.reshape(code.shape)]


def check_ids(labels: np.ndarray, name: str = "map") -> np.ndarray:
    """A ``(H, W)`` class-id array as uint8, refused when an id is not one of the classes."""
    from ..faces.parsing import CLASSES

    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise InvalidInput(f"{name}: expected a (H, W) class-id map, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= len(CLASSES)):
        bad = sorted({int(v) for v in np.unique(labels) if not 0 <= v < len(CLASSES)})
        raise InvalidInput(f"{name}: unknown class id(s) {bad[:5]} (ids are 0..{len(CLASSES) - 1}, "
                           f"faceedit.faces.parsing.CLASSES)")
    return labels.astype(np.uint8)


def check_map(labels: np.ndarray, size: int | None = None, name: str = "map") -> np.ndarray:
    """A face map ready to use: square, ids known, resized to ``size`` (nearest), with a face in it.

    Refused: a non-square or tiny map, unknown ids, an all-background map, a map without skin."""
    import cv2

    from ..faces.parsing import LABEL

    labels = check_ids(labels, name)
    h, w = labels.shape
    if h != w or h < MIN_SIDE:
        raise InvalidInput(f"{name}: expected a square map of an aligned face (at least {MIN_SIDE} px), "
                           f"got {w}x{h}")
    if not labels.any():
        raise InvalidInput(f"{name}: the map is empty (every pixel is background)")
    if not (labels == LABEL["skin"]).any():
        raise InvalidInput(f"{name}: the map has no face (no skin pixels)")
    if size is not None and size != h:
        labels = cv2.resize(labels, (size, size), interpolation=cv2.INTER_NEAREST)
        if not (labels == LABEL["skin"]).any():
            raise InvalidInput(f"{name}: no skin pixel is left at {size} px")
    return labels


def read_map(path: str | os.PathLike, size: int | None = None) -> np.ndarray:
    """Read a class-index or palette PNG (see the module docstring) as a checked ``(size, size)`` uint8 map."""
    from ..images import load_image

    path = Path(path)
    return check_map(labels_from_rgb(load_image(path), str(path)), size, str(path))


def as_map(map_or_path: np.ndarray | str | os.PathLike, size: int | None = None) -> np.ndarray:
    """A map given as a file, a ``(H, W)`` id array or an ``(H, W, 3)`` colour array, checked and resized."""
    if isinstance(map_or_path, (str, os.PathLike)):
        return read_map(map_or_path, size)
    return check_map(labels_from_rgb(np.asarray(map_or_path)) if np.ndim(map_or_path) == 3
                     else np.asarray(map_or_path), size)


def save_map(path: str | os.PathLike, labels: np.ndarray, colour: bool = False) -> None:
    """Write a map atomically: the one-channel class-index PNG (``faceedit parse``'s format) or, with
    ``colour``, the palette colours."""
    import cv2

    from ..images import save_image
    from ..io import atomic_path
    from ..faces.parsing import colorize

    labels = check_ids(labels)
    if colour:
        save_image(path, colorize(labels))
        return
    with atomic_path(path) as tmp:
        if not cv2.imwrite(str(tmp) if Path(path).suffix else f"{tmp}.png", labels):
            raise InvalidInput(f"{path}: cannot write a map there (use a .png name)")

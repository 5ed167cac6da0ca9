"""Face regions of FFHQ-aligned images, described in normalised coordinates and rasterised at any size.

A region is a list of shapes in ``[0, 1]`` image coordinates (x to the right, y down; ``(0, 0)`` is the
top-left corner of the image, ``(1, 1)`` the bottom-right one).  Shapes are applied in order; each adds
to the region, or removes from it when its kind starts with ``-``::

    ["rect", [x0, y0, x1, y1]]
    ["ellipse", [cx, cy, rx, ry]]            # or ["ellipse", [cx, cy, rx, ry], angle_degrees]
    ["polygon", [[x, y], [x, y], ...]]
    ["-polygon", [[x, y], ...]]              # subtract

The descriptions are plain lists (they survive a TOML round trip through :mod:`faceedit.config`), so a
config file can replace any of them.

Where the numbers come from: the 68 dlib landmarks of 116 real photos (``../shared/data/wild``, the first
120 files) were mapped into the FFHQ alignment quad (eye/mouth landmarks → oriented square, as the
FFHQ data set was made) and averaged.  Mean positions in that frame (std over faces ≈ 0.006-0.008 for the
eyes, 0.03 vertically for the chin): eye centres (0.378, 0.475) and (0.622, 0.474), eyebrows at
y ≈ 0.385-0.42, nose bridge (0.50, 0.47) to tip (0.500, 0.668), nostrils x 0.444-0.555 at y ≈ 0.65,
mouth corners (0.385, 0.728) and (0.613, 0.727), lips y 0.707-0.799, chin (0.498, 0.932), jaw
x 0.219-0.777 at eye height.  These agree with the alignment recipe itself: the quad is centred on
``eye_avg + 0.1 * eye_to_mouth`` and its half size is ``2 * |eye_to_eye|`` for typical faces, which puts
the eyes at x = 0.5 ± 0.125 and y ≈ 0.475.  ``benchmarks/mixups.py --landmarks N`` re-measures them with
:mod:`faceedit.faces.alignment`.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import ConfigError, InvalidInput

Shape = Sequence[Any]

# The outline of the face (jaw landmarks 0-16, then over the eyebrows); the hair area is the rest.
_FACE_OUTLINE = [
    [0.219, 0.477], [0.221, 0.551], [0.229, 0.625], [0.243, 0.698], [0.271, 0.766], [0.315, 0.826],
    [0.368, 0.878], [0.429, 0.920], [0.498, 0.932], [0.566, 0.919], [0.626, 0.876], [0.678, 0.825],
    [0.722, 0.766], [0.750, 0.698], [0.766, 0.626], [0.774, 0.552], [0.777, 0.478],
    [0.745, 0.420], [0.690, 0.385], [0.600, 0.380], [0.500, 0.400], [0.400, 0.380], [0.310, 0.385],
    [0.255, 0.420],
]

#: Region name → shapes.  Measured on FFHQ-aligned faces (see the module docstring).
REGIONS: dict[str, list[list[Any]]] = {
    # everything but the face (the forehead stays in, for bangs) and the neck below it
    "hair": [
        ["rect", [0.0, 0.0, 1.0, 1.0]],
        ["-polygon", _FACE_OUTLINE],
        ["-polygon", [[0.34, 0.85], [0.66, 0.85], [0.74, 1.0], [0.26, 1.0]]],
    ],
    # a band under each eye (the lower lids are at y ≈ 0.488)
    "under_eyes": [
        ["ellipse", [0.378, 0.525, 0.075, 0.035]],
        ["ellipse", [0.622, 0.525, 0.075, 0.035]],
    ],
    # both eyes with their lids
    "eyes": [
        ["ellipse", [0.378, 0.474, 0.070, 0.040]],
        ["ellipse", [0.622, 0.474, 0.070, 0.040]],
    ],
    # from the bridge to the nostrils
    "nose": [
        ["polygon", [[0.465, 0.450], [0.535, 0.450], [0.575, 0.620], [0.590, 0.675], [0.500, 0.695],
                     [0.410, 0.675], [0.425, 0.620]]],
    ],
    # the lips and the mouth corners
    "mouth": [
        ["ellipse", [0.500, 0.752, 0.140, 0.070]],
    ],
    # the lower jaw, the chin and the neck below it
    "chin_neck": [
        ["polygon", [[0.27, 0.77], [0.36, 0.82], [0.64, 0.82], [0.73, 0.77], [0.78, 1.0], [0.22, 1.0]]],
    ],
}


def rasterize(shapes: Sequence[Shape], size: int | tuple[int, int]) -> np.ndarray:
    """Draw a region description as a bool mask ``(H, W)``; ``size`` is an int (square) or ``(H, W)``.

    A pixel belongs to a shape when its centre does, so the same description gives the same region at
    64, 256, 512 or 1024 px.
    """
    h, w = (size, size) if isinstance(size, (int, np.integer)) else (int(size[0]), int(size[1]))
    if h <= 0 or w <= 0:
        raise InvalidInput(f"region size must be positive; got {(h, w)}")
    if isinstance(shapes, (str, bytes, Mapping)):
        raise ConfigError(f"a region is a list of shapes; got {shapes!r}")
    xs = (np.arange(w, dtype=np.float64) + 0.5) / w  # pixel centres, normalised
    ys = (np.arange(h, dtype=np.float64) + 0.5) / h
    mask = np.zeros((h, w), dtype=bool)
    for shape in shapes:
        kind, inside = _shape_mask(shape, xs, ys)
        if kind.startswith("-"):
            mask &= ~inside
        else:
            mask |= inside
    return mask


def _shape_mask(shape: Shape, xs: np.ndarray, ys: np.ndarray) -> tuple[str, np.ndarray]:
    """The kind of one shape and the pixels (by centre) inside it."""
    if isinstance(shape, (str, bytes, Mapping)) or len(shape) not in (2, 3) or not isinstance(shape[0], str):
        raise ConfigError(f"a region shape is [kind, coordinates] (kind rect/ellipse/polygon); got {shape!r}")
    kind = shape[0]
    try:
        params = np.asarray(shape[1], dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError(f"region shape {kind} has non-numeric coordinates: {shape[1]!r}") from None
    base = kind.lstrip("-")
    if base == "rect" and params.shape == (4,):
        x0, y0, x1, y1 = params
        return kind, ((ys >= y0) & (ys < y1))[:, None] & ((xs >= x0) & (xs < x1))[None, :]
    if base == "ellipse" and params.shape == (4,) and params[2] > 0 and params[3] > 0:
        cx, cy, rx, ry = params
        t = np.deg2rad(float(shape[2]) if len(shape) == 3 else 0.0)
        dx, dy = xs[None, :] - cx, ys[:, None] - cy
        u = dx * np.cos(t) + dy * np.sin(t)
        v = -dx * np.sin(t) + dy * np.cos(t)
        return kind, (u / rx) ** 2 + (v / ry) ** 2 <= 1.0
    if base == "polygon" and params.ndim == 2 and params.shape[1] == 2 and len(params) >= 3:
        return kind, _polygon_mask(params, xs, ys)
    raise ConfigError(
        f"bad region shape {shape!r}: expected ['rect', [x0, y0, x1, y1]], ['ellipse', [cx, cy, rx, ry]"
        "(, angle)] with positive radii, or ['polygon', [[x, y], ...]] with at least 3 points "
        "(a leading '-' on the kind subtracts)"
    )


def _polygon_mask(points: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Even-odd rule on pixel centres, all rows at once (exact at any size)."""
    x0, y0 = points[:, 0], points[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    y = ys[:, None]
    crosses = (y0[None, :] <= y) != (y1[None, :] <= y)  # (H, edges)
    with np.errstate(divide="ignore", invalid="ignore"):
        xc = x0 + (y - y0) / (y1 - y0) * (x1 - x0)  # crossing x per row and edge
    # a pixel is inside when an odd number of crossings lie at or left of its centre (j + 0.5) / w:
    # each crossing toggles every pixel from index ceil(xc * w - 0.5) on
    w = len(xs)
    rows, edges = np.nonzero(crosses)
    start = np.clip(np.ceil(xc[rows, edges] * w - 0.5), 0, w).astype(np.int64)
    toggles = np.zeros((len(ys), w + 1), dtype=np.int32)
    np.add.at(toggles, (rows, start), 1)
    return np.cumsum(toggles[:, :w], axis=1) % 2 == 1

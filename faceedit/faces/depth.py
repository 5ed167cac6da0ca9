"""Depth of a face photo: one interface, relative inverse depth (larger = nearer), ``(H, W)`` float32.

- ``"template"`` (default, offline, deterministic): a generic 3D face (a smooth parametric surface; the 68
  landmarks lie on it) posed by ``cv2.solvePnP`` against the image's landmarks and rasterised with a
  z-buffer into a dense face depth; the rest of the person (from the parser) at a middle depth, the
  background farthest.  Values are normalised so that the nearest point is 1.
- ``"dpt"``: DPT, the MiDaS v3 network (:mod:`faceedit.models.dpt`, plain PyTorch, no extra packages), from a
  user-supplied checkpoint (``dpt_hybrid-midas-501f0c75.pt`` or ``dpt_large-midas-2f21e586.pt``: the ``weights``
  argument, ``$FACEEDIT_DPT`` or the ``dpt-hybrid`` / ``dpt-large`` entries of the weights cache).  MiDaS predicts
  inverse depth up to an unknown scale and shift, so the map is normalised to [0, 1] (farthest 0, nearest 1).
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np

from ..errors import InvalidInput
from ..images import check_image

BACKENDS = ("template", "dpt")
WORK_SIDE = 384  # the template is rendered on a copy whose long side is at most this

# The median 68-landmark shape of FFHQ-aligned faces (fractions of the aligned image; measured once on
# real photos, then made left-right symmetric by :func:`_template_landmarks`).
MEAN_SHAPE_FFHQ = np.array([
    [0.229, 0.475], [0.233, 0.549], [0.242, 0.621], [0.252, 0.692], [0.274, 0.762], [0.315, 0.821],
    [0.368, 0.873], [0.429, 0.917], [0.499, 0.927], [0.566, 0.914], [0.627, 0.871], [0.678, 0.817],
    [0.719, 0.758], [0.743, 0.689], [0.758, 0.619], [0.77, 0.547], [0.773, 0.472], [0.272, 0.422],
    [0.308, 0.397], [0.356, 0.391], [0.404, 0.4], [0.451, 0.418], [0.548, 0.416], [0.596, 0.395],
    [0.643, 0.387], [0.691, 0.394], [0.728, 0.422], [0.5, 0.471], [0.498, 0.522], [0.498, 0.572],
    [0.498, 0.623], [0.447, 0.647], [0.472, 0.659], [0.499, 0.669], [0.525, 0.658], [0.553, 0.648],
    [0.327, 0.476], [0.358, 0.458], [0.395, 0.459], [0.427, 0.482], [0.392, 0.489], [0.356, 0.488],
    [0.573, 0.482], [0.605, 0.459], [0.642, 0.456], [0.673, 0.475], [0.644, 0.487], [0.609, 0.488],
    [0.387, 0.729], [0.427, 0.713], [0.469, 0.707], [0.5, 0.714], [0.531, 0.709], [0.573, 0.714],
    [0.612, 0.73], [0.574, 0.771], [0.534, 0.791], [0.501, 0.795], [0.468, 0.792], [0.424, 0.771],
    [0.404, 0.731], [0.469, 0.732], [0.501, 0.736], [0.532, 0.733], [0.594, 0.733], [0.531, 0.753],
    [0.499, 0.758], [0.469, 0.755]])
# dlib index of each landmark's mirror image
MIRROR = np.array([*range(16, -1, -1), *range(26, 16, -1), 27, 28, 29, 30, 35, 34, 33, 32, 31,
                   45, 44, 43, 42, 47, 46, 39, 38, 37, 36, 41, 40, 54, 53, 52, 51, 50, 49, 48, 59, 58, 57,
                   56, 55, 64, 63, 62, 61, 60, 67, 66, 65])
FACE_UNIT = 0.27  # half the jaw width in FFHQ fractions: template units
EYE_LEVEL = 0.47
# the template's extent (units): across the jaw, from below the chin to the hairline
X_RANGE, Y_RANGE = (-1.12, 1.12), (-1.78, 1.35)
BACKGROUND_DISTANCE = 6.0  # background plane, in face half-widths behind the face
PERSON_DISTANCE = 0.8  # rest of the person (hair, neck, body): about the depth of the ears
DPT_REGISTRY_NAMES = ("dpt-hybrid", "dpt-large")  # weights cache entries, in order of preference


def face_surface(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Height of the generic face towards the camera at template coordinates (x right, y up, eyes at y=0).

    Units: half the jaw width.  A flattened ellipsoid plus a nose ridge, eye sockets, brow ridge, lips
    and chin, with proportions from anthropometric averages (nose about 0.45 units high at the tip).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    base = 0.85 * np.sqrt(np.clip(1 - (x / 1.12) ** 2 - ((y + 0.2) / 1.95) ** 2, 0, 1))
    # nose: a ridge from the nasion (y=0) growing to the tip (y=-0.57), then dropping to the lip
    ridge = np.where(y >= -0.57, 0.45 * np.clip((0.08 - y) / 0.65, 0, 1), 0.45 * np.exp(-((y + 0.57) / 0.1) ** 2))
    width = 0.07 + 0.14 * np.clip(-y / 0.6, 0, 1)
    nose = ridge * np.exp(-0.5 * (x / width) ** 2)
    sockets = -0.12 * (np.exp(-((x - 0.53) ** 2 + 1.5 * y ** 2) / (2 * 0.17 ** 2))
                       + np.exp(-((x + 0.53) ** 2 + 1.5 * y ** 2) / (2 * 0.17 ** 2)))
    brows = 0.05 * np.exp(-0.5 * ((y - 0.25) / 0.1) ** 2) * np.exp(-0.5 * (x / 0.7) ** 2)
    lips = 0.08 * np.exp(-0.5 * ((x / 0.3) ** 2 + ((y + 0.97) / 0.16) ** 2))
    chin = 0.06 * np.exp(-0.5 * ((x / 0.35) ** 2 + ((y + 1.5) / 0.2) ** 2))
    return base + nose + sockets + brows + lips + chin


@functools.lru_cache(maxsize=1)
def _template_landmarks() -> np.ndarray:
    """The 68 landmarks of the generic face in camera-style model coordinates (x right, y DOWN, z AWAY)."""
    mirrored = MEAN_SHAPE_FFHQ[MIRROR] * [-1, 1] + [1, 0]
    shape = (MEAN_SHAPE_FFHQ + mirrored) / 2
    x = (shape[:, 0] - 0.5) / FACE_UNIT
    y = (EYE_LEVEL - shape[:, 1]) / FACE_UNIT
    return np.stack([x, -y, -face_surface(x, y)], axis=1)


def estimate_depth(image: np.ndarray, backend: str = "template", landmarks: np.ndarray | None = None,
                   labels: np.ndarray | None = None, weights: str | os.PathLike | None = None) -> np.ndarray:
    """Relative inverse depth ``(H, W)`` float32 in [0, 1] of a face image (larger = nearer).

    ``landmarks`` (68, image pixels) skip detection; ``labels`` (a parsing map) skip the parser that
    separates the person from the background (template backend).  ``weights``: the DPT checkpoint (dpt
    backend; see :func:`dpt_weights_path`).
    """
    image = check_image(image)
    if backend == "template":
        from .alignment import face_landmarks

        lm = face_landmarks(image, landmarks)
        if labels is None:
            from .parsing import parse

            labels = parse(image, landmarks=lm)
        labels = np.asarray(labels)
        if labels.shape != image.shape[:2]:
            raise InvalidInput(f"labels {labels.shape} do not match the image {image.shape[:2]}")
        return _template_depth(image.shape[:2], lm, labels > 0)
    if backend == "dpt":
        return _dpt_depth(image, weights)
    raise InvalidInput(f"unknown depth backend {backend!r}; choose one of {', '.join(BACKENDS)}")


def fit_pose(landmarks: np.ndarray, image_shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pose of the generic face from 68 landmarks: rotation vector, translation and camera matrix."""
    import cv2

    h, w = image_shape
    f = float(max(h, w))
    camera = np.array([[f, 0, (w - 1) / 2], [0, f, (h - 1) / 2], [0, 0, 1]])
    points = np.ascontiguousarray(landmarks, dtype=np.float64)
    # SQPnP finds the global optimum (the iterative solver alone can flip the face behind the camera)
    ok, rvec, tvec = cv2.solvePnP(_template_landmarks(), points, camera, None, flags=cv2.SOLVEPNP_SQPNP)
    if not ok or tvec[2, 0] <= 0:
        raise InvalidInput("could not fit the face template to these landmarks")
    return rvec, tvec, camera


def _template_depth(shape: tuple[int, int], landmarks: np.ndarray, person: np.ndarray) -> np.ndarray:
    """Rasterise the posed template (z-buffer on a working copy), add person and background depths."""
    import cv2

    h, w = shape
    s = min(1.0, WORK_SIDE / max(h, w))
    wh, ww = max(1, round(h * s)), max(1, round(w * s))
    lm = (landmarks + 0.5) * [ww / w, wh / h] - 0.5
    rvec, tvec, camera = fit_pose(lm, (wh, ww))
    rot, _ = cv2.Rodrigues(rvec)
    scale = camera[0, 0] / tvec[2, 0]  # working pixels per template unit, about
    step = 1.0 / max(scale * 1.6, 1.0)  # sample finer than a pixel so that the splats leave no holes
    xs = np.arange(X_RANGE[0], X_RANGE[1], step)
    ys = np.arange(Y_RANGE[0], Y_RANGE[1], step)
    gx, gy = np.meshgrid(xs, ys)
    inside = (gx / 1.12) ** 2 + ((gy + 0.2) / 1.95) ** 2 < 1
    gx, gy = gx[inside], gy[inside]
    pts = np.stack([gx, -gy, -face_surface(gx, gy)], axis=1)
    cam = pts @ rot.T + tvec[:, 0]
    z = cam[:, 2]
    u = np.rint(camera[0, 0] * cam[:, 0] / z + camera[0, 2]).astype(np.int64)
    v = np.rint(camera[1, 1] * cam[:, 1] / z + camera[1, 2]).astype(np.int64)
    ok = (u >= 0) & (u < ww) & (v >= 0) & (v < wh) & (z > 0)
    zbuf = np.full(wh * ww, np.inf)
    np.minimum.at(zbuf, v[ok] * ww + u[ok], z[ok])
    zbuf = zbuf.reshape(wh, ww)
    face = np.isfinite(zbuf)
    # close pinholes of the splatting
    filled = cv2.erode(np.where(face, zbuf, 1e9).astype(np.float32), np.ones((3, 3), np.uint8))
    hole = ~face & (cv2.morphologyEx(face.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((3, 3), np.uint8)) > 0)
    zbuf[hole] = filled[hole]
    face |= hole

    centre_z = float(tvec[2, 0])
    person_small = cv2.resize(person.astype(np.uint8), (ww, wh), interpolation=cv2.INTER_NEAREST) > 0
    depth = np.full((wh, ww), centre_z + BACKGROUND_DISTANCE, np.float64)
    depth[person_small] = centre_z + PERSON_DISTANCE
    depth[face] = np.minimum(zbuf[face], centre_z + PERSON_DISTANCE)
    inv = (1.0 / depth).astype(np.float32)
    inv = cv2.GaussianBlur(inv, (0, 0), 0.6)
    inv /= inv.max()
    if (wh, ww) != (h, w):
        inv = cv2.resize(inv, (w, h), interpolation=cv2.INTER_LINEAR)
    return inv


def dpt_weights_path(weights: str | os.PathLike | None = None) -> Path:
    """The DPT checkpoint: the argument, ``$FACEEDIT_DPT``, or the cached ``dpt-hybrid`` / ``dpt-large`` file
    (:func:`faceedit.models.weights.find_weights`: CheckpointError for a path that does not exist,
    WeightsNotAvailable saying where to get the files when none is given and none is cached)."""
    from ..models.weights import find_weights

    return find_weights(DPT_REGISTRY_NAMES, weights, env="FACEEDIT_DPT",
                        need="the 'dpt' depth backend needs a MiDaS v3 checkpoint")


@functools.lru_cache(maxsize=1)
def _cached_dpt(path: str, mtime_ns: int, size: int):
    """The loaded DPT of one file version (a 123-344 M parameter model: keep the last one)."""
    from ..models.dpt import load_dpt

    return load_dpt(path)


def _dpt_depth(image: np.ndarray, weights: str | os.PathLike | None) -> np.ndarray:
    """DPT inverse depth, min-max normalised to [0, 1] (a constant map gives zeros)."""
    from ..models.dpt import predict

    path = dpt_weights_path(weights)
    stat = path.stat()
    from ..devices import network_device

    model = _cached_dpt(str(path.resolve()), stat.st_mtime_ns, stat.st_size).to(network_device())
    raw = predict(model, image)
    lo, hi = float(raw.min()), float(raw.max())
    if not hi > lo:
        return np.zeros_like(raw)
    return ((raw - lo) / (hi - lo)).astype(np.float32)

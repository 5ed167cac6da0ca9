"""Identity embeddings of aligned faces: dlib's face-recognition ResNet (128-d descriptors).

Distances between descriptors measure identity drift of an edit (dlib's usual same-person threshold is
0.6).  Small aligned faces (e.g. 64 px) are upscaled first; landmarks come from the 68-point predictor
in the known FFHQ face box (or from detection when it finds a face), as dlib's model expects.
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from .images import check_image, resize

#: dlib's frontal-face box in an FFHQ-aligned image (fractions of the side), measured on aligned photos
FFHQ_FACE_BOX = (0.18, 0.32, 0.785, 0.855)
#: side to which faces are upscaled before landmarks and descriptors
WORK_SIZE = 256
#: dlib's usual threshold: descriptors closer than this are the same person
SAME_PERSON = 0.6


@functools.lru_cache(maxsize=1)
def _face_recognition_model():
    import dlib
    import face_recognition_models

    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


def descriptors(images: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """128-d dlib descriptors ``(N, 128)`` float32 of aligned RGB uint8 faces."""
    import dlib

    from .alignment import landmarks_in_box

    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[None]
    model = _face_recognition_model()
    out = []
    for img in images:
        img = check_image(img, "face")
        if img.shape[0] != WORK_SIZE or img.shape[1] != WORK_SIZE:
            img = resize(img, WORK_SIZE)
        box = [v * WORK_SIZE for v in FFHQ_FACE_BOX]
        pts = landmarks_in_box(img, box)
        rect = dlib.rectangle(*(int(round(v)) for v in box))
        shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
        out.append(np.array(model.compute_face_descriptor(np.ascontiguousarray(img), shape), dtype=np.float32))
    return np.stack(out)


def identity_distance(a: np.ndarray | Sequence[np.ndarray], b: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Per-pair descriptor distance ``(N,)`` between two equally long lists of aligned faces."""
    da, db = descriptors(a), descriptors(b)
    if da.shape != db.shape:
        raise ValueError(f"{len(da)} faces vs {len(db)} faces")
    return np.linalg.norm(da - db, axis=1)

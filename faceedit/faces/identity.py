"""Identity of aligned faces: dlib's face-recognition ResNet (128-d descriptors) — the project's one
implementation, used by every benchmark, report and test that measures identity.

Convention (the numbers of the model card, the translation reports and the benchmarks all use it):

- input: RGB uint8 faces aligned the FFHQ way (``faceedit.align`` / ``faceedit.faces.alignment.align_face``,
  the training crops of ``faceedit train prepare-data``), any square size;
- every face is resized to :data:`WORK_SIZE` (256) px first (``faceedit.images.resize``: cubic up, area down),
  so 64 px renders and 64 px photo crops are compared alike;
- the 68 landmarks come from dlib's shape predictor run on the known face box of an FFHQ-aligned face,
  :data:`FFHQ_FACE_BOX` (fractions of the side: left 0.18, top 0.32, right 0.785, bottom 0.855), never from
  detection — so a blurry render in which dlib's detector finds no face still gets a descriptor, the same way
  as a photo (on aligned 256 px photos the detector's median box is (0.18, 0.316, 0.785, 0.889));
- dlib aligns its 150 px chip from those landmarks and returns the descriptor (no jitter);
- the Euclidean distance of two descriptors below :data:`SAME_PERSON` (0.6) reads "the same person",
  above it "another person" (dlib's own threshold).

This is a measuring instrument: it is never part of a training or calibration loss of the generator, the
encoder or the translations (issue 19, target 4).
"""
from __future__ import annotations

import functools
from typing import Sequence

import numpy as np

from ..errors import InvalidInput
from ..images import check_image, resize

#: dlib's frontal-face box in an FFHQ-aligned image (fractions of the side: left, top, right, bottom)
FFHQ_FACE_BOX = (0.18, 0.32, 0.785, 0.855)
#: side to which faces are resized before landmarks and descriptors
WORK_SIZE = 256
#: dlib's usual threshold: descriptors closer than this are the same person
SAME_PERSON = 0.6
#: length of a descriptor
DIM = 128


@functools.lru_cache(maxsize=1)
def _face_recognition_model():
    import dlib
    import face_recognition_models

    return dlib.face_recognition_model_v1(face_recognition_models.face_recognition_model_location())


def descriptor(image: np.ndarray) -> np.ndarray:
    """The 128-d dlib descriptor ``(128,)`` float32 of one aligned RGB uint8 face (see the module docstring)."""
    import dlib

    from .alignment import landmarks_in_box

    img = check_image(image, "face")
    if img.shape[0] != WORK_SIZE or img.shape[1] != WORK_SIZE:
        img = resize(img, WORK_SIZE)
    img = np.ascontiguousarray(img)
    box = [v * WORK_SIZE for v in FFHQ_FACE_BOX]
    pts = landmarks_in_box(img, box)
    rect = dlib.rectangle(*(int(round(v)) for v in box))
    shape = dlib.full_object_detection(rect, [dlib.point(int(round(x)), int(round(y))) for x, y in pts])
    return np.array(_face_recognition_model().compute_face_descriptor(img, shape), dtype=np.float32)


def descriptors(images: np.ndarray | Sequence[np.ndarray], progress: bool | str = False) -> np.ndarray:
    """128-d dlib descriptors ``(N, 128)`` float32 of aligned RGB uint8 faces (one face ``(H, W, 3)`` gives
    ``(1, 128)``); ``progress`` shows a progress bar (a string is its label)."""
    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = images[None]
    if len(images) == 0:
        return np.zeros((0, DIM), np.float32)
    if progress:
        from tqdm import tqdm

        images = tqdm(images, desc=progress if isinstance(progress, str) else "dlib descriptors", unit="face")
    return np.stack([descriptor(img) for img in images])


def identity_distance(a: np.ndarray | Sequence[np.ndarray], b: np.ndarray | Sequence[np.ndarray]) -> np.ndarray:
    """Per-pair descriptor distance ``(N,)`` between two equally long lists of aligned faces (< 0.6: the
    same person)."""
    da, db = descriptors(a), descriptors(b)
    if da.shape != db.shape:
        raise InvalidInput(f"{len(da)} faces vs {len(db)} faces")
    return np.linalg.norm(da - db, axis=1)

"""The editor's edit modes, without Qt: how a full render reaches the face.

* ``transfer`` (default): the generator's edit ``R = G(w) → E = G(w + d)`` is carried onto the aligned
  photo face at its own resolution by :func:`faceedit.compose.transfer.transfer_edit` (the face stays a photograph);
* ``replace``: the render replaces the face (the editor's behaviour before transfer existed).

:class:`FaceTransfer` holds what one face needs for the transfer: its aligned original at full resolution,
the reconstruction ``R`` (rendered once per face) and the original's parsing (made once per face), plus the
last :class:`~faceedit.compose.transfer.TransferResult` (the editor's overlays draw its maps).  Photos are aligned
at the face's own size in the photo (:func:`faceedit.compose.photo_edit.aligned_size`) so that the transfer has
the photo's detail.
"""
from __future__ import annotations

import threading
from typing import Callable, Iterable

import numpy as np

from faceedit.errors import InvalidInput, NoFaceFound
from faceedit.compose.photo_edit import ALIGNED_MAX as ALIGN_MAX
from faceedit.compose.photo_edit import ALIGNED_MIN as ALIGN_MIN
from faceedit.compose.photo_edit import aligned_side, aligned_size
from faceedit.compose.transfer import EDIT_MODES, MAP_KINDS, TransferResult, map_picture, transfer_edit
from faceedit.types import Face

DEFAULT_EDIT_MODE = "transfer"
LABELS_SIDE = 256  # the original is parsed at this size for the transfer's policies (it works at 256)
NO_PHOTO_NOTE = "transfer: no photo behind this face (generated or a latent): showing the generator's render"

__all__ = ["ALIGN_MAX", "ALIGN_MIN", "DEFAULT_EDIT_MODE", "EDIT_MODES", "MAP_KINDS", "FaceTransfer",
           "aligned_side", "align_faces", "check_edit_mode", "edit_names", "map_overlay"]


def check_edit_mode(mode: str) -> str:
    """``mode`` when it is one of :data:`EDIT_MODES`, else :class:`~faceedit.errors.InvalidInput`."""
    if mode not in EDIT_MODES:
        raise InvalidInput(f"unknown edit mode {mode!r}; known: {', '.join(EDIT_MODES)}")
    return mode


def align_faces(photo: np.ndarray, detect_lock: threading.RLock | None = None) -> list[Face]:
    """Every face of ``photo``, largest first, each FFHQ-aligned at its own size
    (:func:`faceedit.compose.photo_edit.aligned_size`); :class:`~faceedit.errors.NoFaceFound` when there is none."""
    from contextlib import nullcontext

    from faceedit.faces.alignment import align_face, detect_faces

    with detect_lock or nullcontext():
        found = detect_faces(photo)
    if not found:
        raise NoFaceFound("no face found")
    faces = []
    for i, (box, landmarks) in enumerate(found):
        face = align_face(photo, landmarks, aligned_size(landmarks))
        face.meta.update(index=i, box=[float(v) for v in box], faces_found=len(found))
        faces.append(face)
    return faces


def fit_aligned(image: np.ndarray) -> np.ndarray:
    """An already aligned face image at a side :func:`aligned_side` allows (square, RGB uint8)."""
    from faceedit.images import resize

    return resize(image, aligned_side(max(image.shape[:2])))


def edit_names(values: Iterable[str]) -> list[str] | None:
    """The translation names of the active slider keys, as the transfer's policy wants them; ``None``
    (every change allowed) when a PCA component or a direction takes part, since those have no policy."""
    names = []
    for key in values:
        kind, _, name = key.partition(":")
        if kind != "translation":
            return None
        names.append(name)
    return names or None


def map_overlay(result: TransferResult | None, kind: str, size: int) -> np.ndarray | None:
    """The picture of transfer map ``kind`` (one of :data:`MAP_KINDS`) at ``size`` pixels, or None when
    there is no transfer result to draw."""
    if kind not in MAP_KINDS:
        raise InvalidInput(f"unknown transfer map {kind!r}; known: {', '.join(MAP_KINDS)}")
    if result is None:
        return None
    from faceedit.images import resize

    return resize(map_picture(result, kind), size)


class FaceTransfer:
    """The transfer of one face: full-resolution original, cached reconstruction and parsing, last result.

    ``landmarks``: a callable giving the original's 68 landmarks in aligned pixels at a given size (so the
    parsing needs no detection).  Made on the GUI thread when a face is set, used on the render worker.
    """

    def __init__(self, original: np.ndarray, landmarks: Callable[[int], np.ndarray] | None = None,
                 lock: threading.RLock | None = None) -> None:
        self.original = original
        self._landmarks = landmarks
        self._lock = lock or threading.RLock()  # dlib (parsing) is not thread-safe
        self._reconstruction: np.ndarray | None = None
        self._labels: np.ndarray | None | bool = False  # False: not parsed yet; None: could not be parsed
        self.last: TransferResult | None = None

    def reconstruction(self, render: Callable[[], np.ndarray]) -> np.ndarray:
        """``R = G(w)`` of the face, rendered by ``render()`` the first time only."""
        if self._reconstruction is None:
            self._reconstruction = render()
        return self._reconstruction

    def labels(self) -> np.ndarray | None:
        """The original's CelebAMask-HQ parsing at :data:`LABELS_SIDE` (once per face; None if it fails)."""
        if self._labels is False:
            from faceedit.images import resize
            from faceedit.faces.parsing import parse

            side = min(LABELS_SIDE, self.original.shape[0])
            small = resize(self.original, side)
            with self._lock:
                try:
                    lm = self._landmarks(side) if self._landmarks is not None else None
                    self._labels = parse(small, landmarks=lm)
                except NoFaceFound:
                    self._labels = None
        return self._labels  # type: ignore[return-value]

    def run(self, reconstruction: np.ndarray, edited: np.ndarray, names: list[str] | None) -> TransferResult:
        """Carry ``reconstruction → edited`` onto the original; the result is also kept as :attr:`last`."""
        labels = self.labels()
        if labels is None:  # transfer_edit would try to parse (dlib) itself
            with self._lock:
                result = transfer_edit(self.original, reconstruction, edited, names, labels=None)
        else:
            result = transfer_edit(self.original, reconstruction, edited, names, labels=labels)
        self.last = result
        return result

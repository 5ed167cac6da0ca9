"""The editor's Map mode (issue 21): the face's parsing map as an editable layer; the face re-renders from it.

:class:`MapLayer` (no Qt) holds the map and its undo/redo history (the editor's :class:`~editor.state.EditHistory`
over :class:`MapState` snapshots): a brush and an eraser per class, flood fill, moving / scaling / rotating a
part (lips, eyes, brows, nose, hair, ears), classes locked against painting, save and load (the class-index PNG
of ``faceedit parse``).  :class:`editor.map_dialog.MapModeDialog` (PySide6) shows it beside the current face
edited by the map change (:func:`faceedit.maps.edit.edit_with_map`: the face's own W+ plus the map encoder's
calibrated answer to the change); *Apply* hands that W+ change to the window.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from editor.state import EditHistory

#: the parts that can be selected and moved / scaled / rotated (class names of faceedit.faces.parsing.CLASSES)
PARTS: dict[str, tuple[str, ...]] = {
    "lips": ("mouth", "u_lip", "l_lip"), "l_eye": ("l_eye",), "r_eye": ("r_eye",), "eyes": ("l_eye", "r_eye"),
    "l_brow": ("l_brow",), "r_brow": ("r_brow",), "brows": ("l_brow", "r_brow"), "nose": ("nose",),
    "hair": ("hair",), "l_ear": ("l_ear",), "r_ear": ("r_ear",),
}


@dataclass(frozen=True)
class MapState:
    """An immutable snapshot of a square label map (what the undo history stores)."""

    data: bytes
    size: int

    @classmethod
    def of(cls, labels: np.ndarray) -> "MapState":
        labels = np.ascontiguousarray(labels, dtype=np.uint8)
        return cls(labels.tobytes(), int(labels.shape[0]))

    def labels(self) -> np.ndarray:
        return np.frombuffer(self.data, np.uint8).reshape(self.size, self.size).copy()


class MapLayer:
    """An editable face map with undo/redo; every edit leaves pixels of :attr:`locked` classes alone."""

    def __init__(self, labels: np.ndarray) -> None:
        from faceedit.maps.io import check_map

        self.history = EditHistory(MapState.of(check_map(labels)))  # type: ignore[arg-type]
        self.locked: set[int] = set()

    @property
    def labels(self) -> np.ndarray:
        """The current map ``(S, S)`` uint8 (a copy)."""
        return self.history.state.labels()  # type: ignore[attr-defined]

    def _commit(self, new: np.ndarray, label: str, group: str | None = None) -> bool:
        old = self.labels
        keep = np.isin(old, list(self.locked))
        new = np.where(keep, old, new).astype(np.uint8)
        return self.history.push(MapState.of(new), label, group)  # type: ignore[arg-type]

    def paint(self, x: float, y: float, cls: int, radius: float = 1.5, group: str | None = "brush") -> bool:
        """A round brush of class ``cls`` at (x, y) (map pixels); strokes of one group merge into one undo step."""
        from faceedit.faces.parsing import CLASSES

        if not 0 <= cls < len(CLASSES):
            from faceedit.errors import InvalidInput

            raise InvalidInput(f"unknown class id {cls}")
        labels = self.labels
        yy, xx = np.mgrid[:labels.shape[0], :labels.shape[1]]
        labels[(xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2] = cls
        return self._commit(labels, f"paint {CLASSES[cls]}", group)

    def erase(self, x: float, y: float, radius: float = 1.5, group: str | None = "eraser") -> bool:
        """Erase to what lies under the parts: skin inside the face's outline, background outside."""
        labels = self.labels
        yy, xx = np.mgrid[:labels.shape[0], :labels.shape[1]]
        brush = (xx - x) ** 2 + (yy - y) ** 2 <= radius ** 2
        labels[brush] = self._underneath(labels)[brush]
        return self._commit(labels, "erase", group)

    def fill(self, x: int, y: int, cls: int) -> bool:
        """Flood-fill the region of one class around (x, y) with ``cls``."""
        import cv2

        labels = self.labels
        region = (labels == labels[int(y), int(x)]).astype(np.uint8)
        _, comp = cv2.connectedComponents(region, connectivity=4)
        labels[comp == comp[int(y), int(x)]] = cls
        return self._commit(labels, "fill")

    def transformed(self, part: str, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0,
                    angle: float = 0.0) -> np.ndarray:
        """The map with a :data:`PARTS` entry moved (``dx``, ``dy`` px), scaled and rotated (degrees) about its
        centroid; nothing is committed (a drag previews this)."""
        from faceedit.errors import InvalidInput
        from faceedit.maps.edit import class_ids, moved_part

        if part not in PARTS:
            raise InvalidInput(f"unknown part {part!r}; choose one of {', '.join(PARTS)}")
        labels = self.labels
        mask = np.isin(labels, class_ids(PARTS[part]))
        if not mask.any():
            return labels
        moved = moved_part(labels, mask, dx, dy, scale, angle)
        out = np.where(mask, self._underneath(labels), labels)
        out[moved > 0] = moved[moved > 0]
        keep = np.isin(labels, list(self.locked))
        return np.where(keep, labels, out).astype(np.uint8)

    def transform_part(self, part: str, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0,
                       angle: float = 0.0) -> bool:
        """Commit :meth:`transformed` as one undo step."""
        out = self.transformed(part, dx, dy, scale, angle)
        return self._commit(out, f"move {part}" if scale == 1 and angle == 0 else f"transform {part}")

    @staticmethod
    def _underneath(labels: np.ndarray) -> np.ndarray:
        """Per pixel, what a removed part reveals: skin inside the face's convex outline, else background."""
        import cv2

        from faceedit.faces.parsing import LABEL
        from faceedit.maps.edit import class_ids

        face = np.isin(labels, class_ids(("skin", "l_brow", "r_brow", "l_eye", "r_eye", "nose", "mouth", "u_lip",
                                      "l_lip")))
        inside = np.zeros(labels.shape, np.uint8)
        if face.any():
            pts = np.stack(np.nonzero(face)[::-1], 1).astype(np.int32)
            cv2.fillConvexPoly(inside, cv2.convexHull(pts), 1)
        return np.where(inside > 0, LABEL["skin"], LABEL["background"]).astype(np.uint8)

    def undo(self) -> np.ndarray:
        self.history.undo()
        return self.labels

    def redo(self) -> np.ndarray:
        self.history.redo()
        return self.labels

    def save(self, path: str | os.PathLike) -> None:
        """Write the map as the class-index PNG of ``faceedit parse``."""
        from faceedit.maps.io import save_map

        save_map(path, self.labels)

    @classmethod
    def load(cls, path: str | os.PathLike, size: int | None = None) -> "MapLayer":
        """A layer from a class-index or palette PNG."""
        from faceedit.maps.io import read_map

        return cls(read_map(path, size))


def face_map(image: np.ndarray, size: int) -> np.ndarray:
    """The starting map of the current face: its ``landmarks`` parsing at ``size`` px (the mean face's map
    works as a blank canvas)."""
    from faceedit.errors import NoFaceFound
    from faceedit.images import resize
    from faceedit.maps.pairs import parse_face_map

    labels = parse_face_map(resize(image, size))
    if labels is None:
        raise NoFaceFound("the parser found no face in the current render to start a map from")
    return labels


def render_edit(start: np.ndarray, labels: np.ndarray, face_w: np.ndarray, models: Any) -> tuple[np.ndarray, Any]:
    """(render, Latent) of the current face (W+ ``face_w``, map ``start``) edited into ``labels``: its own code
    plus the map encoder's calibrated answer to the map change (:func:`faceedit.maps.edit.edit_with_map`), so
    the unedited map shows the face itself and only what the edit moved changes."""
    from faceedit.maps.edit import edit_with_map

    r = edit_with_map(face_w, start, labels, models=models)
    return r.image, r.latent


def map_mode_dialog(parent: Any, image: np.ndarray, style_w: np.ndarray, generator: Any,
                    on_apply: Callable[[np.ndarray, np.ndarray], None]) -> Any:
    """The Map mode dialog for the current face (render ``image``, latent ``style_w``); ``on_apply(delta,
    render)`` receives the W+ change of the edit and the face made from the edited map."""
    from editor.map_dialog import MapModeDialog

    return MapModeDialog(parent, image, style_w, generator, on_apply)

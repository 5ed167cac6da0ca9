"""The Map mode dialog (PySide6) of :mod:`editor.map_mode`: paint, erase, fill and move / scale / rotate parts of
the current face's map; the current face is shown edited by the map change (its own W+ plus the map encoder's
calibrated answer to it); *Apply* makes that change a "Map edit" slider of the editor (sliders, mixups, paste-back and
Save translation then work on it)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QPixmap, QShortcut
from PySide6.QtWidgets import (QComboBox, QDialog, QFileDialog, QHBoxLayout, QLabel, QListWidget, QListWidgetItem,
                               QMessageBox, QPushButton, QSpinBox, QVBoxLayout)

from editor.map_mode import PARTS, MapLayer, face_map, render_edit
from editor.widgets import to_qimage

TOOLS = ("brush", "eraser", "fill", "move part")
ZOOM = 6  # screen pixels per map pixel


class MapModeDialog(QDialog):
    """See the module docstring; ``on_apply(delta, render)`` receives the result of *Apply*: the W+ change of
    the edit (:meth:`delta`) and the face rendered from the edited map."""

    def __init__(self, parent: Any, image: np.ndarray, style_w: np.ndarray, generator: Any,
                 on_apply: Callable[[np.ndarray, np.ndarray], None]) -> None:
        from faceedit.maps.generate import MapModels
        from faceedit.faces.parsing import CLASSES

        super().__init__(parent)
        self.setWindowTitle("Map mode")
        self.models = MapModels.load(generator)
        self.style_w, self.on_apply = style_w, on_apply
        self.layer = MapLayer(face_map(image, self.models.encoder.size))
        self.start_labels = self.layer.labels  # the face's own map: an edit is the change from it
        self.result: tuple[Any, np.ndarray] | None = None
        self._drag: tuple[float, float] | None = None

        self.canvas, self.view = QLabel(), QLabel()
        self.canvas.setMouseTracking(False)
        self.canvas.mousePressEvent = self._press  # type: ignore[method-assign]
        self.canvas.mouseMoveEvent = self._move  # type: ignore[method-assign]
        self.canvas.mouseReleaseEvent = self._release  # type: ignore[method-assign]
        self.tool, self.cls, self.part = QComboBox(), QComboBox(), QComboBox()
        self.tool.addItems(TOOLS)
        self.cls.addItems(CLASSES)
        self.cls.setCurrentText("skin")
        self.part.addItems(list(PARTS))
        self.radius = QSpinBox()
        self.radius.setRange(1, 12)
        self.radius.setValue(2)
        self.locks = QListWidget()
        for name in CLASSES:
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Unchecked)
            self.locks.addItem(item)
        self.locks.itemChanged.connect(self._locks_changed)

        side = QVBoxLayout()
        for text, w in (("Tool", self.tool), ("Class", self.cls), ("Part", self.part), ("Brush radius", self.radius)):
            side.addWidget(QLabel(text))
            side.addWidget(w)
        buttons = [("Bigger", lambda: self._scale(1.1)), ("Smaller", lambda: self._scale(1 / 1.1)),
                   ("Rotate left", lambda: self._rotate(5)), ("Rotate right", lambda: self._rotate(-5)),
                   ("Undo", self.undo), ("Redo", self.redo), ("Save map…", self._save), ("Load map…", self._load),
                   ("Apply", self._apply)]
        for text, slot in buttons:
            b = QPushButton(text)
            b.clicked.connect(slot)
            side.addWidget(b)
        side.addWidget(QLabel("Locked classes"))
        side.addWidget(self.locks)
        row = QHBoxLayout(self)
        row.addLayout(side)
        row.addWidget(self.canvas)
        row.addWidget(self.view)
        QShortcut(QKeySequence.StandardKey.Undo, self, self.undo)
        QShortcut(QKeySequence.StandardKey.Redo, self, self.redo)
        self.refresh()

    def delta(self) -> np.ndarray:
        """The W+ change the map edits made (gain × (code of the edited map − code of the face's own map)): the
        current face plus it is what the dialog shows."""
        return np.asarray(self.result[0].w, np.float32) - np.asarray(self.style_w, np.float32)

    # ---------------------------------------------------------------- drawing
    def refresh(self, labels: np.ndarray | None = None) -> None:
        """Show the map (or a drag preview of it) and the face rendered from it."""
        from faceedit.faces.parsing import colorize

        labels = self.layer.labels if labels is None else labels
        image, latent = render_edit(self.start_labels, labels, self.style_w, self.models)
        self.result = (latent, image)
        side = labels.shape[0] * ZOOM
        for label, picture in ((self.canvas, colorize(labels)), (self.view, image)):
            pix = QPixmap.fromImage(to_qimage(np.ascontiguousarray(picture)))
            label.setPixmap(pix.scaled(side, side))

    def _at(self, event) -> tuple[float, float]:
        p = event.position()
        return p.x() / ZOOM, p.y() / ZOOM

    def _press(self, event) -> None:
        x, y = self._at(event)
        tool = self.tool.currentText()
        if tool == "fill":
            if self.layer.fill(int(x), int(y), self.cls.currentIndex()):
                self.refresh()
        elif tool == "move part":
            self._drag = (x, y)
        else:
            self._stroke(x, y)

    def _move(self, event) -> None:
        x, y = self._at(event)
        if self._drag is not None:
            self.refresh(self.layer.transformed(self.part.currentText(), x - self._drag[0], y - self._drag[1]))
        elif self.tool.currentText() in ("brush", "eraser"):
            self._stroke(x, y)

    def _release(self, event) -> None:
        if self._drag is not None:
            x, y = self._at(event)
            self.layer.transform_part(self.part.currentText(), x - self._drag[0], y - self._drag[1])
            self._drag = None
            self.refresh()

    def _stroke(self, x: float, y: float) -> None:
        r = float(self.radius.value())
        changed = self.layer.erase(x, y, r) if self.tool.currentText() == "eraser" \
            else self.layer.paint(x, y, self.cls.currentIndex(), r)
        if changed:
            self.refresh()

    def _scale(self, factor: float) -> None:
        if self.layer.transform_part(self.part.currentText(), scale=factor):
            self.refresh()

    def _rotate(self, degrees: float) -> None:
        if self.layer.transform_part(self.part.currentText(), angle=degrees):
            self.refresh()

    def _locks_changed(self, _item: QListWidgetItem) -> None:
        self.layer.locked = {i for i in range(self.locks.count())
                             if self.locks.item(i).checkState() == Qt.CheckState.Checked}

    # ---------------------------------------------------------------- history, files, result
    def undo(self) -> None:
        self.layer.undo()
        self.refresh()

    def redo(self) -> None:
        self.layer.redo()
        self.refresh()

    def _save(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save map", "map_labels.png", "PNG (*.png)")
        if path:
            self.layer.save(path)

    def _load(self) -> None:
        from faceedit.errors import FaceEditError

        path, _ = QFileDialog.getOpenFileName(self, "Load map", "", "PNG (*.png)")
        if not path:
            return
        try:
            loaded = MapLayer.load(path, self.layer.labels.shape[0])
        except FaceEditError as e:
            QMessageBox.warning(self, "Load map", str(e))
            return
        self.layer.history.push(loaded.history.state, "load map")
        self.refresh()

    def _apply(self) -> None:
        if self.result is not None:
            self.on_apply(self.delta(), self.result[1])
        self.accept()

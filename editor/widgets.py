"""Small Qt widgets of the editor: image view, slider rows and panel, face picker, name dialog."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from faceedit.images import check_image


def to_qimage(image: np.ndarray) -> QImage:
    """RGB uint8 ``(H, W, 3)`` → a QImage that owns a copy of the pixels."""
    image = np.ascontiguousarray(check_image(image))
    h, w = image.shape[:2]
    return QImage(image.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def from_qimage(qimage: QImage) -> np.ndarray:
    """A QImage → RGB uint8 ``(H, W, 3)`` (used by tests and screenshots)."""
    q = qimage.convertToFormat(QImage.Format.Format_RGB888)
    w, h, stride = q.width(), q.height(), q.bytesPerLine()
    buf = np.frombuffer(q.constBits(), dtype=np.uint8, count=stride * h).reshape(h, stride)
    return buf[:, : 3 * w].reshape(h, w, 3).copy()


class ImageView(QLabel):
    """Shows one RGB image scaled to fit (aspect kept, smooth); remembers the array it shows."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = title
        self.image: np.ndarray | None = None
        self._pixmap: QPixmap | None = None
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setMinimumSize(160, 160)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setStyleSheet("QLabel { background: #202020; color: #aaaaaa; }")
        self.setText(title)

    def set_image(self, image: np.ndarray | None) -> None:
        """Show ``image`` (None clears the view)."""
        self.image = None if image is None else np.ascontiguousarray(image)
        self._pixmap = None if image is None else QPixmap.fromImage(to_qimage(image))
        self._rescale()

    def shown_pixmap(self) -> QPixmap | None:
        """The full-resolution pixmap of the current image."""
        return self._pixmap

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._rescale()

    def _rescale(self) -> None:
        if self._pixmap is None:
            self.setPixmap(QPixmap())
            self.setText(self.title)
            return
        ratio = self.devicePixelRatioF()
        target = self.size() * ratio
        scaled = self._pixmap.scaled(target, Qt.AspectRatioMode.KeepAspectRatio,
                                     Qt.TransformationMode.SmoothTransformation)
        scaled.setDevicePixelRatio(ratio)
        self.setPixmap(scaled)


class SliderRow(QWidget):
    """A labelled slider with its numeric value and a reset button.

    Emits ``moved(key, value)`` while dragging, ``committed(key, value)`` when the drag ends,
    ``stepped(key, value)`` when the value is changed by keyboard, wheel or the spin box, and
    ``reset_requested(key)``.
    """

    moved = Signal(str, float)
    committed = Signal(str, float)
    stepped = Signal(str, float)
    reset_requested = Signal(str)

    STEPS_PER_UNIT = 100

    def __init__(self, key: str, label: str, minimum: float, maximum: float, tooltip: str = "",
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.key = key
        lay = QHBoxLayout(self)
        lay.setContentsMargins(2, 0, 2, 0)
        self.label = QLabel(label)
        self.label.setMinimumWidth(90)
        self.label.setToolTip(tooltip or key)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(minimum * self.STEPS_PER_UNIT), round(maximum * self.STEPS_PER_UNIT))
        self.slider.setValue(0)
        self.slider.setPageStep(self.STEPS_PER_UNIT // 4)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(minimum, maximum)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.1)
        self.spin.setKeyboardTracking(False)
        self.reset_button = QToolButton()
        self.reset_button.setText("⟲")
        self.reset_button.setToolTip("Reset this slider to 0")
        lay.addWidget(self.label, 2)
        lay.addWidget(self.slider, 4)
        lay.addWidget(self.spin, 0)
        lay.addWidget(self.reset_button, 0)
        self.slider.sliderMoved.connect(lambda v: self._on_moved(v))
        self.slider.sliderReleased.connect(lambda: self.committed.emit(self.key, self.value()))
        self.slider.valueChanged.connect(self._on_value_changed)
        self.spin.valueChanged.connect(self._on_spin)
        self.reset_button.clicked.connect(lambda: self.reset_requested.emit(self.key))

    def value(self) -> float:
        """The current strength."""
        return self.slider.value() / self.STEPS_PER_UNIT

    def set_value(self, value: float) -> None:
        """Set the strength without emitting any signal (used on undo/redo and load)."""
        for w in (self.slider, self.spin):
            w.blockSignals(True)
        self.slider.setValue(round(value * self.STEPS_PER_UNIT))
        self.spin.setValue(value)
        for w in (self.slider, self.spin):
            w.blockSignals(False)

    def _on_moved(self, v: int) -> None:
        self.spin.blockSignals(True)
        self.spin.setValue(v / self.STEPS_PER_UNIT)
        self.spin.blockSignals(False)
        self.moved.emit(self.key, v / self.STEPS_PER_UNIT)

    def _on_value_changed(self, v: int) -> None:
        if self.slider.isSliderDown():
            return  # handled by sliderMoved / sliderReleased
        self.spin.blockSignals(True)
        self.spin.setValue(v / self.STEPS_PER_UNIT)
        self.spin.blockSignals(False)
        self.stepped.emit(self.key, v / self.STEPS_PER_UNIT)

    def _on_spin(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * self.STEPS_PER_UNIT))
        self.slider.blockSignals(False)
        self.stepped.emit(self.key, value)


class SliderPanel(QScrollArea):
    """Slider rows grouped in boxes (one per characteristic / kind), in a scroll area."""

    moved = Signal(str, float)
    committed = Signal(str, float)
    stepped = Signal(str, float)
    reset_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.rows: dict[str, SliderRow] = {}
        self._body = QWidget()
        self._layout = QVBoxLayout(self._body)
        self._layout.addStretch(1)
        self.setWidget(self._body)

    def set_sliders(self, specs: Sequence, extra: dict[str, QWidget] | None = None) -> None:
        """Rebuild from slider specs (``key``, ``label``, ``group``, ``minimum``, ``maximum``); ``extra``
        maps a group name to a widget placed at the top of that group's box (e.g. a layer-range picker)."""
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setSpacing(4)
        self.rows = {}
        boxes: dict[str, QVBoxLayout] = {}
        for spec in specs:
            if spec.group not in boxes:
                box = QGroupBox(spec.group)
                box_layout = QVBoxLayout(box)
                box_layout.setSpacing(0)
                box_layout.setContentsMargins(4, 2, 4, 2)
                if extra and spec.group in extra:
                    box_layout.addWidget(extra[spec.group])
                layout.addWidget(box)
                boxes[spec.group] = box_layout
            row = SliderRow(spec.key, spec.label, spec.minimum, spec.maximum, getattr(spec, "tooltip", ""))
            row.moved.connect(self.moved)
            row.committed.connect(self.committed)
            row.stepped.connect(self.stepped)
            row.reset_requested.connect(self.reset_requested)
            boxes[spec.group].addWidget(row)
            self.rows[spec.key] = row
        if not specs:
            layout.addWidget(QLabel("No translations or directions for this model."))
        layout.addStretch(1)
        self._body = body
        self.setWidget(body)

    def set_values(self, values: dict[str, float]) -> None:
        """Show ``values`` (missing keys → 0) without emitting signals."""
        for key, row in self.rows.items():
            row.set_value(values.get(key, 0.0))


class FacePicker(QDialog):
    """Pick one of several detected faces (shown as aligned thumbnails, largest first)."""

    def __init__(self, images: Sequence[np.ndarray], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Several faces found — pick one")
        lay = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setViewMode(QListWidget.ViewMode.IconMode)
        self.list.setIconSize(QSize(128, 128))
        for i, im in enumerate(images):
            item = QListWidgetItem(QIcon(QPixmap.fromImage(to_qimage(im))), f"face {i + 1}")
            self.list.addItem(item)
        self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _item: self.accept())
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay.addWidget(self.list)
        lay.addWidget(buttons)
        self.resize(600, 260)

    def chosen(self) -> int:
        """The index of the chosen face."""
        return max(0, self.list.currentRow())


class NameDialog(QDialog):
    """Ask for a name that ``validate(name)`` accepts; the rule it breaks is shown live."""

    def __init__(self, title: str, prompt: str, validate: Callable[[str], str | None],
                 initial: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(title)
        self._validate = validate
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel(prompt))
        self.edit = QLineEdit(initial)
        self.message = QLabel()
        self.message.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        lay.addWidget(self.edit)
        lay.addWidget(self.message)
        lay.addWidget(self.buttons)
        self.edit.textChanged.connect(self._check)
        self._check(initial)
        self.resize(420, 140)

    def _check(self, text: str) -> None:
        error = self._validate(text.strip()) if text.strip() else "enter a name"
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(error is None)
        self.message.setText("✔ valid name" if error is None else f"✘ {error}")
        self.message.setStyleSheet("color: #2e7d32;" if error is None else "color: #c62828;")

    def name(self) -> str:
        return self.edit.text().strip()

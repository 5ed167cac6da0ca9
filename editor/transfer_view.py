"""The Qt side of the edit modes: View → Edit mode (a radio pair), the toggle beside the mixups, the
transfer-map overlays, and the status line of a transferred (or fallen-back) render.

The window owns one :class:`EditModeControl`; the render job reads :meth:`EditModeControl.mode` when it is
submitted (the transfer itself runs in the render worker, see :meth:`editor.session.EditSession.final_face`).
"""
from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import QCheckBox, QHBoxLayout, QLabel, QMenu, QWidget

from .edit_modes import DEFAULT_EDIT_MODE, EDIT_MODES
from .prefs import Preferences

MODE_LABELS = {
    "transfer": "&Transfer the edit onto the photo (keeps its detail)",
    "replace": "&Replace the face by the generator's render",
}
MODE_SHORTCUTS = {"transfer": "T", "replace": "Shift+T"}
#: overlay key → View menu text (appended to the window's overlays; drawn from the last transfer)
TRANSFER_OVERLAYS = {"flow": "Transfer: flow", "gain": "Transfer: appearance gain",
                     "alpha": "Transfer: new-content alpha"}


class EditModeControl(QObject):
    """The edit mode (``transfer`` | ``replace``) in the View menu and as a toggle, kept in the preferences.

    ``changed(mode)`` is emitted once per user change, from whichever of the two controls it came.
    """

    changed = Signal(str)

    def __init__(self, parent: QWidget, prefs: Preferences) -> None:
        super().__init__(parent)
        self.prefs = prefs
        mode = prefs.get("edit_mode")
        if mode not in EDIT_MODES:
            print(f"warning: unknown edit_mode {mode!r} in the preferences; using {DEFAULT_EDIT_MODE!r}")
            mode = DEFAULT_EDIT_MODE
        self.group = QActionGroup(self)
        self.actions: dict[str, QAction] = {}
        for key in EDIT_MODES:
            act = QAction(MODE_LABELS[key], parent)
            act.setCheckable(True)
            act.setShortcut(QKeySequence(MODE_SHORTCUTS[key]))
            act.setChecked(key == mode)
            act.toggled.connect(lambda on, k=key: on and self.set_mode(k))
            self.group.addAction(act)
            self.actions[key] = act
        self.toggle = QCheckBox("Transfer onto the photo")
        self.toggle.setToolTip("On: the edit moves and recolours the photo's own pixels, so the face stays sharp "
                               "(full render).\nOff: the generator's render replaces the face (T / Shift+T)")
        self.toggle.setChecked(mode == "transfer")
        self.toggle.toggled.connect(lambda on: self.set_mode("transfer" if on else "replace"))
        self.widget = QWidget()  # the toggle with its caption, for the window's layout
        row = QHBoxLayout(self.widget)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("Edit:"))
        row.addWidget(self.toggle)
        self._mode = mode
        self._noted = ""  # the note last put in the status bar
        self.prefs.set("edit_mode", mode)

    def add_to_menu(self, menu: QMenu) -> QMenu:
        """Add the radio pair to ``menu`` as an "Edit mode" submenu."""
        sub = menu.addMenu("&Edit mode")
        sub.addActions(list(self.actions.values()))
        return sub

    def mode(self) -> str:
        """The current edit mode."""
        return self._mode

    def set_mode(self, mode: str) -> None:
        """Switch to ``mode`` (both controls follow, the preference is set, ``changed`` is emitted)."""
        if mode not in EDIT_MODES:
            raise ValueError(f"unknown edit mode {mode!r}")
        if mode == self._mode:
            return
        self._mode = mode
        self.prefs.set("edit_mode", mode)
        self.toggle.blockSignals(True)
        self.toggle.setChecked(mode == "transfer")
        self.toggle.blockSignals(False)
        if not self.actions[mode].isChecked():
            self.actions[mode].setChecked(True)  # its toggled(True) re-enters set_mode: a no-op now
        self.changed.emit(mode)

    def report(self, rendered, status: QLabel) -> None:
        """Put a full render's note (why transfer fell back to the render, the transfer's own notes) in the
        ``status`` label; a later full render without a note clears the one shown before."""
        if rendered.preview:
            return
        note = getattr(rendered, "note", "")
        if note:
            status.setText(note)
        elif self._noted and status.text() == self._noted:
            status.setText("ready")
        self._noted = note

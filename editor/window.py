"""The editor's main window: menus, views, sliders, status bar — UI only, every model call in a worker."""
from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QKeySequence
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from faceedit.errors import FaceEditError

from .file_actions import THUMBNAIL_SIZE, FileActions
from .prefs import Preferences
from .session import EditSession, Rendered, presets
from .state import MIXUPS, EditHistory, EditState
from .task_actions import TaskActions
from .transfer_view import TRANSFER_OVERLAYS, EditModeControl
from .widgets import ImageView, SliderPanel
from .worker import CancelToken, RenderRequest, RenderWorker, Task

PREVIEW_LABELS = {"auto": "Automatic", "subgenerator": "Fast: thinner sub-generator (anycost models)",
                  "lowres": "Lower resolution", "full": "Full quality"}
OVERLAYS = {"none": "No overlay", "difference": "Difference", "parsing": "Parsing", "masks": "Mixup masks",
            **TRANSFER_OVERLAYS}


class MainWindow(FileActions, TaskActions, QMainWindow):
    """The editor window. Public methods (``open_photo``, ``set_slider``, ``undo``, ``save_image`` ...)
    are what the menus call, and what tests and ``--screenshot`` drive."""

    error_shown = Signal(str)
    face_ready = Signal()

    def __init__(self, prefs: Preferences | None = None, translations_root: str | os.PathLike | None = None,
                 interactive: bool = True, encoder: str | None = "auto", start_seed: int | None = None) -> None:
        super().__init__()
        self.prefs = prefs or Preferences.load()
        self.translations_root = translations_root
        self.encoder = encoder  # for the next model loaded: "auto", None or a file (see EditSession.open)
        self.start_seed = start_seed  # the first start face: this seed's (None: the last session's, else 0)
        self.interactive = interactive  # False: pick the largest face, never block on a dialog
        self.session: EditSession | None = None
        self.history = EditHistory()
        self.last_error = ""
        self.timings: dict[str, float] = {}
        self._drag_state: EditState | None = None
        self._task: Task | None = None
        self._abandoned: list[Task] = []  # cancelled tasks still running on the pool
        self._thumb_tasks: list[Task] = []  # thumbnail loaders of the folder browser
        self._thumbs_token = CancelToken()
        self._thumb_images: dict[str, np.ndarray] = {}
        self._seq = 0  # number of the newest render request
        self._shown_seq = 0  # number of the newest render shown
        self._full_seq = 0  # number of the newest full-quality request
        self._last: Rendered | None = None
        self._error_boxes: list[QMessageBox] = []

        self.setWindowTitle("faceedit editor")
        self.setAcceptDrops(True)
        self.resize(1280, 760)
        self.worker = RenderWorker(self)
        self.worker.rendered.connect(self._on_rendered)
        self.worker.failed.connect(self._on_render_failed)
        self.worker.start()
        self.edit_mode = EditModeControl(self, self.prefs)  # transfer | replace (View menu + toggle)
        self.edit_mode.changed.connect(lambda _mode: self.request_full())
        self._build_ui()
        self._build_menus()
        self._update_actions()

    # ================================================================== construction
    def _build_ui(self) -> None:
        self.original_view = ImageView("Original")
        self.edited_view = ImageView("Edited")
        views = QSplitter(Qt.Orientation.Horizontal)
        self.edited_title = QLabel("Edited")
        views.addWidget(_titled(QLabel("Original"), self.original_view))
        views.addWidget(_titled(self.edited_title, self.edited_view))

        self.browser = QListWidget()
        self.browser.setMinimumWidth(140)
        self.browser.setIconSize(QSize(THUMBNAIL_SIZE, THUMBNAIL_SIZE))
        self.browser.itemActivated.connect(self._on_browser_item)
        self.browser.hide()

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(4, 4, 4, 4)
        row = QHBoxLayout()
        self.preset_box = QComboBox()
        self.preset_box.addItems(presets())
        self.preset_box.setCurrentText(self.prefs.get("preset"))
        self.preset_box.setToolTip("Projection preset used when a photo is opened")
        self.preset_box.currentTextChanged.connect(lambda t: self.prefs.set("preset", t))
        row.addWidget(QLabel("Projection:"))
        row.addWidget(self.preset_box, 1)
        self.reset_button = QPushButton("Reset all")
        self.reset_button.clicked.connect(self.reset_all)
        row.addWidget(self.reset_button)
        rl.addLayout(row)

        mix_row = QHBoxLayout()
        mix_row.addWidget(QLabel("Mixups:"))
        self.mixup_boxes: dict[str, QCheckBox] = {}
        for name in MIXUPS:
            box = QCheckBox(name)
            box.setToolTip(f"{name} mixup: keep the original outside the region the edit is about (full render)")
            box.toggled.connect(partial(self._on_mixup_toggled, name))
            mix_row.addWidget(box)
            self.mixup_boxes[name] = box
        mix_row.addStretch(1)
        mix_row.addWidget(self.edit_mode.widget)
        rl.addLayout(mix_row)

        self.sliders = SliderPanel()
        self.sliders.moved.connect(self._on_slider_moved)
        self.sliders.committed.connect(self._on_slider_committed)
        self.sliders.stepped.connect(self._on_slider_stepped)
        self.sliders.reset_requested.connect(self.reset_slider)
        rl.addWidget(self.sliders, 1)
        self.pca_range = self._build_pca_range()

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.browser)
        split.addWidget(views)
        split.addWidget(right)
        split.setStretchFactor(1, 3)
        split.setStretchFactor(2, 2)
        split.setSizes([0, 800, 440])
        self.setCentralWidget(split)

        sb = self.statusBar()
        self.status_label = QLabel("starting…")
        self.timing_label = QLabel("")
        self.progress = QProgressBar()
        self.progress.setMaximumWidth(220)
        self.progress.hide()
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.hide()
        self.cancel_button.clicked.connect(self.cancel_task)
        sb.addWidget(self.status_label, 1)
        sb.addPermanentWidget(self.timing_label)
        sb.addPermanentWidget(self.progress)
        sb.addPermanentWidget(self.cancel_button)

    def _build_pca_range(self) -> QWidget:
        w = QWidget()
        lay = QHBoxLayout(w)
        lay.setContentsMargins(2, 0, 2, 0)
        self.pca_start = QSpinBox()
        self.pca_stop = QSpinBox()
        for box in (self.pca_start, self.pca_stop):
            box.setKeyboardTracking(False)
            box.valueChanged.connect(self._on_pca_range)
        lay.addWidget(QLabel("W+ rows from"))
        lay.addWidget(self.pca_start)
        lay.addWidget(QLabel("to (excl.)"))
        lay.addWidget(self.pca_stop)
        lay.addStretch(1)
        return w

    def _action(self, menu, text: str, slot: Callable, shortcut: Any = None, checkable: bool = False) -> QAction:
        act = QAction(text, self)
        if shortcut is not None:
            act.setShortcut(QKeySequence(shortcut))
        act.setCheckable(checkable)
        (act.toggled if checkable else act.triggered).connect(slot)
        menu.addAction(act)
        return act

    def _build_menus(self) -> None:
        mb = self.menuBar()
        f = mb.addMenu("&File")
        self.act_open = self._action(f, "&Open photo…", self.action_open_photo, QKeySequence.StandardKey.Open)
        self._action(f, "Open &folder of faces or latents…", self.action_open_folder, "Ctrl+Shift+O")
        self.recent_menu = f.addMenu("Open &recent")
        self._rebuild_recent()
        self._action(f, "&New generated face", lambda: self.start_face(seed=int(time.time()) % 100000), "Ctrl+N")
        self._action(f, "New face from photo's &identity…", self.action_face_from_identity)
        f.addSeparator()
        self.act_save_image = self._action(f, "&Save image…", self.action_save_image, QKeySequence.StandardKey.Save)
        self.act_save_translation = self._action(f, "Save &translation…", self.action_save_translation,
                                                 "Ctrl+Shift+S")
        self._action(f, "Save edit &recipe…", self.action_save_recipe, "Ctrl+Alt+S")
        self._action(f, "&Load edit recipe…", self.action_load_recipe, "Ctrl+L")
        f.addSeparator()
        self._action(f, "&Quit", self.close, QKeySequence.StandardKey.Quit)

        e = mb.addMenu("&Edit")
        self.act_undo = self._action(e, "&Undo", self.undo, QKeySequence.StandardKey.Undo)
        self.act_redo = self._action(e, "&Redo", self.redo, QKeySequence.StandardKey.Redo)
        e.addSeparator()
        self._action(e, "Reset &all sliders", self.reset_all, "Ctrl+R")
        self._action(e, "&Map mode…", self.action_map_mode, "Ctrl+M")

        v = mb.addMenu("&View")
        self.act_in_photo = self._action(v, "Show edit &in photo", self._on_in_photo, "P", True)
        self.edit_mode.add_to_menu(v)
        v.addSeparator()
        self.overlay_group = QActionGroup(self)
        self.overlay_actions: dict[str, QAction] = {}
        for i, (key, text) in enumerate(OVERLAYS.items()):
            act = self._action(v, text, lambda on, k=key: on and self.request_full(), f"Ctrl+{i}", True)
            self.overlay_group.addAction(act)
            self.overlay_actions[key] = act
        self.overlay_actions["none"].setChecked(True)
        v.addSeparator()
        self.act_conditional = self._action(v, "Show &conditional translations ({c}_{new}_fr_{old})",
                                            lambda on: self._setup_sliders(), checkable=True)
        quality_menu = v.addMenu("Drag &preview")
        self.quality_group = QActionGroup(self)
        self.quality_actions: dict[str, QAction] = {}
        for key, text in PREVIEW_LABELS.items():
            act = self._action(quality_menu, text, lambda on: None, checkable=True)
            self.quality_group.addAction(act)
            self.quality_actions[key] = act
        self.quality_actions["auto"].setChecked(True)

        m = mb.addMenu("&Model")
        self._action(m, "&Default model", lambda: self.load_model(None))
        self._action(m, "Open &checkpoint…", self.action_open_checkpoint)
        self.registered_menu = m.addMenu("&Registered models")
        self.registered_menu.aboutToShow.connect(self._rebuild_registered)

        h = mb.addMenu("&Help")
        self._action(h, "&Keyboard shortcuts", self.action_show_shortcuts, QKeySequence.StandardKey.HelpContents)

    def shortcuts(self) -> list[tuple[str, str]]:
        """(action, shortcut) of every menu action that has one."""
        out = []
        for menu in self.menuBar().findChildren(type(self.recent_menu)):
            for act in menu.actions():
                if not act.shortcut().isEmpty():
                    out.append((act.text().replace("&", "").split(" (")[0],
                                act.shortcut().toString(QKeySequence.SequenceFormat.NativeText)))
        return sorted(set(out))

    def action_show_shortcuts(self) -> None:
        rows = "".join(f"<tr><td>{a}</td><td><b>{k}</b></td></tr>" for a, k in self.shortcuts())
        QMessageBox.information(self, "Keyboard shortcuts", f"<table cellspacing=4>{rows}</table>")

    def _rebuild_recent(self) -> None:
        self.recent_menu.clear()
        for path in self.prefs.get("recent"):
            act = self.recent_menu.addAction(path)
            act.triggered.connect(partial(self.open_photo, path))
        self.recent_menu.setEnabled(bool(self.prefs.get("recent")))

    def _rebuild_registered(self) -> None:
        self.registered_menu.clear()
        from faceedit.models import weights

        names = [name for name, e in sorted(weights.REGISTRY.items())
                 if e.kind == "generator" and weights.is_cached(name)]
        for name in names:
            act = self.registered_menu.addAction(name)
            act.triggered.connect(partial(self.load_model, name))
        if not names:
            self.registered_menu.addAction("(none in the cache)").setEnabled(False)

    # ================================================================== errors and status
    def show_error(self, message: str) -> None:
        """Show an error as a (non-modal) message box and in the status bar; never raise."""
        self.last_error = message
        self.status_label.setText(f"Error: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, "faceedit editor", message, QMessageBox.StandardButton.Ok, self)
        box.setModal(False)
        box.finished.connect(lambda _r, b=box: self._error_boxes.remove(b) if b in self._error_boxes else None)
        self._error_boxes.append(box)
        if self.interactive:
            box.show()
        self.error_shown.emit(message)

    def error_boxes(self) -> list[QMessageBox]:
        """The error message boxes currently open (tests read their text)."""
        return list(self._error_boxes)

    def _status(self, text: str) -> None:
        self.status_label.setText(text)

    def _show_timings(self) -> None:
        parts = [f"{k} {v * 1000:.0f} ms" for k, v in self.timings.items()]
        if self.worker.dropped:
            parts.append(f"{self.worker.dropped} stale frames dropped")
        self.timing_label.setText(" · ".join(parts))

    # ================================================================== model and faces
    def load_model(self, model: str | None, then: Callable[[], None] | None = None) -> None:
        """Load a generator (None: the default model) in a worker, then show a start face."""
        root, encoder = self.translations_root, self.encoder
        device = self.prefs.get("device")

        def job(progress, token):
            return EditSession.open(model, root, progress, device=device, encoder=encoder)

        previous = self.session

        def done(session: EditSession) -> None:
            self.encoder = "auto"  # an encoder given at start-up belongs to that model only
            self.prefs.set("model", "" if model is None else str(model))
            self.set_session(session)
            if then is not None:
                then()
            elif previous is not None and previous.face is not None:
                # the same photo face, projected again for the new model
                self._project(previous.face, previous.photo, self.preset_box.currentText())
            else:
                self.start_face(self.start_seed)
                self.start_seed = None  # a model loaded later starts from its last face again

        self._start(job, done, f"Loading model {model or '(default)'}…", cancellable=False)

    def set_session(self, session: EditSession) -> None:
        """Use an opened editing session (model + sliders); the face comes next (:meth:`start_face`)."""
        self.session = session
        self._seq += 1
        self._shown_seq = self._seq  # drop renders of the previous model
        self._setup_sliders()
        from faceedit.devices import describe_device

        self.setWindowTitle(f"faceedit editor — {session.model_id} ({session.resolution} px, "
                            f"{describe_device(session.device)})")

    def _setup_sliders(self) -> None:
        s = self.session
        start, stop = self.state().pca_layers or (0, s.n_latent)
        for box, value in ((self.pca_start, start), (self.pca_stop, stop)):
            box.blockSignals(True)
            box.setRange(0, s.n_latent)
            box.setValue(value)
            box.blockSignals(False)
        values = self.state().as_dict()
        shown = [spec for spec in s.sliders
                 if not spec.conditional or self.act_conditional.isChecked() or values.get(spec.key)]
        self.sliders.set_sliders(shown, extra={"PCA": self.pca_range})
        self.sliders.set_values(values)

    def start_face(self, seed: int | None = None) -> None:
        """Show the start face: the last session's latent (same model) or a generated one."""
        if self.session is None:
            return
        session = self.session
        last = self.prefs.last_latent(session.model_id) if seed is None else None

        def job(progress, token):
            latent = None
            if last:
                try:
                    latent = session.latent_from_file(last)
                except (FaceEditError, OSError, ValueError) as e:  # a stale or broken session file
                    print(f"warning: not restoring the last session ({e})")
            if latent is None:
                latent = session.generated_latent(seed or 0)
            return latent, session.render(latent.w)

        self._start(job, lambda r: self._set_face(r[0], r[1]), "Generating a face…", cancellable=False)

    def _set_face(self, latent, original: np.ndarray, face=None, photo=None, state: EditState | None = None) -> None:
        self.session.set_face(latent, face, photo, original=original)
        self._shown_seq = self._seq  # renders still in flight belong to the previous face: drop them
        self.history.clear(state or EditState())
        self._apply_state(self.history.state)
        self.act_in_photo.setEnabled(photo is not None)
        self._show_original()
        self._status("ready" if face is None else f"ready: {Path(face.source).name if face.source else 'photo'}")
        self.face_ready.emit()

    def _on_in_photo(self, on: bool) -> None:
        self._show_original()
        self.request_full()

    def _show_original(self) -> None:
        s = self.session
        in_photo = self.act_in_photo.isChecked() and s is not None and s.photo is not None
        face = s.face.image if s is not None and s.face is not None else (s.original if s else None)
        self.original_view.set_image(s.photo if in_photo else face)

    # ================================================================== edit state
    def state(self) -> EditState:
        """The current (committed) edit state."""
        return self.history.state

    def _commit(self, state: EditState, label: str, group: str | None = None) -> None:
        self._drag_state = None
        if self.history.push(state, label, group):
            self._update_actions()
        self._apply_state(self.history.state)

    def _apply_state(self, state: EditState) -> None:
        """Show ``state`` in every control (no signals) and render it."""
        if self.session is not None and set(state.as_dict()) - set(self.sliders.rows):
            self._setup_sliders()  # a hidden (conditional) slider got a value: show it
        self.sliders.set_values(state.as_dict())
        for name, box in self.mixup_boxes.items():
            box.blockSignals(True)
            box.setChecked(name in state.mixups)
            box.blockSignals(False)
        if self.session is not None:
            start, stop = state.pca_layers or (0, self.session.n_latent)
            for box, v in ((self.pca_start, start), (self.pca_stop, stop)):
                box.blockSignals(True)
                box.setValue(v)
                box.blockSignals(False)
        self._update_actions()
        self.request_full()

    def set_slider(self, key: str, value: float) -> None:
        """Set one slider and commit (an undoable step)."""
        self._commit(self.state().with_value(key, value), f"{key} = {value:g}")

    def set_sliders(self, values: dict[str, float], label: str) -> bool:
        """Set several sliders as one undoable step; unknown sliders are reported (False) instead."""
        known = [spec.key for spec in self.session.sliders] if self.session else []
        unknown = sorted(set(values) - set(known))
        if unknown:
            self.show_error(f"no such slider(s): {', '.join(unknown)} (known: {', '.join(known)})")
            return False
        state = self.state()
        for key, value in values.items():
            state = state.with_value(key, value)
        self._commit(state, label)
        return True

    def _on_slider_moved(self, key: str, value: float) -> None:
        self._drag_state = (self._drag_state or self.state()).with_value(key, value)
        self.request_preview(self._drag_state)

    def _on_slider_committed(self, key: str, value: float) -> None:
        self.set_slider(key, value)

    def _on_slider_stepped(self, key: str, value: float) -> None:
        """Keyboard, wheel or spin-box steps: a quick burst on one slider is one undo step."""
        self._commit(self.state().with_value(key, value), f"{key} = {value:g}", group=f"step:{key}")

    def reset_slider(self, key: str) -> None:
        self._commit(self.state().reset(key), f"reset {key}")

    def reset_all(self) -> None:
        self._commit(self.state().reset_all(), "reset all")

    def _on_mixup_toggled(self, name: str, on: bool) -> None:
        self._commit(self.state().with_mixup(name, on), f"{name} mixup {'on' if on else 'off'}")

    def _on_pca_range(self, _value: int) -> None:
        start, stop = self.pca_start.value(), self.pca_stop.value()
        if stop <= start:
            self._status("PCA layer range: 'to' must be greater than 'from'")
            return
        full = self.session is not None and (start, stop) == (0, self.session.n_latent)
        self._commit(self.state().with_pca_layers(None if full else (start, stop)), f"PCA rows {start}-{stop}")

    def undo(self) -> None:
        """Revert the last change."""
        if self.history.can_undo():
            self.history.undo()
            self._apply_state(self.history.state)

    def redo(self) -> None:
        """Re-apply the last undone change."""
        if self.history.can_redo():
            self.history.redo()
            self._apply_state(self.history.state)

    def _update_actions(self) -> None:
        has_face = self.session is not None and self.session.base is not None
        idle = self._task is None
        self.act_undo.setEnabled(self.history.can_undo())
        self.act_undo.setText(f"&Undo {self.history.undo_label()}".rstrip())
        self.act_redo.setEnabled(self.history.can_redo())
        self.act_redo.setText(f"&Redo {self.history.redo_label()}".rstrip())
        for act in (self.act_save_image, self.act_save_translation):
            act.setEnabled(has_face and idle)
        self.act_open.setEnabled(idle)
        self.sliders.setEnabled(has_face and idle)

    # ================================================================== rendering
    def preview_quality(self) -> str:
        """The drag-preview quality chosen in View → Drag preview."""
        return next((k for k, a in self.quality_actions.items() if a.isChecked()), "auto")

    def overlay(self) -> str:
        return next((k for k, a in self.overlay_actions.items() if a.isChecked()), "none")

    def request_preview(self, state: EditState) -> None:
        """Render a fast preview of ``state`` (stale previews are dropped by the worker)."""
        self._submit(state, preview=True)

    def request_full(self) -> None:
        """Render the current state at full quality (mixups, overlays, paste-back)."""
        self._submit(self.state(), preview=False)

    def _submit(self, state: EditState, preview: bool) -> None:
        if self.session is None or self.session.base is None:
            return
        self._seq += 1
        if not preview:
            self._full_seq = self._seq
        job = partial(self.session.render_state, state, preview, self.act_in_photo.isChecked(),
                      "none" if preview else self.overlay(), self.preview_quality(), self.edit_mode.mode())
        self._submitted_at = time.perf_counter()
        self.worker.submit(RenderRequest(self._seq, "preview" if preview else "full", job))

    def _on_rendered(self, seq: int, kind: str, result: Rendered, seconds: float) -> None:
        if seq <= self._shown_seq:
            return  # an older frame than the one on screen
        self._shown_seq = seq
        self._last = result
        self.edited_view.set_image(result.shown)
        self.edited_title.setText("Edited (preview)" if result.preview else "Edited")
        self.timings[kind] = seconds
        self._show_timings()
        self.edit_mode.report(result, self.status_label)

    def _on_render_failed(self, seq: int, kind: str, message: str) -> None:
        self._shown_seq = max(self._shown_seq, seq)
        self.show_error(f"Render failed: {message}")

    def last_render(self) -> Rendered | None:
        """The last rendered result on screen."""
        return self._last

    def apply_map_edit(self, delta: np.ndarray) -> None:
        """A Map mode edit as an undoable step: its W+ change becomes a "Map edit" slider at 1 on top of the
        current edit (the photo and every other slider stay, so the in-photo view transfers it onto the photo)."""
        key = self.session.add_map_edit(delta)
        self._setup_sliders()
        self._commit(self.state().with_value(key, 1.0), "map edit")

    def action_map_mode(self) -> None:
        """Edit the current face's parsing map and re-render the face from it (:mod:`editor.map_mode`)."""
        from editor.map_mode import map_mode_dialog
        from faceedit.errors import FaceEditError

        if self.session is None or self.session.base is None:
            return
        w = self.session.latent_for(self.state())
        try:
            dialog = map_mode_dialog(self, self.session.render(w), w, self.session.generator,
                                     lambda delta, _render: self.apply_map_edit(delta))
        except FaceEditError as e:
            self.show_error(str(e))
            return
        dialog.open()

    # ================================================================== closing
    def closeEvent(self, event) -> None:  # noqa: N802 - Qt override
        if self.session is not None and self.session.base is not None:
            try:
                self.prefs.save_last_latent(self.session.base)
            except Exception as e:  # never block closing
                print(f"warning: could not save the session: {e}")
        self.prefs.save()
        self._thumbs_token.cancel()
        for task in [self._task, *self._thumb_tasks]:
            if task is not None:
                task.token.cancel()
                task.done.wait(10.0)  # let it reach its next progress report and stop
        self.worker.stop()
        super().closeEvent(event)


def _titled(title: QLabel, view: QWidget) -> QWidget:
    """A view with its caption above it."""
    box = QWidget()
    lay = QVBoxLayout(box)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.setSpacing(2)
    title.setAlignment(Qt.AlignmentFlag.AlignCenter)
    lay.addWidget(title)
    lay.addWidget(view, 1)
    return box

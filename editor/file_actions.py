"""The editor window's file side: open a photo (detect, pick a face, project), an aligned face, a latent or a folder
(the side browser with thumbnails), save the image / translation / recipe, the menu actions' file dialogs, and drag
and drop.  Mixed into :class:`editor.window.MainWindow`, whose session, worker tasks (``_start``) and views it uses.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import QFileDialog, QListWidgetItem, QMessageBox

from faceedit.errors import NoFaceFound

from .edit_modes import fit_aligned
from .session import validate_translation_name
from .widgets import FacePicker, NameDialog, to_qimage
from .worker import run_task

IMAGE_FILTER = "Images (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff)"
MAX_THUMBNAILS = 500
THUMBNAIL_SIZE = 48


class FileActions:
    """Opening and saving for :class:`~editor.window.MainWindow` (public methods are what menus, tests and
    ``--screenshot`` call)."""

    def open_photo(self, path: str | os.PathLike) -> None:
        """Open a photo: read, detect + align, pick a face, project (worker, with Cancel)."""
        if self.session is None:
            self.show_error("No model loaded.")
            return
        session, preset = self.session, self.preset_box.currentText()
        path = str(path)

        def detect(progress, token):
            from faceedit.images import load_image

            photo = load_image(path)
            token.check()
            try:
                return photo, session.detect(photo, progress)
            except NoFaceFound:
                raise NoFaceFound(f"{path}: no face found in this photo") from None

        def detected(result) -> None:
            photo, faces = result
            for face in faces:
                face.source = Path(path)
            self.prefs.add_recent(path)
            self._rebuild_recent()
            index = 0
            if len(faces) > 1 and self.interactive:
                picker = FacePicker([f.image for f in faces], self)
                if not picker.exec():
                    self._status("cancelled")
                    return
                index = picker.chosen()
            self._project(faces[index], photo, preset)

        self._start(detect, detected, f"Opening {Path(path).name}…")

    def _project(self, face, photo, preset: str) -> None:
        session = self.session

        def job(progress, token):
            latent = session.project_face(face, preset, progress)
            token.check()
            return latent, None

        self._start(job, lambda r: self._set_face(r[0], _fit(face.image, session.resolution), face, photo),
                    f"Projecting ({preset})…")

    def open_aligned(self, path: str | os.PathLike) -> None:
        """Open an already aligned face image (no detection) and project it."""
        from faceedit.images import load_image
        from faceedit.types import Face

        try:
            image = fit_aligned(load_image(path))
        except Exception as e:
            self.show_error(str(e))
            return
        self._project(Face(image=image, source=Path(path)), None, self.preset_box.currentText())

    def open_latent(self, path: str | os.PathLike) -> None:
        """Open a projected latent (``.npy``) of the current model."""
        session = self.session

        def job(progress, token):
            latent = session.latent_from_file(path)
            return latent, session.render(latent.w)

        self._start(job, lambda r: self._set_face(r[0], r[1]), f"Loading {Path(path).name}…")

    def browse_folder(self, folder: str | os.PathLike) -> None:
        """List the aligned images and ``.npy`` latents of a folder in the side browser."""
        from faceedit.images import list_images

        folder = Path(folder)
        if not folder.is_dir():
            self.show_error(f"{folder}: not a folder")
            return
        items = list_images([folder]) + sorted(folder.glob("*.npy"))
        self.browser.clear()
        for p in items:
            item = QListWidgetItem(p.name)
            item.setData(Qt.ItemDataRole.UserRole, str(p))
            self.browser.addItem(item)
        self.browser.show()
        self._status(f"{len(items)} faces/latents in {folder}")
        self._load_thumbnails([str(p) for p in items[:MAX_THUMBNAILS]])

    def _load_thumbnails(self, paths: list[str]) -> None:
        """Thumbnails of the browser's images (read) and latents (rendered) on the pool, shown as they come."""
        session = self.session
        self._thumbs_token.cancel()

        def job(progress, token):
            for i, path in enumerate(paths):
                token.check()
                try:
                    image = session.thumbnail(path, THUMBNAIL_SIZE) if session else None
                except Exception:  # an unreadable file: listed without a picture (opening it reports why)
                    image = None
                if image is not None:  # handed over through a dict: progress signals carry text only
                    self._thumb_images[path] = image
                    progress((i + 1) / len(paths), path)

        def show(_fraction: float, path: str) -> None:
            image = self._thumb_images.pop(path, None)
            for i in range(self.browser.count()):
                item = self.browser.item(i)
                if image is not None and item.data(Qt.ItemDataRole.UserRole) == path:
                    item.setIcon(QIcon(QPixmap.fromImage(to_qimage(image))))

        task = run_task(job, lambda _r: None, lambda msg: None, show)
        self._thumbs_token = task.token
        self._thumb_tasks = [t for t in self._thumb_tasks if not t.done.is_set()] + [task]

    def _on_browser_item(self, item: QListWidgetItem) -> None:
        path = item.data(Qt.ItemDataRole.UserRole)
        (self.open_latent if path.endswith(".npy") else self.open_aligned)(path)

    # ================================================================== saving and loading
    def save_image(self, path: str | os.PathLike, whole_photo: bool = False) -> None:
        """Save the full-quality edit (aligned face, or pasted into the whole photo) as PNG/JPEG."""
        from faceedit.images import save_image

        session, state, mode = self.session, self.state(), self.edit_mode.mode()
        if Path(path).suffix.lower() not in (".png", ".jpg", ".jpeg"):
            self.show_error(f"{path}: save as .png, .jpg or .jpeg")
            return

        def job(progress, token):
            image = session.edited_photo(state, mode) if whole_photo else session.final_face(state, mode)[0]
            save_image(path, image)
            return path

        self._start(job, lambda p: self._status(f"saved {p}"), "Saving image…", cancellable=False)

    def save_translation(self, name: str) -> Path | None:
        """Save the current W+ delta as translation ``name`` (no questions asked)."""
        try:
            path = self.session.save_translation(name, self.state())
        except Exception as e:
            self.show_error(str(e))
            return None
        self._status(f"saved translation {path}")
        return path

    def save_recipe(self, path: str | os.PathLike) -> None:
        """Save the current edit as a recipe JSON."""
        from faceedit.io import save_json

        try:
            save_json(path, self.session.recipe(self.state()))
        except Exception as e:
            self.show_error(str(e))
            return
        self._status(f"saved recipe {path}")

    def load_recipe(self, path: str | os.PathLike) -> None:
        """Load a recipe JSON as the current edit (an undoable step)."""
        from faceedit.io import load_json

        try:
            state = self.session.state_from_recipe(load_json(path))
        except (OSError, ValueError) as e:
            self.show_error(f"{path}: cannot read recipe ({e})")
            return
        except Exception as e:
            self.show_error(str(e))
            return
        self._commit(state, f"load recipe {Path(path).name}")

    # ----- menu actions with dialogs
    def action_open_photo(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open photo", self.prefs.get("last_dir"), IMAGE_FILTER)
        if path:
            self.prefs.set("last_dir", str(Path(path).parent))
            self.open_photo(path)

    def face_from_identity(self, path: str | os.PathLike) -> None:
        """A new face of the identity of the face in a photo: its canonical dlib descriptor through the embedding
        mapper (``faceedit.embedding.from_embedding``; a synthetic face, not a projection of the photo)."""
        if self.session is None:
            self.show_error("No model loaded.")
            return
        session, path = self.session, str(path)

        def job(progress, token):
            from faceedit.embedding import from_embedding, photo_descriptor
            from faceedit.types import Latent

            desc = photo_descriptor(path)
            token.check()
            image, latent = from_embedding(desc, n=1, generator=session.generator, size=None)[0]
            return Latent(latent.w, session.model_id), image

        self._start(job, lambda r: self._set_face(r[0], r[1]), f"New face from the identity in {Path(path).name}…")

    def action_face_from_identity(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Photo whose identity to use", self.prefs.get("last_dir"),
                                              IMAGE_FILTER)
        if path:
            self.prefs.set("last_dir", str(Path(path).parent))
            self.face_from_identity(path)

    def action_open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Folder of aligned faces or latents",
                                                  self.prefs.get("last_dir"))
        if folder:
            self.browse_folder(folder)

    def action_open_checkpoint(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open generator checkpoint", self.prefs.get("last_dir"),
                                              "Checkpoints (*.pt *.pth *.pkl *.safetensors);;All files (*)")
        if path:
            self.load_model(path)

    def action_save_image(self) -> None:
        whole = self.act_in_photo.isChecked() and self.session.photo is not None
        path, _ = QFileDialog.getSaveFileName(self, "Save image (whole photo)" if whole else "Save image (face)",
                                              self.prefs.get("last_dir"), "PNG (*.png);;JPEG (*.jpg *.jpeg)")
        if path:
            if not Path(path).suffix:
                path += ".png"
            self.save_image(path, whole_photo=whole)

    def action_save_translation(self) -> None:
        dlg = NameDialog("Save translation", "Name (challenge convention, e.g. A_max, Hc_1, A_0_fr_2, bald):",
                         validate_translation_name, parent=self)
        if not dlg.exec():
            return
        name = dlg.name()
        if self.session.translation_path(name).exists():
            answer = QMessageBox.question(self, "Overwrite?",
                                          f"Translation {name!r} exists for this model. Replace it?")
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.save_translation(name)

    def action_save_recipe(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save edit recipe", self.prefs.get("last_dir"), "JSON (*.json)")
        if path:
            self.save_recipe(path)

    def action_load_recipe(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Load edit recipe", self.prefs.get("last_dir"), "JSON (*.json)")
        if path:
            self.load_recipe(path)

    # ================================================================== drag and drop, closing
    def dragEnterEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802 - Qt override
        urls = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if not urls:
            return
        path = urls[0]
        if os.path.isdir(path):
            self.browse_folder(path)
        elif path.endswith(".npy"):
            self.open_latent(path)
        elif path.endswith(".json"):
            self.load_recipe(path)
        else:
            self.open_photo(path)


def _fit(image: np.ndarray, size: int) -> np.ndarray:
    from faceedit.images import resize

    return resize(image, size)

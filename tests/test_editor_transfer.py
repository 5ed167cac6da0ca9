"""The editor's edit modes (issue 18): ``transfer`` carries the generator's edit onto the photo's own pixels,
``replace`` shows the render; View → Edit mode, the toggle, the preference, the transfer-map overlays, and the
in-photo view at the photo's resolution.  Window tests run offscreen (pytest-qt)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from faceedit.testing import data_dir

PHOTO = "000176.jpg"  # a wild photo whose face is about 250 px: aligned at 256


def laplacian_energy(image: np.ndarray) -> float:
    """Mean squared Laplacian of the grey central face region (cheeks, eyes, nose, mouth) of an aligned face."""
    import cv2

    n = image.shape[0]
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F)
    a, b = int(0.3 * n), int(0.75 * n)
    return float((lap[a:b, int(0.25 * n):int(0.75 * n)] ** 2).mean())


@pytest.fixture(scope="module")
def builtin_session():
    """A session on the built-in generator and its shipped translations (skips when not installed)."""
    from editor.session import EditSession
    from faceedit.models.checkpoints import ASSETS_DIR

    if not (ASSETS_DIR / "generator.safetensors").is_file():
        pytest.skip("the built-in default generator is not installed")
    return EditSession.open(None)


def make_window(qtbot, tmp_path, session=None, prefs_dir="prefs"):
    from editor.prefs import Preferences
    from editor.window import MainWindow

    win = MainWindow(Preferences.load(tmp_path / prefs_dir), interactive=False)
    qtbot.addWidget(win)
    win.show()
    if session is not None:
        win.set_session(session)
    return win


def wait_idle(qtbot, win, timeout=60000):
    qtbot.waitUntil(lambda: win.session is not None and win.session.base is not None and not win.busy(),
                    timeout=timeout)


def test_edit_mode_toggle_menu_and_preference(qtbot, tmp_path):
    from editor.prefs import Preferences

    win = make_window(qtbot, tmp_path)
    control = win.edit_mode
    assert control.mode() == "transfer" and control.toggle.isChecked()  # the default
    assert control.actions["transfer"].isChecked() and not control.actions["replace"].isChecked()
    modes = []
    control.changed.connect(modes.append)
    control.toggle.setChecked(False)  # the toggle in the UI
    assert control.mode() == "replace" and control.actions["replace"].isChecked()
    control.actions["transfer"].trigger()  # View → Edit mode → Transfer
    assert control.mode() == "transfer" and control.toggle.isChecked()
    control.actions["replace"].trigger()
    assert modes == ["replace", "transfer", "replace"]  # once per change, whichever control made it
    view = next(a.menu() for a in win.menuBar().actions() if a.text() == "&View")
    sub = next(a.menu() for a in view.actions() if a.menu() is not None and a.text() == "&Edit mode")
    assert [a.isChecked() for a in sub.actions()] == [False, True]
    assert {"flow", "gain", "alpha"} <= set(win.overlay_actions)  # the transfer maps are overlays
    win.close()  # saves the preferences
    again = make_window(qtbot, tmp_path)
    assert again.edit_mode.mode() == "replace" and not again.edit_mode.toggle.isChecked()
    again.close()
    assert Preferences.load(tmp_path / "prefs").get("edit_mode") == "replace"


def test_transfer_keeps_the_photo_sharp_replace_does_not(qtbot, tmp_path, builtin_session):
    """A real photo, A_2 (older) released: transfer keeps the face's detail, replace shows the 64 px render;
    the maps of the last transfer draw at the face's size; the in-photo view is the whole photo."""
    photo = data_dir() / "wild" / "images" / PHOTO
    if not photo.is_file():
        pytest.skip(f"missing {photo}")
    win = make_window(qtbot, tmp_path, builtin_session)
    win.preset_box.setCurrentText("fast")
    win.open_photo(photo)
    qtbot.waitUntil(lambda: win.session.face is not None and not win.busy(), timeout=120000)
    assert not win.last_error, win.last_error
    s = win.session
    n = s.face.image.shape[0]
    assert n >= 256 and win.original_view.image.shape == (n, n, 3)  # the sharp original, at its size
    base = laplacian_energy(s.face.image)

    win.set_slider("translation:A_2", 1.0)  # a released slider: the full render runs the transfer
    wait_idle(qtbot, win)
    r = win.last_render()
    assert r.mode == "transfer" and r.transfer is not None and r.edited.shape == (n, n, 3)
    assert not np.array_equal(r.edited, s.face.image)  # the edit did something
    transfer_ratio = laplacian_energy(r.edited) / base

    from faceedit.compose.transfer import map_picture

    for kind in ("flow", "gain", "alpha"):
        win.overlay_actions[kind].setChecked(True)
        wait_idle(qtbot, win)
        assert win.edited_view.image.shape == (n, n, 3), kind
        np.testing.assert_array_equal(win.edited_view.image, map_picture(win.last_render().transfer, kind))
    assert win.edited_view.image.std() > 10  # not a blank picture
    win.overlay_actions["none"].setChecked(True)

    from faceedit.compose.mixups import dilate

    win.mixup_boxes["segmentation"].setChecked(True)  # the mixups restrict the transferred face
    wait_idle(qtbot, win)
    r = win.last_render()
    allowed = r.masks["segmentation"]  # A: every class of the person, the background restored
    assert r.mode == "transfer" and allowed.shape == (n, n) and 0 < allowed.mean() < 1
    far = ~dilate(allowed, 0.03 * n + 1)
    np.testing.assert_array_equal(r.edited[far], s.face.image[far])  # outside the domain: the photo's pixels
    win.undo()

    win.edit_mode.set_mode("replace")  # re-renders by itself
    wait_idle(qtbot, win)
    r = win.last_render()
    assert r.mode == "replace" and r.transfer is None and r.edited.shape[0] == s.resolution
    from faceedit.images import resize

    replace_ratio = laplacian_energy(resize(r.edited, n)) / base
    assert transfer_ratio >= 0.8 and replace_ratio < 0.5, (transfer_ratio, replace_ratio)

    win.edit_mode.set_mode("transfer")
    win.act_in_photo.setChecked(True)
    wait_idle(qtbot, win)
    shown = win.edited_view.image
    assert shown.shape == s.photo.shape
    far = np.ones(shown.shape[:2], bool)  # the photo far from the face: untouched, exactly
    x0, y0, x1, y1 = (int(v) for v in s.face.meta["box"])
    far[max(0, 2 * y0 - y1):2 * y1 - y0, max(0, 2 * x0 - x1):2 * x1 - x0] = False
    np.testing.assert_array_equal(shown[far], s.photo[far])
    assert not np.array_equal(shown, s.photo)
    win.save_image(tmp_path / "whole.png", whole_photo=True)  # saved as shown
    qtbot.waitUntil(lambda: win._task is None and (tmp_path / "whole.png").is_file(), timeout=30000)
    from faceedit.images import load_image

    np.testing.assert_array_equal(load_image(tmp_path / "whole.png"), shown)
    win.close()


def test_a_face_without_a_photo_falls_back_to_the_render(qtbot, tmp_path, builtin_session):
    win = make_window(qtbot, tmp_path, builtin_session)
    win.start_face(seed=1)
    wait_idle(qtbot, win)
    assert win.edit_mode.mode() == "transfer"
    win.set_slider("translation:A_2", 1.0)
    wait_idle(qtbot, win)
    r = win.last_render()
    assert r.mode == "replace" and r.transfer is None
    assert "no photo" in win.status_label.text()
    win.overlay_actions["flow"].setChecked(True)  # no transfer map to draw: the face as it is
    wait_idle(qtbot, win)
    np.testing.assert_array_equal(win.edited_view.image, r.edited)
    win.close()


def test_edit_mode_command_line_and_helpers():
    from editor.app import build_parser
    from editor.edit_modes import aligned_side, check_edit_mode, edit_names
    from faceedit.errors import InvalidInput

    assert build_parser().parse_args(["--edit-mode", "replace"]).edit_mode == "replace"
    assert build_parser().parse_args([]).edit_mode is None  # the preference decides
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--edit-mode", "paste"])
    with pytest.raises(InvalidInput, match="unknown edit mode"):
        check_edit_mode("paste")
    assert [aligned_side(s) for s in (90.0, 511.6, 3000.0)] == [256, 512, 1024]
    assert edit_names(["translation:A_2", "translation:Hc_1"]) == ["A_2", "Hc_1"]
    assert edit_names(["translation:A_2", "pca:0"]) is None and edit_names([]) is None  # no policy: all allowed

"""Tests of the desktop editor's real window (pytest-qt, offscreen) on the tiny conformance generator with seeded
translations (the undo/redo model and the render worker: test_editor_state.py)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from faceedit.errors import InvalidInput
from faceedit.testing import PROJECT_ROOT, conformance_dir, data_dir

TINY = conformance_dir() / "anycost_tiny_generator.pt"
MODEL_ID = "tiny-test"


# ---------------------------------------------------------------------------------------------- window
@pytest.fixture(scope="module")
def generator():
    import torch

    from faceedit.models.stylegan2 import Generator

    if not TINY.is_file():
        pytest.skip(f"conformance generator missing: {TINY}")
    ckpt = torch.load(TINY, map_location="cpu")
    g = Generator(**ckpt["config"], model_id=MODEL_ID)
    g.load_state_dict(ckpt["g_ema"])
    return g.eval()


@pytest.fixture(scope="module")
def translations_root(generator, tmp_path_factory):
    from faceedit.edit.translations import Translation, TranslationStore

    root = tmp_path_factory.mktemp("translations")
    store = TranslationStore(root / MODEL_ID, MODEL_ID)
    rng = np.random.default_rng(0)
    for name in ("A_2", "Hc_1", "Be_min"):
        delta = 0.5 * rng.standard_normal((generator.n_latent, generator.style_dim)).astype(np.float32)
        store.save(Translation(name, delta, {"default_strength": 1.0}))
    return root


@pytest.fixture(scope="module")
def session(generator, translations_root):
    """One session (model + slider catalogue) for the window tests; each window sets its own face."""
    from editor.session import EditSession

    s = EditSession(generator, translations_root)
    s.load_catalogue()
    return s


@pytest.fixture
def window(qtbot, session, translations_root, tmp_path):
    from editor.prefs import Preferences
    from editor.window import MainWindow

    win = MainWindow(Preferences.load(tmp_path / "prefs"), translations_root, interactive=False)
    qtbot.addWidget(win)
    win.show()
    win.set_session(session)
    win.start_face(seed=3)
    wait_idle(qtbot, win)
    yield win
    win.close()


def wait_idle(qtbot, win, timeout=60000):
    qtbot.waitUntil(lambda: win.session is not None and win.session.base is not None and not win.busy(),
                    timeout=timeout)


def wild_photos() -> list[Path]:
    photos = sorted((data_dir() / "wild" / "images").glob("*.jpg"))
    if not photos:
        pytest.skip(f"no wild photos in {data_dir()}")
    return photos


def library_render(generator, w):
    import torch

    from faceedit.images import to_image

    with torch.no_grad():
        return to_image(generator.synthesis(torch.from_numpy(w)[None], noise_mode="const"))[0]


def test_start_face_and_catalogue(window, generator):
    s = window.session
    keys = [spec.key for spec in s.sliders]
    assert {"translation:A_2", "translation:Hc_1", "translation:Be_min"} <= set(keys)
    assert sum(k.startswith("pca:") for k in keys) == 8
    groups = {spec.key: spec.group for spec in s.sliders}
    assert groups["translation:A_2"] == "Age" and groups["translation:Hc_1"] == "Hair colour"
    assert set(window.sliders.rows) == set(keys)
    shown = window.edited_view.image
    assert shown.shape == (64, 64, 3)
    np.testing.assert_array_equal(shown, library_render(generator, s.base.w))  # no edit yet
    assert window.edited_view.shown_pixmap().width() == 64


def test_slider_render_equals_library_and_undo_restores(window, qtbot, generator):
    before = window.edited_view.image.copy()
    window.sliders.rows["translation:A_2"].spin.setValue(1.5)  # a user edit through the widget
    assert window.history.labels() == ["start", "translation:A_2 = 1.5"]
    wait_idle(qtbot, window)
    after = window.edited_view.image.copy()
    assert np.abs(after.astype(int) - before).mean() > 2  # the pixmap changed
    expected_w = window.session.base.w + 1.5 * window.session._translations["translation:A_2"].delta
    np.testing.assert_allclose(window.session.latent_for(window.state()), expected_w, rtol=0, atol=1e-5)
    np.testing.assert_array_equal(after, library_render(generator, window.session.latent_for(window.state())))

    window.undo()
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(window.edited_view.image, before)  # the exact previous image
    assert window.sliders.rows["translation:A_2"].value() == 0.0
    window.redo()
    wait_idle(qtbot, window)
    np.testing.assert_array_equal(window.edited_view.image, after)


def test_mouse_drag_on_a_real_slider(window, qtbot, generator):
    from PySide6.QtCore import QPoint, Qt
    from PySide6.QtTest import QTest
    from PySide6.QtWidgets import QStyle, QStyleOptionSlider

    row = window.sliders.rows["translation:A_2"]
    window.sliders.ensureWidgetVisible(row)
    qtbot.waitExposed(window)
    slider = row.slider
    opt = QStyleOptionSlider()
    slider.initStyleOption(opt)
    handle = slider.style().subControlRect(QStyle.ComplexControl.CC_Slider, opt,
                                           QStyle.SubControl.SC_SliderHandle, slider).center()
    before = window.edited_view.image.copy()
    QTest.mousePress(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, handle)
    for dx in (5, 10, 20, 30):
        QTest.mouseMove(slider, QPoint(handle.x() + dx, handle.y()))
    wait_idle(qtbot, window)
    assert slider.isSliderDown() and row.value() > 0
    assert window.last_render().preview and window.history.state.value("translation:A_2") == 0.0  # not committed
    QTest.mouseRelease(slider, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                       QPoint(handle.x() + 30, handle.y()))
    wait_idle(qtbot, window)
    value = row.value()
    assert value > 0 and window.state().value("translation:A_2") == value  # one undo step on release
    assert window.history.labels() == ["start", f"translation:A_2 = {value:g}"]
    assert not window.last_render().preview
    np.testing.assert_array_equal(window.edited_view.image,
                                  library_render(generator, window.session.latent_for(window.state())))
    assert not np.array_equal(window.edited_view.image, before)


def test_drag_preview_then_full_render(window, qtbot, generator):
    window._on_slider_moved("pca:1", 2.0)  # what SliderRow.moved emits while dragging
    wait_idle(qtbot, window)
    assert window.last_render().preview
    assert window.history.state.value("pca:1") == 0.0  # dragging does not commit
    window._on_slider_committed("pca:1", 2.0)  # release
    wait_idle(qtbot, window)
    assert not window.last_render().preview and window.history.undo_label() == "pca:1 = 2"
    w = window.session.latent_for(window.state())
    assert not np.allclose(w, window.session.base.w)
    np.testing.assert_array_equal(window.edited_view.image, library_render(generator, w))
    # a layer range restricts the PCA edit to those W+ rows
    window.pca_start.setValue(2)
    window.pca_stop.setValue(4)
    wait_idle(qtbot, window)
    diff = np.abs(window.session.latent_for(window.state()) - window.session.base.w).sum(axis=1)
    assert (diff[2:4] > 0).all() and (diff[:2] == 0).all() and (diff[4:] == 0).all()


def test_preview_quality_settings(window, qtbot):
    from types import SimpleNamespace

    from editor.session import EditSession

    big = EditSession(SimpleNamespace(resolution=1024, model_id="big", n_latent=18, style_dim=512))
    assert big.preview_settings() == {"channel_ratio": 0.25, "resolution": 256}  # the 1024 preview
    assert big.preview_settings("lowres") == {"resolution": 256} and big.preview_settings("full") == {}
    mid = EditSession(SimpleNamespace(resolution=256, model_id="mid", n_latent=14, style_dim=512))
    assert mid.preview_settings() == {"channel_ratio": 0.5, "resolution": 256}
    assert window.session.preview_settings() == {}  # 64 px: previews are full renders
    with pytest.raises(InvalidInput, match="preview quality"):
        big.preview_settings("blurry")

    window.quality_actions["lowres"].setChecked(True)
    window._on_slider_moved("pca:2", 1.5)
    wait_idle(qtbot, window)
    r = window.last_render()
    assert r.preview and r.edited.shape == (32, 32, 3) and window.edited_view.image.shape == (64, 64, 3)


def test_save_translation_and_reload(window, qtbot, translations_root):
    from faceedit.edit.translations import Translation

    assert window.save_translation("Hc_1_fr_2") is None and "empty" in window.last_error  # nothing to save yet
    window.set_slider("translation:Hc_1", 0.8)
    window.set_slider("pca:0", -1.0)
    wait_idle(qtbot, window)
    assert window.save_translation("Hc_1_fr_2") is not None
    t = Translation.load(translations_root / MODEL_ID / "Hc_1_fr_2.npy")
    np.testing.assert_allclose(t.delta, window.session.latent_for(window.state()) - window.session.base.w, atol=1e-6)
    assert t.meta["model_id"] == MODEL_ID and t.meta["method"] == "editor"
    assert window.save_translation("Hc_9") is None  # breaks the naming convention
    assert "Hc" in window.last_error
    from editor.session import validate_translation_name

    assert validate_translation_name("Be_min") is None and "cursor" in validate_translation_name("Be_2")


def test_save_image_and_recipe_round_trip(window, qtbot, tmp_path):
    from faceedit.images import load_image

    window.set_slider("translation:Be_min", -1.25)
    wait_idle(qtbot, window)
    out = tmp_path / "edit.png"
    window.save_image(out)
    qtbot.waitUntil(lambda: out.is_file() and window._task is None, timeout=30000)
    np.testing.assert_array_equal(load_image(out), window.edited_view.image)

    recipe = tmp_path / "recipe.json"
    window.save_recipe(recipe)
    import json

    data = json.loads(recipe.read_text())
    assert data["steps"] == [{"translation": "Be_min", "strength": -1.25, "mode": "shift"}]
    window.reset_all()
    wait_idle(qtbot, window)
    assert window.state().as_dict() == {}
    window.load_recipe(recipe)
    wait_idle(qtbot, window)
    assert window.state().as_dict() == {"translation:Be_min": -1.25}
    assert window.sliders.rows["translation:Be_min"].value() == -1.25


def test_map_edit_is_an_undoable_slider_on_top_of_the_edit(window, qtbot, tmp_path):
    """Map mode's Apply: its W+ change becomes a "Map edit" slider at 1 over the current edit (base kept)."""
    window.set_slider("translation:Be_min", -1.0)
    wait_idle(qtbot, window)
    session, before = window.session, window.session.latent_for(window.state())
    delta = np.random.default_rng(0).normal(0, 0.1, before.shape).astype(np.float32)
    window.apply_map_edit(delta)
    wait_idle(qtbot, window)
    assert window.state().as_dict() == {"translation:Be_min": -1.0, "map:1": 1.0}
    assert "map:1" in window.sliders.rows
    np.testing.assert_allclose(session.latent_for(window.state()), before + delta, atol=1e-5)
    window.set_slider("map:1", 0.5)  # a slider like the others
    np.testing.assert_allclose(session.latent_for(window.state()), before + 0.5 * delta, atol=1e-5)
    window.save_recipe(tmp_path / "r.json")
    import json

    assert "map:1" not in json.loads((tmp_path / "r.json").read_text())["editor"]["values"]  # session-only
    window.undo()
    window.undo()
    wait_idle(qtbot, window)
    assert window.state().as_dict() == {"translation:Be_min": -1.0}
    np.testing.assert_allclose(session.latent_for(window.state()), before, atol=1e-6)


def test_mixup_toggle_and_overlays_on_full_render(window, qtbot, generator):
    from faceedit.compose.mixups import Mixer, dilate

    window.set_slider("translation:Hc_1", 1.5)
    window.mixup_boxes["domain"].setChecked(True)  # an undoable change like any other
    wait_idle(qtbot, window)
    assert window.state().mixups == {"domain"} and window.history.undo_label() == "domain mixup on"
    s = window.session
    raw = library_render(generator, s.latent_for(window.state()))
    expected = Mixer({"steps": ["domain"]}).mix(s.original, raw, "Hc_1")
    shown, allowed = window.edited_view.image, window.last_render().masks["domain"]
    np.testing.assert_array_equal(shown, expected.image)
    assert 0 < allowed.mean() < 1
    far = ~dilate(allowed, 0.08 * 64 + 1)  # farther from the hair region than the domain feather
    assert far.any()
    np.testing.assert_array_equal(shown[far], s.original[far])  # there: exactly the original
    assert not np.array_equal(shown, raw)

    window.overlay_actions["difference"].setChecked(True)
    wait_idle(qtbot, window)
    diff = np.abs(expected.image.astype(int) - s.original.astype(int)).max(axis=2)
    np.testing.assert_array_equal(window.edited_view.image[..., 0], np.clip(diff * 4, 0, 255))
    window.overlay_actions["masks"].setChecked(True)
    wait_idle(qtbot, window)
    tinted = window.edited_view.image
    assert (tinted[allowed][:, 0].astype(int) >= expected.image[allowed][:, 0]).all()
    np.testing.assert_array_equal(tinted[~allowed], expected.image[~allowed])

    window.undo()  # mixup off again
    wait_idle(qtbot, window)
    assert window.state().mixups == frozenset() and not window.mixup_boxes["domain"].isChecked()


def test_error_dialog_on_non_image_file(window, qtbot, tmp_path):
    bad = tmp_path / "notes.jpg"
    bad.write_text("this is not an image")
    window.open_photo(bad)
    qtbot.waitUntil(lambda: bool(window.error_boxes()), timeout=30000)
    box = window.error_boxes()[-1]
    assert "not an image" in box.text() and str(bad) in box.text()
    assert window.isVisible() and window._task is None  # no crash, ready for the next action
    window.load_recipe(tmp_path / "missing.json")
    assert "missing.json" in window.error_boxes()[-1].text()


def test_open_photo_projects_face(window, qtbot, generator):
    try:
        import faceedit.faces.alignment
        import faceedit.projection.project
    except ImportError as e:
        pytest.skip(f"alignment/projection not available yet: {e}")
    photos = wild_photos()
    window.preset_box.setCurrentText("fast")
    window.open_photo(photos[0])
    qtbot.waitUntil(lambda: window.session.face is not None and not window.busy(), timeout=240000)
    assert not window.last_error, window.last_error
    s = window.session
    n = s.face.image.shape[0]  # aligned at the face's size in the photo, for the transfer
    assert 256 <= n <= 1024 and s.face.image.shape == (n, n, 3) and s.photo.shape[2] == 3
    assert s.original.shape == (64, 64, 3)  # what replace mode and the projection compare with
    np.testing.assert_array_equal(window.original_view.image, s.face.image)
    window.act_in_photo.setChecked(True)
    wait_idle(qtbot, window)
    assert window.edited_view.image.shape == s.photo.shape  # pasted into the whole photo
    np.testing.assert_array_equal(window.original_view.image, s.photo)  # beside the original photo
    window._on_slider_moved("translation:A_2", 1.0)  # drag previews stay in the photo too
    wait_idle(qtbot, window)
    assert window.last_render().preview and window.edited_view.image.shape == s.photo.shape

    from faceedit.faces.parsing import overlay, parse

    window.act_in_photo.setChecked(False)
    window.overlay_actions["parsing"].setChecked(True)  # parsed with the photo's landmarks, no detection
    wait_idle(qtbot, window)
    assert not window.last_error, window.last_error
    edited = window.last_render().edited
    assert edited.shape == (n, n, 3)  # transferred onto the full-size face (the default edit mode)
    labels = parse(edited, landmarks=s.original_landmarks(n))
    assert len(np.unique(labels)) > 3
    np.testing.assert_array_equal(window.edited_view.image, overlay(edited, labels))


def test_model_switch_and_checkpoint_errors(window, qtbot, tmp_path):
    old = window.session
    bad = tmp_path / "broken.pt"
    bad.write_bytes(b"not a checkpoint")
    window.load_model(str(bad))
    qtbot.waitUntil(lambda: bool(window.error_boxes()) and window._task is None, timeout=30000)
    assert "broken.pt" in window.error_boxes()[-1].text() and window.session is old  # old model kept

    window.load_model(str(TINY))
    qtbot.waitUntil(lambda: window.session is not old and window.session.base is not None and not window.busy(),
                    timeout=60000)
    s = window.session
    assert s.model_id != MODEL_ID and s.resolution == 64
    assert set(window.sliders.rows) == {spec.key for spec in s.sliders}  # no translations for this id: PCA only
    assert all(k.startswith("pca:") for k in window.sliders.rows)
    assert "64 px" in window.windowTitle()


def test_unexpected_exceptions_become_a_message(window, qtbot, tmp_path, monkeypatch):
    from PySide6.QtCore import QTimer

    from editor.app import install_excepthook

    monkeypatch.setattr(sys, "excepthook", sys.excepthook)  # restored after the test
    log = tmp_path / "editor.log"
    install_excepthook(window, log)

    def broken_slot():
        raise RuntimeError("boom")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: "boom" in window.last_error, timeout=5000)
    assert window.last_error == f"RuntimeError: boom (details in {log})"
    assert "broken_slot" in log.read_text()  # the traceback went to the log, not the terminal


def test_opens_on_the_default_model_with_a_face(qtbot, tmp_path):
    from editor.prefs import Preferences
    from editor.window import MainWindow
    from faceedit.models.checkpoints import ASSETS_DIR

    if not (ASSETS_DIR / "generator.safetensors").is_file():
        pytest.skip("the built-in default generator is not installed")
    win = MainWindow(Preferences.load(tmp_path / "prefs"), interactive=False)
    qtbot.addWidget(win)
    win.show()
    win.load_model(None)  # what `python -m editor` does at start-up
    wait_idle(qtbot, win, timeout=120000)
    s = win.session
    assert not win.last_error, win.last_error
    assert s.face is None and win.edited_view.image.shape == (s.resolution, s.resolution, 3)
    np.testing.assert_array_equal(win.edited_view.image, s.original)  # a generated face, no edit yet
    assert win.edited_view.image.std() > 10
    win.close()
    assert (tmp_path / "prefs" / "last_latent.npy").is_file()  # restored at the next start
    # --seed N: the generated face of seed N instead of the restored one (what README's screenshot uses)
    win = MainWindow(Preferences.load(tmp_path / "prefs"), interactive=False, start_seed=7)
    qtbot.addWidget(win)
    win.show()
    win.load_model(None)
    wait_idle(qtbot, win, timeout=120000)
    np.testing.assert_array_equal(win.session.base.w, win.session.generated_latent(7).w)
    assert win.start_seed is None  # only the first start face
    win.close()


def test_conditional_translations_are_hidden_until_asked(window, qtbot):
    from editor.session import SliderSpec

    s = window.session
    spec = SliderSpec("translation:A_2_fr_0", "A_2_fr_0", "Age", -2, 2, conditional=True)
    s._translations[spec.key] = s._translations["translation:A_2"]
    s.sliders.append(spec)
    try:
        window._setup_sliders()
        assert spec.key not in window.sliders.rows
        window.act_conditional.setChecked(True)
        assert spec.key in window.sliders.rows
        window.act_conditional.setChecked(False)
        window.set_sliders({spec.key: 0.5}, "recipe")  # a value on a hidden slider shows it
        wait_idle(qtbot, window)
        assert window.sliders.rows[spec.key].value() == 0.5
    finally:
        s.sliders.remove(spec)
        del s._translations[spec.key]


def test_face_picker_lists_every_face(qtbot):
    from editor.widgets import FacePicker

    faces = [np.full((32, 32, 3), v, np.uint8) for v in (10, 120, 250)]
    picker = FacePicker(faces)
    qtbot.addWidget(picker)
    assert picker.list.count() == 3 and picker.chosen() == 0  # the largest face is preselected
    picker.list.setCurrentRow(2)
    assert picker.chosen() == 2


def test_browse_folder_of_latents_and_aligned_faces(window, qtbot, tmp_path):
    from faceedit.images import save_image

    folder = tmp_path / "faces"
    folder.mkdir()
    rng = np.random.default_rng(1)
    w = window.session.base.w + 0.1 * rng.standard_normal(window.session.base.w.shape).astype(np.float32)
    np.save(folder / "face_a.npy", w[None])  # gan-face-editing's layout (1, n_latent, style_dim)
    save_image(folder / "face_b.png", window.edited_view.image)
    (folder / "notes.txt").write_text("ignored")
    window.browse_folder(folder)
    assert window.browser.isVisible() and window.browser.count() == 2
    items = {window.browser.item(i).text(): window.browser.item(i) for i in range(window.browser.count())}
    assert set(items) == {"face_a.npy", "face_b.png"}
    qtbot.waitUntil(lambda: all(not item.icon().isNull() for item in items.values()), timeout=30000)
    window._on_browser_item(items["face_a.npy"])
    qtbot.waitUntil(lambda: np.array_equal(window.session.base.w, w) and not window.busy(), timeout=30000)
    assert window.history.labels() == ["start"]  # a new face starts a new history
    window._on_browser_item(items["face_b.png"])  # an aligned image: projected (no detection)
    qtbot.waitUntil(lambda: window.session.face is not None and not window.busy(), timeout=60000)
    assert window.session.face.source == folder / "face_b.png" and not window.last_error


def test_latent_files_in_every_layout(session, tmp_path):
    n, d = session.n_latent, int(session.generator.style_dim)
    w = np.random.default_rng(2).standard_normal((n, d)).astype(np.float32)
    for name, array, expected in [("a", w, w), ("b", w[None], w), ("c", w[0], np.repeat(w[:1], n, 0)),
                                  ("d", w[:1], np.repeat(w[:1], n, 0))]:
        np.save(tmp_path / f"{name}.npy", array)
        latent = session.latent_from_file(tmp_path / f"{name}.npy")
        np.testing.assert_array_equal(latent.w, expected)
        assert latent.model_id == session.model_id
    w[1, 2] = np.inf
    np.save(tmp_path / "bad.npy", w)
    with pytest.raises(InvalidInput, match="bad.npy: the latent has NaN or infinite values"):
        session.latent_from_file(tmp_path / "bad.npy")


def test_drop_a_photo_starts_opening_it(window, qtbot):
    from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
    from PySide6.QtGui import QDropEvent

    photo = wild_photos()[0]
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(photo))])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    window.dropEvent(event)
    assert window._task is not None and photo.name in window.status_label.text()
    window.cancel_task()


def test_cancel_frees_the_ui_and_drops_the_result(window, qtbot):
    photos = wild_photos()
    base = window.session.base
    window.open_photo(photos[1])
    assert window._task is not None and window.cancel_button.isVisible()
    window.cancel_task()
    assert window._task is None and window.status_label.text() == "cancelled"
    abandoned = window._abandoned[-1]
    qtbot.waitUntil(abandoned.done.is_set, timeout=180000)
    qtbot.wait(50)
    assert window.session.base is base and window.session.face is None  # the late result was dropped


def run_screenshot(out: Path, home: Path, *extra: str) -> subprocess.CompletedProcess:
    """``python -m editor --screenshot``: under Xvfb (a real X11 window) when xvfb-run is installed and Qt's
    xcb plugin loads there, else on the offscreen platform."""
    cmd = [sys.executable, "-m", "editor", "--model", str(TINY), "--screenshot", str(out), "--size", "900x560",
           "--timeout", "150", *extra]
    env = dict(os.environ, FACEEDIT_EDITOR_HOME=str(home), QT_QPA_PLATFORM="offscreen")
    if shutil.which("xvfb-run"):
        xenv = {k: v for k, v in env.items() if k != "QT_QPA_PLATFORM"}
        r = subprocess.run(["xvfb-run", "-a", "-s", "-screen 0 1280x800x24", *cmd], cwd=PROJECT_ROOT, env=xenv,
                           capture_output=True, text=True, timeout=240)
        if "Could not load the Qt platform plugin" not in r.stderr:
            return r
        print("Qt's xcb plugin does not load under Xvfb here (libxcb-cursor0 missing?): using offscreen")
    return subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240)


@pytest.mark.slow
def test_screenshot_command_opens_and_projects_a_photo(tmp_path):
    from faceedit.images import load_image

    photos = wild_photos()
    out = tmp_path / "shot.png"
    r = run_screenshot(out, tmp_path / "home", "--open", str(photos[0]), "--set", "pca:0=2", "--in-photo")
    assert r.returncode == 0, r.stderr[-3000:]
    assert "screenshot:" in r.stdout
    shot = load_image(out)
    assert shot.shape[:2] == (560, 900) and shot.std() > 10
    prefs = (tmp_path / "home" / "editor.toml").read_text()
    assert str(photos[0].resolve()) in prefs  # added to the recent files
    assert (tmp_path / "home" / "last_latent.npy").is_file()  # the session is restored next time


def test_command_line_edits_are_parsed():
    from editor.app import build_parser, parse_edits

    assert parse_edits(["translation:A_2=1.5", "pca:0=-2"]) == {"translation:A_2": 1.5, "pca:0": -2.0}
    for bad in (["translation:A_2"], ["pca:0=x"], ["=1"]):
        with pytest.raises(ValueError, match="SLIDER=NUMBER"):
            parse_edits(bad)
    args = build_parser().parse_args(["--open", "a.jpg", "--screenshot", "o.png", "--set", "pca:1=1"])
    assert args.open == "a.jpg" and args.set == ["pca:1=1"] and not args.in_photo


def test_qt_binding_does_not_leak_none(qtbot):
    """PySide6 6.12.0 on Python 3.11 decremented None's refcount on every void call, aborting the editor
    ("none_dealloc") after a few thousand calls; constraints.txt pins a good version."""
    from PySide6.QtWidgets import QApplication, QLabel

    label = QLabel()
    before = sys.getrefcount(None)
    for _ in range(3000):
        label.setText("x")
        QApplication.processEvents()
    assert sys.getrefcount(None) >= before - 100


def test_slider_tooltip_says_what_the_validator_read():
    from editor.session import EditSession
    from faceedit.edit.translations import Translation

    t = Translation("A_2_fr_0", np.zeros((4, 8), np.float32), {"method": "ridge",
                    "validation": {"verdict": "rejected (+5.5 years the intended way)"}})
    text = EditSession._describe(t)
    assert text.startswith("A_2_fr_0 — ") and "(ridge)" in text
    assert text.endswith("independent validator, held-out faces: rejected (+5.5 years the intended way)")
    assert "validator" not in EditSession._describe(Translation("A_2", np.zeros((4, 8), np.float32), {}))

"""Editor: File → "New face from photo's identity" (issue 22)."""
import os

import numpy as np
import pytest

from faceedit.testing import data_dir

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
pytest.importorskip("pytestqt")


def test_editor_new_face_from_photo_identity(tmp_path, qtbot):
    from editor.prefs import Preferences
    from editor.window import MainWindow
    from faceedit.embedding import from_embedding, photo_descriptor
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.embedding_mapper import DEFAULT_MAPPER, load_embedding_mapper

    if not DEFAULT_MAPPER.is_file():
        pytest.skip("no built-in embedding mapper")

    win = MainWindow(Preferences.load(tmp_path / "prefs"), interactive=False)
    qtbot.addWidget(win)
    win.show()
    win.load_model(None)
    qtbot.waitUntil(lambda: win.session is not None and win.session.base is not None and not win.busy(),
                    timeout=120000)
    before = win.session.base.w.copy()
    photo = sorted((data_dir() / "wild" / "images").glob("*.jpg"))[0]
    win.face_from_identity(photo)
    qtbot.waitUntil(lambda: not win.busy() and not np.array_equal(win.session.base.w, before), timeout=120000)
    assert not win.last_error, win.last_error
    G, M = load_generator().eval(), load_embedding_mapper()
    expected = from_embedding(photo_descriptor(photo), n=1, generator=G, mapper=M, size=None)[0]
    np.testing.assert_allclose(win.session.base.w, expected[1].w, atol=1e-5)
    win.close()

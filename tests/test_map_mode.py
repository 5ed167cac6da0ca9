"""The editor's Map mode (issue 21): the map layer's edits, locks, undo/redo and files; the dialog (offscreen)."""
from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest

from faceedit.faces.parsing import LABEL
from tests.test_maps import face_map

pytestmark = pytest.mark.usefixtures("one_thread")


def centroid(labels, names):
    ys, xs = np.nonzero(np.isin(labels, [LABEL[n] for n in names]))
    return np.array([xs.mean(), ys.mean()])


def test_moving_a_part_moves_it_in_the_stored_map_and_undo_restores_it():
    from editor.map_mode import MapLayer

    start = face_map()
    layer = MapLayer(start)
    assert layer.transform_part("lips", dx=0, dy=3)
    moved = layer.labels
    lips = ("mouth", "u_lip", "l_lip")
    np.testing.assert_allclose(centroid(moved, lips) - centroid(start, lips), [0, 3], atol=0.5)
    assert (moved[np.isin(start, [LABEL["u_lip"], LABEL["l_lip"]]) & ~np.isin(moved, [LABEL["u_lip"], LABEL["l_lip"]])]
            == LABEL["skin"]).all()  # the old place shows skin
    assert np.array_equal(layer.undo(), start)
    assert np.array_equal(layer.redo(), moved)
    layer.transform_part("lips", scale=1.3)
    area = lambda m: np.isin(m, [LABEL["u_lip"], LABEL["l_lip"]]).sum()  # noqa: E731
    assert area(layer.labels) > 1.4 * area(moved)  # 1.3 linear: ~1.7 in area (nearest neighbour)
    assert layer.history.labels() == ["start", "move lips", "transform lips"]


def test_brush_eraser_fill_and_locks(tmp_path):
    from editor.map_mode import MapLayer

    layer = MapLayer(face_map())
    assert layer.paint(32, 20, LABEL["hair"], radius=2)
    assert layer.labels[20, 32] == LABEL["hair"]
    layer.paint(33, 20, LABEL["hair"], radius=2)
    assert layer.history.labels() == ["start", "paint hair"]  # one stroke, one undo step
    layer.erase(32, 20, radius=2)
    assert layer.labels[20, 32] == LABEL["skin"]  # inside the face: skin underneath
    layer.erase(1, 1, radius=1)
    assert layer.labels[1, 1] == LABEL["background"]
    layer.locked = {LABEL["nose"]}
    nose = layer.labels == LABEL["nose"]
    layer.paint(32, 36, LABEL["hair"], radius=6, group=None)
    assert (layer.labels[nose] == LABEL["nose"]).all() and (layer.labels == LABEL["hair"]).sum() > nose.sum()
    layer.fill(0, 0, LABEL["cloth"])
    assert layer.labels[0, 0] == LABEL["cloth"] and layer.labels[32, 32] != LABEL["cloth"]
    layer.save(tmp_path / "m.png")
    assert np.array_equal(MapLayer.load(tmp_path / "m.png").labels, layer.labels)


def test_map_mode_dialog_renders_and_applies(qtbot):
    from faceedit.models.map_encoder import DEFAULT_MAP_ENCODER

    if not DEFAULT_MAP_ENCODER.is_file():
        pytest.skip("no built-in map encoder")
    from editor.map_dialog import MapModeDialog
    from faceedit.models.checkpoints import load_generator
    from faceedit.synthesis import synthesize

    G = load_generator().eval()
    w = G.mean_latent(4096).numpy().repeat(G.n_latent, 0)
    got = []
    dialog = MapModeDialog(None, synthesize(G, w[None])[0], w, G, lambda delta, image: got.append((delta, image)))
    qtbot.addWidget(dialog)
    before = dialog.result[1].copy()
    assert np.array_equal(before, synthesize(G, w[None])[0])  # the unedited map shows the face itself
    dialog.part.setCurrentText("lips")
    dialog._scale(1.3)
    assert dialog.layer.history.can_undo() and not np.array_equal(dialog.result[1], before)
    dialog.undo()
    assert np.array_equal(dialog.result[1], before)
    assert not np.any(dialog.delta())  # the unedited map: no change to apply
    dialog._scale(1.3)
    dialog._apply()
    assert got and got[0][0].shape == (G.n_latent, G.style_dim) and np.abs(got[0][0]).max() > 0

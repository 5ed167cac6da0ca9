"""Tests of the editor's model without a window: the undo/redo history of edit states and the render worker that
drops stale requests."""
from __future__ import annotations

import os
import threading

import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from editor.state import EditHistory, EditState, changed_keys
from faceedit.errors import InvalidInput


# ---------------------------------------------------------------------------------------------- state
def test_state_values_and_json_round_trip():
    s = EditState().with_value("translation:A_2", 1.5).with_value("pca:0", -2).with_mixup("domain", True)
    s = s.with_pca_layers((2, 6))
    assert s.value("translation:A_2") == 1.5 and s.value("pca:0") == -2.0 and s.value("missing") == 0.0
    assert s.with_value("pca:0", 0).as_dict() == {"translation:A_2": 1.5}  # zero removes the key
    back = EditState.from_json(s.to_json())
    assert back == s
    assert s.reset_all().as_dict() == {} and s.reset_all().mixups == {"domain"}
    assert changed_keys(s, s.reset("pca:0")) == ["pca:0"]
    with pytest.raises(InvalidInput, match="unknown mixup"):
        s.with_mixup("blur", True)
    with pytest.raises(InvalidInput, match="start < stop"):
        s.with_pca_layers((5, 5))
    with pytest.raises(InvalidInput, match="malformed"):
        EditState.from_json({"values": {"a": "x"}})


def test_history_undo_redo_and_branching():
    h = EditHistory()
    s1 = h.state.with_value("a", 1)
    s2 = s1.with_value("b", 2)
    assert h.push(s1, "a = 1") and h.push(s2, "b = 2")
    assert not h.push(s2, "same")  # no empty undo step
    assert h.undo_label() == "b = 2"
    assert h.undo() == s1 and h.undo() == EditState() and h.undo() == EditState()
    assert h.can_redo() and h.redo_label() == "a = 1"
    assert h.redo() == s1
    s3 = s1.with_value("c", 3)
    h.push(s3, "c = 3")  # drops the redo branch (s2)
    assert not h.can_redo() and h.labels() == ["start", "a = 1", "c = 3"]


def test_history_merges_bursts_of_one_group():
    h = EditHistory()
    for v, t in ((0.1, 0.0), (0.2, 0.5), (0.3, 1.0)):  # arrow keys on one slider, quick succession
        h.push(h.state.with_value("a", v), f"a = {v:g}", group="step:a", now=t)
    assert h.labels() == ["start", "a = 0.3"] and h.state.value("a") == 0.3
    h.push(h.state.with_value("a", 0.4), "a = 0.4", group="step:a", now=5.0)  # after a pause: new step
    h.push(h.state.with_value("b", 1), "b = 1", group="step:b", now=5.1)  # another slider: new step
    assert h.labels() == ["start", "a = 0.3", "a = 0.4", "b = 1"]
    assert h.undo().value("b") == 0 and h.undo().value("a") == 0.3 and h.undo() == EditState()


def test_history_limit():
    h = EditHistory(limit=3)
    for i in range(1, 6):
        h.push(h.state.with_value("a", i), f"a = {i}")
    assert len(h.labels()) == 3 and h.state.value("a") == 5
    while h.can_undo():
        h.undo()
    assert h.state.value("a") == 3


# ---------------------------------------------------------------------------------------------- worker
def test_render_worker_drops_stale_requests(qtbot):
    from editor.worker import RenderRequest, RenderWorker

    gate = threading.Event()
    ran: list[int] = []
    worker = RenderWorker()
    results: list[tuple[int, object]] = []
    worker.rendered.connect(lambda seq, kind, result, secs: results.append((seq, result)))
    worker.start()

    def job(i):
        def run():
            gate.wait(5)
            ran.append(i)
            return i * 10
        return run

    try:
        worker.submit(RenderRequest(1, "preview", job(1)))
        qtbot.waitUntil(lambda: worker.idle(), timeout=10000)  # 1 is running (blocked on the gate)
        for i in range(2, 7):
            worker.submit(RenderRequest(i, "preview", job(i)))  # 2..5 replaced before they start
        gate.set()
        qtbot.waitUntil(lambda: len(results) == 2, timeout=10000)
    finally:
        worker.stop()
    assert ran == [1, 6] and results == [(1, 10), (6, 60)] and worker.dropped == 4


def test_overlays_mark_differences_and_masks():
    from editor.overlays import difference_overlay, masks_overlay

    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[2, 3] = (100, 130, 90)
    d = difference_overlay(b, a)
    assert d.shape == (8, 8, 3) and d[2, 3].tolist() == [120] * 3 and d.sum() == 360
    assert masks_overlay(a, {}) is a
    mask = np.zeros((8, 8), bool)
    mask[:4] = True
    m = masks_overlay(a, {"domain": mask, "wrong size": np.ones((4, 4))})
    assert m[0, 0].tolist() == [178, 50, 50] and (m[4:] == a[4:]).all()


def test_editor_encoder_option(tmp_path, capsys):
    """``python -m editor --encoder PATH|none``: the session projects with that encoder, or from the mean W;
    an encoder of another generator is refused; a missing file is one error line before any window opens."""
    from editor.app import run
    from editor.session import EditSession
    from faceedit.errors import ModelMismatch
    from faceedit.models.encoder import DEFAULT_ENCODER, Encoder, save_encoder

    given = EditSession.open(None, tmp_path, encoder=str(DEFAULT_ENCODER))
    assert given.encoder() is not None and given.encoder().meta == EditSession.open(None, tmp_path).encoder().meta
    assert EditSession.open(None, tmp_path, encoder=None).encoder() is None
    other = save_encoder(Encoder(4, 8, input_size=16, width=4, blocks=(1, 1), head_channels=8),
                         tmp_path / "o.safetensors")
    with pytest.raises(ModelMismatch):
        EditSession.open(None, tmp_path, encoder=str(other))
    assert run(["--encoder", str(tmp_path / "nope.safetensors")]) == 2
    assert capsys.readouterr().err.strip() == f"error: --encoder {tmp_path / 'nope.safetensors'}: no such file"

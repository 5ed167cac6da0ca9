"""``faceedit project DIR`` and ``faceedit edit DIR`` with ``--executor ray`` (a local Ray instance, 2
workers, a few tasks): the same files as the local run, failures listed the same way."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.cli import main
from faceedit.images import load_image
from faceedit.testing import data_dir

pytest.importorskip("ray")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytestmark = pytest.mark.usefixtures("one_thread")

PHOTO = data_dir() / "wild" / "images" / "000176.jpg"  # one face
RAY = ["--executor", "ray", "--ray-workers", "2"]


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Two photos with a face, one without, one that is no image."""
    folder = tmp_path_factory.mktemp("photos")
    upright = np.asarray(Image.open(PHOTO).convert("RGB"))
    Image.fromarray(upright).save(folder / "a.png")
    Image.fromarray(np.ascontiguousarray(upright[:, ::-1])).save(folder / "b.png")  # mirrored: another face
    Image.fromarray(np.full((200, 300, 3), 120, np.uint8)).save(folder / "wall.png")
    (folder / "notes.png").write_text("not a photo")
    return folder


def _decoded(folder: Path, suffix: str) -> dict[str, np.ndarray]:
    return {p.name: (np.load(p) if suffix == ".npy" else load_image(p)) for p in sorted(folder.glob(f"*{suffix}"))}


def test_project_on_ray_matches_local(photos: Path, tmp_path: Path, capsys) -> None:
    args = ["project", str(photos), "--align", "--preset", "balanced", "--steps", "2", "--set", "perceptual=none",
            "--batch-size", "1", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 1  # two inputs fail
    local_err = capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "ray"), *RAY]) == 1
    captured = capsys.readouterr()
    assert "on 2 Ray worker(s)" in captured.out and "device: cpu" in captured.out
    for sub, suffix in (("projected_latents", ".npy"), ("projected_images", ".png")):
        a, b = _decoded(tmp_path / "local" / sub, suffix), _decoded(tmp_path / "ray" / sub, suffix)
        assert sorted(a) == sorted(b) == [f"a{suffix}", f"b{suffix}"]
        for name in a:
            assert np.abs(a[name].astype(float) - b[name].astype(float)).max() <= (1 if suffix == ".png" else 1e-4)
    metrics = json.loads((tmp_path / "ray" / "metrics.json").read_text())
    assert sorted(metrics["images"]) == ["a", "b"] and metrics["device"] == "cpu"
    assert metrics["summary"]["n_computed"] == 2 and metrics["summary"]["n_failed"] == 2  # the whole run's counts
    assert sorted(Path(f["source"]).name for f in metrics["failures"]) == ["notes.png", "wall.png"]
    assert "notes.png" in captured.err and "wall.png" in captured.err and "notes.png" in local_err


def test_edit_on_ray_matches_local(photos: Path, tmp_path: Path, capsys) -> None:
    args = ["edit", str(photos), "--apply", "A_2", "--mixups", "domain", "--no-cache"]
    assert main([*args, "--out", str(tmp_path / "local")]) == 1
    assert main([*args, "--out", str(tmp_path / "ray"), *RAY]) == 1
    err = capsys.readouterr().err
    assert "wall.png: no face found" in err and "notes.png: not an image" in err
    a, b = _decoded(tmp_path / "local", ".png"), _decoded(tmp_path / "ray", ".png")
    assert sorted(a) == sorted(b) == ["a.png", "b.png"]
    for name in a:
        assert np.abs(a[name].astype(int) - b[name].astype(int)).max() <= 1

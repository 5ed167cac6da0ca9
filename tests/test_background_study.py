"""benchmarks/background_study.py (issue 23, item 5): variants from one set of masks, cells trained for their
budget and resumable, each evaluated once, the table with one row per cell; bad family names."""
from __future__ import annotations

import json

import pytest

from faceedit.testing import benchmark_module, celeba_crops_data

pytestmark = pytest.mark.usefixtures("one_thread")
study = benchmark_module("background_study")


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    """20 real CelebA crops at 64 px, the last 8 held out (8 people)."""
    data = celeba_crops_data(20, held_out=8)
    if data is None:
        pytest.skip("../shared/data is not available")
    path = tmp_path_factory.mktemp("study") / "faces.npz"
    data.save(path)
    return path


def test_study_cells_table_and_resume(cache, tmp_path, capsys):
    out = tmp_path / "study"
    argv = ["--out", str(out), "--cache", str(cache), "--minutes", "0.02", "--families", "vae",
            "--variants", "raw,grey", "--eval-n", "4", "--cells", "1"]
    assert study.main(argv) == 0  # one cell now (a working day's share), the other later
    assert (out / "data" / "raw.npz").is_file() and (out / "data" / "grey.npz").is_file()
    assert json.loads((out / "cells" / "vae-raw" / "progress.json").read_text())["done"]
    assert not (out / "cells" / "vae-grey").exists()
    table = (out / "table.md").read_text()
    assert "| vae | raw |" in table and "| vae | grey | … |" in table
    first = (out / "cells" / "vae-raw" / "eval.json").read_text()
    assert study.main(argv[:-2]) == 0  # continues with the unfinished cell only
    assert (out / "cells" / "vae-raw" / "eval.json").read_text() == first
    rows = json.loads((out / "table.json").read_text())
    assert [(r["family"], r["variant"]) for r in rows] == [("vae", "raw"), ("vae", "grey")]
    for r in rows:
        assert r["n"] == 4 and 0 < r["psnr"] < 40 and 0 <= r["pca_attr_r_mean"] <= 1
    lines = (out / "table.md").read_text().splitlines()
    assert len(lines) == 4 and all(line.count("|") == len(study.COLUMNS) + 3 for line in lines)
    capsys.readouterr()
    assert study.main(["--out", str(out), "--families", "flow", "--table"]) == 1
    assert capsys.readouterr().err.startswith("error: unknown families")


def test_interrupted_cell_records_the_minutes_that_reached_its_checkpoint(cache, tmp_path, monkeypatch):
    """Ctrl-C / kill in the middle of a cell: of its CPU minutes only the share up to the checkpoint it will
    resume from is recorded (here 10 of 20 steps of 1 minute), so no cell gets more training than another."""
    import torch

    out = tmp_path / "study"
    study.prepare_variants(out, str(cache), ["raw"], 1)

    def interrupted(cell, *args):
        cell.mkdir(parents=True, exist_ok=True)
        torch.save({"step": 10}, cell / "checkpoint.pt")
        (cell / "log.csv").write_text("step,loss\n5,1.0\n10,0.9\n15,0.8\n20,0.7\n")
        raise KeyboardInterrupt

    clock = iter([0.0, 60.0])
    monkeypatch.setattr(study, "_train", interrupted)
    monkeypatch.setattr(study.time, "process_time", lambda: next(clock))
    with pytest.raises(KeyboardInterrupt):
        study.train_cell(out, "vae", "raw", 20.0, "joint", None)
    prog = json.loads((out / "cells" / "vae-raw" / "progress.json").read_text())
    assert prog["minutes"] == pytest.approx(0.5) and not prog["done"] and prog["sessions"] == 1

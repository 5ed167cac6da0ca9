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

"""The pipeline's Ray executor on a local Ray instance (2 CPUs, a few tasks): the same outputs and report
as the local executor, a worker that dies is retried, a task that raises is reported, no Ray -> one line."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.images import load_image
from faceedit.models.stylegan2 import Generator
from pipeline.report import COPY, EDITED
from pipeline.run import main, run_pipeline

ray = pytest.importorskip("ray")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
pytestmark = pytest.mark.usefixtures("one_thread")

test_pipeline = pytest.importorskip("test_pipeline")  # its tiny generator, references and translations
tiny, assets = test_pipeline.tiny, test_pipeline.assets
BROKEN, NON_BALD, BALD = test_pipeline.BROKEN, test_pipeline.NON_BALD, test_pipeline.BALD
RAY = ["run.executor=ray", "ray.num_cpus=2", "ray.workers=2", "ray.references_per_task=1"]


def _settings(assets: dict[str, Path], out: Path, *extra: str) -> dict:
    return test_pipeline._settings(assets, out, "run.workers=0", "output.size=128", *extra)


def _outputs(out: Path) -> dict[str, np.ndarray]:
    """Every output image, decoded (a file that does not decode fails the test)."""
    return {p.relative_to(out).as_posix(): load_image(p) for p in sorted((out / "output_images").rglob("*.png"))}


def test_ray_executor_matches_the_local_run(tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> None:
    local = run_pipeline(_settings(assets, tmp_path / "local"), generator=tiny, progress=False)
    distributed = run_pipeline(_settings(assets, tmp_path / "ray", *RAY), generator=tiny, progress=False)
    a, b = _outputs(tmp_path / "local"), _outputs(tmp_path / "ray")
    assert set(a) == set(b) and len(a) == distributed.counts()["outputs"] > 0
    for name in a:  # same projection batches and thread count: equal within 1/255 per pixel
        assert np.abs(a[name].astype(int) - b[name].astype(int)).max() <= 1, name
    assert distributed.counts() == local.counts()
    assert distributed.failures() == local.failures()  # the truncated reference: copies, same reason
    assert any(ref == BROKEN for ref, _, _ in distributed.failures())
    saved = json.loads((tmp_path / "ray" / "report.json").read_text())["summary"]
    assert saved["executor"] == "ray" and saved["device"] == "cpu"
    assert saved["ray"]["started_here"] and saved["ray"]["tasks"] == 3 and saved["ray"]["workers"] == 2
    assert saved["ray"]["startup_seconds"] > 0
    assert json.loads((tmp_path / "local" / "report.json").read_text())["summary"]["device"] == "cpu"
    assert not ray.is_initialized()  # the local instance the run started is stopped
    metrics = json.loads((tmp_path / "ray" / "projection" / "metrics.json").read_text())
    assert sorted(metrics["images"]) == sorted([NON_BALD, BALD])  # both workers' entries kept
    again = run_pipeline(_settings(assets, tmp_path / "ray", *RAY), generator=tiny, progress=False)
    assert again.counts()["skipped"] == again.counts()["outputs"] - again.counts()[COPY]  # resumed


class _FaultyGenerator(Generator):
    """The tiny generator, but its renders (``synthesize``: inference mode; the projection renders with
    gradients) kill the worker process once (``die_once``: a marker file) or always raise (``fail``)."""

    die_once: str = ""
    fail: str = ""

    def synthesis(self, *args, **kwargs):
        if torch.is_inference_mode_enabled():
            if self.fail:
                with open(self.fail, "a") as f:
                    f.write("call\n")
                raise RuntimeError("synthetic render failure")
            if self.die_once and not os.path.exists(self.die_once):
                Path(self.die_once).write_text("died")
                os._exit(1)  # the worker process dies mid-task, as if killed or out of memory
        return super().synthesis(*args, **kwargs)


def _faulty(tiny: Generator, **fault: str) -> Generator:
    g = _FaultyGenerator(16, style_dim=16, n_mlp=2, channel_max=16, model_id="tiny-test").eval()
    g.load_state_dict(tiny.state_dict())
    for key, value in fault.items():
        setattr(g, key, value)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import the tests
    return g


def test_a_worker_that_dies_is_retried_and_a_task_that_raises_is_reported(
        tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> None:
    marker, calls = tmp_path / "died", tmp_path / "calls"
    one = ["run.limit=2", "ray.workers=1"]
    report = run_pipeline(_settings(assets, tmp_path / "dies", *RAY, *one),
                          generator=_faulty(tiny, die_once=str(marker)), progress=False)
    assert marker.read_text() == "died"  # the worker did die once ...
    local = run_pipeline(_settings(assets, tmp_path / "local", "run.limit=2"), generator=tiny, progress=False)
    assert report.counts() == local.counts() and report.failures() == local.failures()  # ... and was retried
    assert report.counts()[EDITED] > 0

    report = run_pipeline(_settings(assets, tmp_path / "raises", *RAY, *one),
                          generator=_faulty(tiny, fail=str(calls)), progress=False)
    rendered = [name for name in report.references if name != BROKEN]
    assert len(calls.read_text().splitlines()) == len(rendered)  # one render per reference: not retried
    for name in rendered:
        rec = report.references[name]
        assert rec.error.startswith("Ray task failed: RuntimeError: synthetic render failure")
        assert rec.outputs and all(e["status"] == COPY for e in rec.outputs.values())
        for target in rec.outputs:  # the rules' reference copies, decodable, at the output size
            assert load_image(tmp_path / "raises" / "output_images" / name / f"{target}.png").shape == (128, 128, 3)


def test_executor_ray_without_ray_is_one_error_line(assets: dict[str, Path], tmp_path: Path, monkeypatch,
                                                     capsys) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed
    code = main([f"--input={assets['refs']}", f"--out={tmp_path}", "--executor", "ray", "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and err[-1].startswith("error: --executor ray needs Ray") and "pip install" in err[-1]

"""Kill-safety of ``python -m pipeline.run``: SIGKILL at a moment after the first outputs appear, run again,
and the output folder is valid and complete (every file decodes, no temporary file is left, finished work
is not redone); Ctrl-C stops the run within 2 s."""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import tomllib
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.io import is_temp_file
from faceedit.models.checkpoints import save_model
from faceedit.models.stylegan2 import Generator
from faceedit.testing import PROJECT_ROOT
from faceedit.edit.translations import required_targets

test_pipeline = pytest.importorskip("test_pipeline")  # its tiny generator, references and translations
tiny, assets = test_pipeline.tiny, test_pipeline.assets
N_REFS = 8


@pytest.fixture
def run_args(tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> list[str]:
    """A pipeline command on 8 references (the two good faces in turn, named by a labels CSV)."""
    model = save_model(tiny, tmp_path / "tiny", model_id=tiny.model_id)
    refs = tmp_path / "refs"
    refs.mkdir()
    labels = [test_pipeline.NON_BALD, test_pipeline.BALD]
    with open(tmp_path / "labels.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "labels"])
        for i in range(N_REFS):
            shutil.copyfile(assets["refs"] / f"{labels[i % 2]}.png", refs / f"ref{i}.png")
            writer.writerow([f"ref{i}.png", labels[i % 2]])
    return [sys.executable, "-m", "pipeline.run", "--quiet", f"input.dir={refs}", f"output.dir={tmp_path / 'out'}",
            f"input.labels_csv={tmp_path / 'labels.csv'}", f"model.generator={model}",
            f'translate.folders=["{assets["translations"]}"]', "project.batch_size=2",
            'project.options=["steps=10", "perceptual=\\"none\\""]', 'mixups.steps=["domain"]', "output.size=256",
            "run.workers=2", "edit.mode=transfer", "output.zip=true"]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(args, cwd=PROJECT_ROOT, env=env, start_new_session=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_outputs(proc: subprocess.Popen, out: Path, timeout: float = 240) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if any(not is_temp_file(p) for p in (out / "output_images").rglob("*.png")):
            return
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pytest.fail("no output appeared")


def _check_folder(out: Path) -> None:
    """Every file of the run decodes; no temporary file of an atomic write is left."""
    for path in out.rglob("*"):
        if not path.is_file() or path.name == ".metrics.lock":
            continue
        assert not is_temp_file(path), path
        suffix = path.suffix.lower()
        if suffix in (".png", ".jpg"):
            with Image.open(path) as im:
                im.load()
        elif suffix == ".npy":
            np.load(path)
        elif suffix == ".json":
            json.loads(path.read_text())
        elif suffix == ".toml":
            tomllib.loads(path.read_text())


def test_sigkill_mid_run_then_rerun_leaves_a_complete_valid_result(run_args: list[str], tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = _start(run_args)
    _wait_for_outputs(proc, out)
    time.sleep(random.Random(24).uniform(0.0, 0.5))
    os.killpg(proc.pid, signal.SIGKILL)  # the whole run: the main process and its workers
    proc.wait()
    done = {p for p in (out / "output_images").rglob("*.png") if not is_temp_file(p)}
    metrics = out / "projection" / "metrics.json"
    cached = set(json.loads(metrics.read_text())["images"]) if metrics.is_file() else set()
    expected = {f"ref{i}": required_targets([test_pipeline.NON_BALD, test_pipeline.BALD][i % 2]) for i in range(N_REFS)}
    unfinished = {n for n, targets in expected.items() if any(output(out, n, t) not in done for t in targets)}
    assert done and unfinished

    again = subprocess.run(run_args, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    _check_folder(out)
    for name, targets in expected.items():  # the set is complete, every output at the output size
        assert sorted(p.stem for p in (out / "output_images" / name).glob("*.png")) == sorted(targets)
        for t in targets:
            assert Image.open(output(out, name, t)).size == (256, 256)
    with zipfile.ZipFile(out / "submission.zip") as z:
        assert z.testzip() is None
        assert sorted(z.namelist()) == sorted(f"{n}/{t}.png" for n, ts in expected.items() for t in ts)
    summary = json.loads((out / "report.json").read_text())["summary"]
    assert summary["skipped"] == len(done)  # no output finished before the kill was redone ...
    assert summary["skipped"] + summary["edited"] + summary["copy"] == sum(map(len, expected.values()))
    # ... nor a projection whose batch was finished; only the unfinished references are projected again
    assert summary["projection"] == {"computed": len(unfinished - cached), "cached": len(unfinished & cached),
                                     "failed": 0}


def output(out: Path, reference: str, target: str) -> Path:
    return out / "output_images" / reference / f"{target}.png"


#: a hang guard, not the target: the issue's "within 2 s" is a timing (0.06 s for pipeline.run, 0.55 s with Ray,
#: measured on a loaded 2-core machine; README) - a loaded CI machine must not fail on it
STOP_GUARD_S = 10.0


def test_ctrl_c_stops_cleanly_and_fast(run_args: list[str], tmp_path: Path) -> None:
    # long projections: the run cannot finish between its first outputs and the signal, even on a slow machine
    proc = _start(run_args + ['project.options=["steps=150", "perceptual=\\"none\\""]'])
    _wait_for_outputs(proc, tmp_path / "out")
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal sends it: to the whole process group
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    print(f"Ctrl-C to exit: {elapsed:.2f} s")
    assert proc.returncode == 130 and "interrupted" in err
    assert elapsed < STOP_GUARD_S, f"Ctrl-C took {elapsed:.2f} s"
    _check_folder(tmp_path / "out")


def test_faceedit_project_killed_then_rerun(tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> None:
    """``faceedit project`` killed mid-run: the re-run keeps the finished batches and completes the rest."""
    model = save_model(tiny, tmp_path / "tiny", model_id=tiny.model_id)
    faces = tmp_path / "faces"
    faces.mkdir()
    for i in range(12):
        shutil.copyfile(assets["refs"] / f"{test_pipeline.NON_BALD}.png", faces / f"face{i:02d}.png")
    out = tmp_path / "proj"
    args = [sys.executable, "-m", "faceedit", "project", str(faces), "--out", str(out), "--model", str(model),
            "--quiet", "--steps", "40", "--batch-size", "2", "--set", "perceptual='none'", "--set", "plateau_patience=100"]
    proc = _start(args)
    _wait_for_metrics(proc, out, 1)
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: a clean stop, fast
    _, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - t0
    print(f"Ctrl-C to exit: {elapsed:.2f} s")
    assert proc.returncode == 130 and "interrupted" in err
    assert elapsed < STOP_GUARD_S, f"Ctrl-C took {elapsed:.2f} s"
    interrupted = len(json.loads((out / "metrics.json").read_text())["images"])
    proc = _start(args)
    _wait_for_metrics(proc, out, interrupted + 1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    finished = set(json.loads((out / "metrics.json").read_text())["images"])
    assert 0 < len(finished) < 12
    again = subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    _check_folder(out)
    metrics = json.loads((out / "metrics.json").read_text())
    assert sorted(metrics["images"]) == [f"face{i:02d}" for i in range(12)]
    assert metrics["summary"]["n_cached"] == len(finished)  # the finished batches were not redone
    assert len(list((out / "projected_images").glob("*.png"))) == 12


def _wait_for_metrics(proc: subprocess.Popen, out: Path, n: int, timeout: float = 240) -> None:
    """Until ``metrics.json`` lists ``n`` finished images (or more)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            if len(json.loads((out / "metrics.json").read_text())["images"]) >= n:
                return
        except (OSError, ValueError):
            pass
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.02)
    pytest.fail("the projection made no progress")


def test_ctrl_c_stops_a_ray_run_and_its_ray_instance(run_args: list[str], tmp_path: Path) -> None:
    """``--executor ray``: Ctrl-C kills the workers, stops the local Ray instance the run started, exit 130;
    the re-run completes the outputs."""
    pytest.importorskip("ray")
    args = [*run_args, "ray.num_cpus=2", "ray.references_per_task=2", "--executor", "ray"]
    before = _ray_processes()
    proc = _start(args)
    _wait_for_outputs(proc, tmp_path / "out")
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    print(f"Ctrl-C to exit: {elapsed:.2f} s")
    assert proc.returncode == 130 and "interrupted" in err, err
    # measured 0.55 s: the instance's processes get SIGTERM, then SIGKILL 0.3 s later, and the process ends
    # without the interpreter's teardown (Ray's graceful shutdown and the teardown took 2.1-3.5 s)
    assert elapsed < STOP_GUARD_S, f"Ctrl-C took {elapsed:.2f} s"
    end = time.monotonic() + 10
    while _ray_processes() - before and time.monotonic() < end:
        time.sleep(0.2)
    assert not _ray_processes() - before, "the run's Ray instance is still running"
    _check_folder(tmp_path / "out")
    assert _copy_reasons(tmp_path / "out") <= {"no translation"}  # no task was failed by the interruption
    again = subprocess.run(args, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert json.loads((tmp_path / "out" / "report.json").read_text())["summary"]["skipped"] > 0
    assert _copy_reasons(tmp_path / "out") == {"no translation"}  # only the target the rules want copied


def _copy_reasons(out: Path) -> set[str]:
    """Why outputs in report.json (the interrupted run's too) are reference copies: the legitimate
    "no translation for 'Ch_max'" as "no translation", any other reason as it is."""
    reasons = [f["reason"] for f in json.loads((out / "report.json").read_text())["failures"]]
    return {"no translation" if r.startswith("no translation for 'Ch_max'") else r for r in reasons}


def _ray_processes() -> set[int]:
    """Process ids of Ray's head processes (raylet, GCS server) on this machine."""
    found = subprocess.run(["pgrep", "-f", "raylet|gcs_server"], capture_output=True, text=True).stdout.split()
    return {int(pid) for pid in found}

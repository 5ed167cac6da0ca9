"""``device = cpu|cuda|mps|auto`` everywhere (tested on the CPU path: this machine and CI have no GPU), and
the file helpers of kill-safety (temporary files of killed writers, the metrics.json lock)."""
from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.devices import (
    check_device_name,
    describe_device,
    module_device,
    network_device,
    resolve_device,
    set_network_device,
)
from faceedit.errors import ConfigError
from faceedit.images import list_images, save_image
from faceedit.io import atomic_path, file_lock, is_temp_file, remove_temp_files
from faceedit.models.stylegan2 import Generator
from faceedit.synthesis import synthesize

pytestmark = pytest.mark.usefixtures("one_thread")
NO_GPU = not torch.cuda.is_available() and not torch.backends.mps.is_available()


def test_device_names_and_resolution_on_the_cpu() -> None:
    assert resolve_device() == torch.device("cpu")  # the default everywhere
    assert check_device_name(" CUDA:1 ") == "cuda:1" and check_device_name("auto") == "auto"
    with pytest.raises(ConfigError, match="unknown device 'gpu'; use cpu, cuda, mps, auto or cuda:N"):
        check_device_name("gpu")
    if NO_GPU:
        assert resolve_device("auto") == torch.device("cpu") and describe_device("cpu") == "cpu"
        with pytest.raises(ConfigError, match="'cuda' requested but CUDA is not available"):
            resolve_device("cuda")
        with pytest.raises(ConfigError, match="MPS"):
            resolve_device("mps")
    set_network_device("auto")
    try:
        assert network_device() == resolve_device("auto")
    finally:
        set_network_device("cpu")


def test_renders_follow_the_generator_device() -> None:
    torch.manual_seed(0)
    g = Generator(16, style_dim=16, n_mlp=2, channel_max=16, model_id="tiny").eval()
    assert module_device(g) == torch.device("cpu")
    w = np.random.default_rng(0).normal(size=(3, g.n_latent, g.style_dim)).astype(np.float32)
    with torch.no_grad():
        direct = g.synthesis(torch.from_numpy(w), noise_mode="const")
    from faceedit.images import to_image

    assert np.array_equal(synthesize(g, w), to_image(direct))


def test_cli_device_errors_are_one_line(tmp_path: Path, capsys) -> None:
    from faceedit.cli import main
    from pipeline.run import main as pipeline_main

    image = tmp_path / "face.png"
    save_image(image, np.full((64, 64, 3), 128, np.uint8))
    assert main(["project", str(image), "--out", str(tmp_path / "o"), "--device", "tpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: unknown device 'tpu'")
    assert main(["edit", str(image), "--apply", "A_2", "--out", str(tmp_path / "e"), "--device", "tpu"]) == 2
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: unknown device 'tpu'")
    assert pipeline_main([f"--input={tmp_path}", f"--out={tmp_path / 'p'}", "--device", "tpu", "--quiet"]) != 0
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: unknown device 'tpu'")
    if NO_GPU:
        assert main(["project", str(image), "--out", str(tmp_path / "o"), "--device", "cuda"]) == 2
        assert "CUDA is not available" in capsys.readouterr().err


def test_editor_preference_default_is_cpu(tmp_path: Path) -> None:
    from editor.prefs import Preferences

    prefs = Preferences.load(tmp_path)
    assert prefs.get("device") == "cpu"
    prefs.set("device", "auto")
    prefs.save()
    assert Preferences.load(tmp_path).get("device") == "auto"


def test_temporary_files_of_killed_writers(tmp_path: Path) -> None:
    save_image(tmp_path / "a" / "x.png", np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "a" / "y.png") as tmp:
            tmp.write_bytes(b"half a png")
            kept = tmp.with_name(tmp.name.replace(".y.", ".z."))  # as a SIGKILL would leave one behind
            kept.write_bytes(b"half a png")
            raise RuntimeError
    (tmp_path / "a" / ".hidden.png").write_bytes(b"a user's file")
    assert is_temp_file(kept) and not is_temp_file(tmp_path / "a" / ".hidden.png")
    # the temporary file is no input (a user's own dot file still is)
    assert list_images([tmp_path / "a"]) == [tmp_path / "a" / ".hidden.png", tmp_path / "a" / "x.png"]
    assert remove_temp_files(tmp_path) == 1 and not kept.exists()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [".hidden.png", "x.png"]


def test_file_lock_serialises_read_modify_write(tmp_path: Path) -> None:
    from faceedit.io import load_json, save_json

    path = tmp_path / "counts.json"
    save_json(path, {"n": 0})

    def bump() -> None:
        for _ in range(20):
            with file_lock(tmp_path / ".lock"):
                n = load_json(path)["n"]
                time.sleep(0.001)
                save_json(path, {"n": n + 1})

    threads = [threading.Thread(target=bump) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert json.loads(path.read_text())["n"] == 60

"""``faceedit runs report|video`` (issue 23): curves of a tiny run's logs in an HTML page, the sample grids as an
MP4 / GIF with the right frame count, and bad inputs as one ``error:`` line."""
from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from faceedit.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny DCGAN run: 6 steps, sample grids at steps 1..6, one evaluation row (no dlib work: n tiny)."""
    from faceedit.config import merge
    from faceedit.train.dcgan import DEFAULTS, train_dcgan

    rng = np.random.default_rng(0)
    from faceedit.train.data import FaceData

    n = 24
    nan = np.full(n, np.nan, np.float32)
    data = FaceData(images=rng.integers(0, 256, (n, 16, 16, 3), dtype=np.uint8), attrs=np.zeros((n, 40), np.float32),
                    age=nan, gender=nan.copy(), race=np.full(n, -1), identity=np.arange(n),
                    source=np.array(["celeba"] * n), val=np.arange(n) >= n - 6, names=np.array([""] * n))
    cfg = merge(DEFAULTS, {"model": {"resolution": 16, "z_dim": 8, "g_channels": 4, "d_channels": 4},
                           "train": {"steps": 6, "batch": 4, "log_every": 1, "sample_every": 1, "checkpoint_every": 3,
                                     "n_samples": 8}, "eval": {"every": 3, "n": 3, "detection": False}})
    folder = tmp_path_factory.mktemp("run") / "dcgan"
    train_dcgan(data, folder, cfg, torch.device("cpu"))
    return folder


def test_video_mp4_and_gif_frame_counts(run, tmp_path, capsys):
    cv2 = pytest.importorskip("cv2")
    from PIL import Image

    assert main(["runs", "video", str(run), "--out", str(tmp_path / "run.mp4"), "--fps", "5"]) == 0
    cap = cv2.VideoCapture(str(tmp_path / "run.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    ok, frame = cap.read()
    assert ok and frame.shape[:2] == (28 + 2 * 18, 2 * 137)  # a 1 x 8 grid of 16 px, enlarged 2x, under a caption bar
    cap.release()
    assert main(["runs", "video", str(run), "--out", str(tmp_path / "run.gif"), "--skip", "4"]) == 0
    gif = Image.open(tmp_path / "run.gif")
    assert gif.n_frames == 3  # steps 1 and 5, and the last grid (6)
    assert "3 frames" in capsys.readouterr().out


def test_video_caption_names_step_and_kimg(run):
    from faceedit.train.reports import video_frames

    frames = video_frames(run, skip=1, scale=2)
    assert len(frames) == 6
    # the caption bar differs between frames (step 1 vs step 6) while its background is white
    bar0, bar5 = frames[0][:28], frames[5][:28]
    assert (bar0 == 255).mean() > 0.8 and not np.array_equal(bar0, bar5)


def test_report_renders_curves_of_a_tiny_run(run, tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    out = tmp_path / "report.html"
    assert main(["runs", "report", str(run), "--out", str(out)]) == 0
    page = out.read_text()
    imgs = re.findall(r'<img src="([^"]+)"', page)
    names = {p.split("/")[-1] for p in imgs}
    assert {"log_d_loss.png", "log_g_loss.png", "eval_frechet_ratio.png", "eval_pca_attr_r_mean.png"} <= names
    for p in imgs:
        assert Image.open(out.parent / p).size[0] > 100
    assert "Last evaluation" in page and "predictor_accuracy" in page and "not computed" in page
    assert "step0000006.png" in page and "[train]" in page


def test_bad_inputs_give_one_error_line(run, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for argv in (["runs", "video", str(tmp_path / "empty"), "--out", str(tmp_path / "a.mp4")],
                 ["runs", "video", str(run), "--out", str(tmp_path / "a.avi")],
                 ["runs", "video", str(run), "--out", str(tmp_path / "a.gif"), "--skip", "0"],
                 ["runs", "report", str(tmp_path / "missing")]):
        assert main(argv) != 0
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error:"), err

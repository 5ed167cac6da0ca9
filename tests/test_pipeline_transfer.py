"""``edit.mode``: the pipeline transfers edits onto the reference's own pixels (default) or pastes the
render (``replace``); built-in model, encoder-only projection, one real face from ``../shared/data``."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from faceedit.errors import ConfigError
from faceedit.images import load_image, save_image
from faceedit.testing import data_dir
from pipeline.report import EDITED
from pipeline.run import check_settings, load_settings, main, run_pipeline

WILD = data_dir() / "wild" / "images" / "000176.jpg"
NAMES = ["A_2", "Ch_max"]  # whole-face edits: the ones a pasted 64 px render blurs most


def laplacian_energy(image: np.ndarray, centre: float = 0.5) -> float:
    """Mean squared Laplacian of the grey image over its central ``centre`` × ``centre`` square."""
    import cv2

    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
    lap = cv2.Laplacian(grey, cv2.CV_32F, ksize=3)
    h, w = grey.shape
    y0, x0 = int(h * (1 - centre) / 2), int(w * (1 - centre) / 2)
    return float(np.mean(lap[y0:h - y0, x0:w - x0] ** 2))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """A folder with one real face, FFHQ-aligned at 512 px."""
    if not WILD.is_file():
        pytest.skip(f"shared data not found: {WILD}")
    from faceedit.faces.alignment import align

    folder = tmp_path_factory.mktemp("refs")
    save_image(folder / "person.png", align(WILD, size=512)[0].image)
    return folder


def _settings(folder: Path, out: Path, *extra: str) -> dict:
    return load_settings(None, [
        f"input.dir={folder}", f"output.dir={out}", "input.mode=generic", f"translate.names={NAMES}",
        "project.preset=fast", "run.workers=0", "output.contact_sheets=false", *extra,
    ])


@pytest.fixture(scope="module")
def runs(reference: Path, tmp_path_factory) -> dict[str, Path]:
    """The same reference edited in both modes (default mixups: domain, segmentation, depth)."""
    out = {}
    for mode in ("transfer", "replace"):
        folder = tmp_path_factory.mktemp(mode)
        report = run_pipeline(_settings(reference, folder, f"edit.mode={mode}", "output.save_intermediate=true"),
                              progress=False)
        assert {e["status"] for e in report.references["person"].outputs.values()} == {EDITED}
        out[mode] = folder
    return out


def test_transfer_keeps_the_photo_sharp(reference: Path, runs: dict[str, Path]) -> None:
    ref = load_image(reference / "person.png")
    for name in NAMES:
        images = {mode: load_image(folder / "output_images" / "person" / f"{name}.png") for mode, folder in runs.items()}
        assert all(im.shape == (512, 512, 3) for im in images.values())
        ratio = {mode: laplacian_energy(im) / laplacian_energy(ref) for mode, im in images.items()}
        assert ratio["transfer"] >= 0.8 and ratio["replace"] < 0.5, (name, ratio)
        assert ratio["transfer"] > 2 * ratio["replace"], (name, ratio)
        assert not np.array_equal(images["transfer"], ref)  # it is an edit
    # the reconstruction was rendered (in transfer mode only) and saved with the intermediates
    recon = runs["transfer"] / "intermediate" / "reconstruction" / "person.png"
    assert recon.is_file() and load_image(recon).shape == (64, 64, 3)
    assert not (runs["replace"] / "intermediate" / "reconstruction").exists()
    assert (runs["transfer"] / "intermediate" / "transferred" / "person" / "A_2.png").is_file()


def test_replace_mode_is_the_render_mixed_in(reference: Path, runs: dict[str, Path]) -> None:
    """``replace``: the pipeline's output is the upscaled render through the mixups, as before transfer."""
    from faceedit.compose.mixups import DEFAULTS, Mixer
    from faceedit.images import resize
    from pipeline.steps import AlignedFaceMaps, restore_kept

    cfg = _settings(reference, runs["replace"], "edit.mode=replace")
    size = int(cfg["mixups"]["size"])
    ref = load_image(reference / "person.png")
    base = resize(ref, size)
    maps = AlignedFaceMaps(base)
    mixer = Mixer({k: v for k, v in cfg["mixups"].items() if k in DEFAULTS},
                  parser=maps.parse, depth=maps.depth)
    rendered = load_image(runs["replace"] / "intermediate" / "translated" / "person" / "A_2.png")
    mixed = mixer.mix(base, resize(rendered, size), "A_2").image
    expected = restore_kept(ref, resize(mixed, 512), np.all(mixed == base, axis=2))
    np.testing.assert_array_equal(load_image(runs["replace"] / "output_images" / "person" / "A_2.png"), expected)


def test_post_job_with_reconstruction_pickles() -> None:
    from pipeline.steps import PostJob

    job = PostJob({}, Path("out"), "r", Path("r.png"), ["A_2"], [np.zeros((4, 4, 3), np.uint8)],
                  np.zeros((8, 8, 3), np.uint8), {"A_2": "A_2"}, reconstruction=np.ones((4, 4, 3), np.uint8))
    again = pickle.loads(pickle.dumps(job))
    np.testing.assert_array_equal(again.reconstruction, job.reconstruction)


def test_edit_settings_fail_early(tmp_path: Path, capsys) -> None:
    assert load_settings()["edit"]["mode"] == "transfer"  # the default
    for bad, message in [("edit.mode=paste", "edit.mode"), ("edit.transfer.flow_preset=slow", "edit.transfer"),
                         ("edit.transfer.flow_size=8", "edit.transfer")]:
        with pytest.raises(ConfigError, match=message):
            check_settings(load_settings(None, [bad]))
    with pytest.raises(ConfigError, match="unknown config key 'edit.transfer.nope'"):
        load_settings(None, ["edit.transfer.nope=1"])
    with pytest.raises(ConfigError, match="projection"):
        check_settings(load_settings(None, ["mixups.base=projection"]))
    check_settings(load_settings(None, ["mixups.base=projection", "edit.mode=replace"]))
    assert main(["--out", str(tmp_path / "x"), "--quiet", "edit.mode=blur"]) == 1
    assert "edit.mode" in capsys.readouterr().err and not (tmp_path / "x").exists()
    assert load_settings(None, ["edit.mode=replace"])["edit"]["mode"] == "replace"

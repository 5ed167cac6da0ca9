"""The submission checker ``python -m pipeline.check``: exact set, RGB, 512x512, nothing extra."""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from faceedit.edit.translations import required_targets
from pipeline.check import Problem, check_submission, main

NON_BALD = "1_1_0_0_1_0_2_1_0"
BALD = "0_2_1_1_0_0_4_0_2"


def _png(path: Path, size: int = 512, mode: str = "RGB", fmt: str = "PNG") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, (size, size), 120 if mode in ("L", "P") else (120,) * len(mode)).save(path, format=fmt)


@pytest.fixture()
def submission(tmp_path: Path) -> Path:
    root = tmp_path / "output_images"
    for ref in (NON_BALD, BALD):
        for t in required_targets(ref):
            _png(root / ref / f"{t}.png")
    return root


def test_valid_submission_has_no_problems(submission: Path, tmp_path: Path) -> None:
    assert len(list(submission.rglob("*.png"))) == 24 + 25
    assert check_submission(submission) == []
    refs = tmp_path / "refs"
    for ref in (NON_BALD, BALD):
        _png(refs / f"{ref}.png")
    assert check_submission(submission, references=refs) == []
    assert main([str(submission), "--references", str(refs)]) == 0


def test_zip_with_a_wrapping_folder(submission: Path, tmp_path: Path) -> None:
    zpath = tmp_path / "sub.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in sorted(submission.rglob("*.png")):
            z.write(p, p.relative_to(submission.parent).as_posix())
    assert check_submission(zpath) == []
    with zipfile.ZipFile(zpath, "a") as z:
        z.writestr(f"output_images/{NON_BALD}/notes.txt", "hi")
    assert check_submission(zpath) == [Problem(f"{NON_BALD}/notes.txt", "extra file (not a required translation)")]


def test_every_problem_is_listed(submission: Path, capsys) -> None:
    (submission / NON_BALD / "Sk_0.png").unlink()  # missing
    _png(submission / NON_BALD / "Hc_4.png")  # extra (bald is a name of its own)
    _png(submission / BALD / "Hc_0.png", size=256)  # wrong size
    _png(submission / BALD / "Hs_1.png", mode="RGBA")  # not RGB
    _png(submission / BALD / "Hs_0.png", mode="L")  # not RGB
    _png(submission / BALD / "A_0.png", fmt="JPEG")  # JPEG bytes under a .png name
    (submission / BALD / "D_1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # broken
    problems = check_submission(submission)
    where = {p.where: p.what for p in problems}
    assert where[f"{NON_BALD}/Sk_0.png"] == "missing"
    assert "extra" in where[f"{NON_BALD}/Hc_4.png"]
    assert where[f"{BALD}/Hc_0.png"] == "size 256x256, expected 512x512"
    assert where[f"{BALD}/Hs_1.png"] == "not RGB (mode RGBA)"
    assert where[f"{BALD}/Hs_0.png"] == "not RGB (mode L)"
    assert where[f"{BALD}/A_0.png"] == "not a PNG file (format JPEG)"
    assert f"{BALD}/D_1.png" in where
    assert len(problems) == 7
    assert main([str(submission)]) == 1
    out = capsys.readouterr().out
    assert f"{NON_BALD}/Sk_0.png: missing" in out and f"{BALD}/Hs_1.png: not RGB (mode RGBA)" in out


def test_reference_folders_must_match(submission: Path, tmp_path: Path) -> None:
    refs = tmp_path / "refs"
    for ref in (NON_BALD, "2_0_0_0_0_1_1_0_1"):
        _png(refs / f"{ref}.png")
    problems = check_submission(submission, references=refs)
    assert Problem("2_0_0_0_0_1_1_0_1/", "missing folder (24 images expected)") in problems
    assert Problem(f"{BALD}/", "extra folder (no such reference image)") in problems
    assert len(problems) == 2


def test_bad_folder_name_and_stray_files(submission: Path) -> None:
    _png(submission / "holiday" / "Sk_0.png")
    (submission / "readme.txt").write_text("x")
    problems = check_submission(submission)
    assert [p.where for p in problems] == ["holiday/", "readme.txt"]
    assert "not a reference label name" in problems[0].what


def test_missing_path_is_a_clear_error(tmp_path: Path, capsys) -> None:
    assert main([str(tmp_path / "nope")]) == 1
    assert "no such file or folder" in capsys.readouterr().err

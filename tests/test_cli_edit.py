"""``faceedit edit``: whole photos in, whole photos out; every bad input is one error line and no file."""
import numpy as np
import pytest
from PIL import Image, ImageCms, JpegImagePlugin

from faceedit.cli import main
from faceedit.cli.edit import output_stems, parse_apply
from faceedit.errors import InvalidInput
from faceedit.images import ORIENTATION
from faceedit.testing import data_dir

pytestmark = pytest.mark.usefixtures("one_thread")

PHOTO = data_dir() / "wild" / "images" / "000176.jpg"  # 334 x 500, one face in the upper half


@pytest.fixture(scope="module")
def upright():
    return np.asarray(Image.open(PHOTO).convert("RGB"))


def _outside_face_square(photo):
    """True outside the FFHQ quad (grown by 2 px) of the photo's face."""
    import cv2

    from faceedit.faces.alignment import detect_faces, ffhq_quad

    quad, _ = ffhq_quad(detect_faces(photo)[0][1])
    inside = np.zeros(photo.shape[:2], np.uint8)
    cv2.fillConvexPoly(inside, np.round(quad).astype(np.int32), 1)
    return cv2.dilate(inside, np.ones((5, 5), np.uint8)) == 0


def _files(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def _error_lines(err):
    return [line for line in err.splitlines() if line.startswith("error:")]


def test_end_to_end_whole_photo_and_failed_inputs(tmp_path, upright, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    Image.fromarray(upright).save(inputs / "photo.png")  # PNG: the output is lossless, far pixels comparable
    (inputs / "notes.jpg").write_text("not a photo")  # unreadable
    Image.fromarray(np.full((200, 300, 3), 120, np.uint8)).save(inputs / "wall.png")  # no face
    out = tmp_path / "out"
    rc = main(["edit", str(inputs), "--apply", "A_2", "--apply", "Hc_3=0.5", "--crops", "--out", str(out),
               "--cache", str(tmp_path / "cache")])
    err = capsys.readouterr().err
    assert rc == 1  # two inputs could not be done; the photo still was
    assert "notes.jpg: not an image" in err and "wall.png: no face found" in err
    assert _files(out) == ["crops/photo_face0_after.png", "crops/photo_face0_before.png", "photo.png"]
    edited = np.asarray(Image.open(out / "photo.png"))
    assert edited.shape == upright.shape
    diff = np.abs(edited.astype(int) - upright).max(axis=2)
    assert diff[40:260, 80:260].mean() > 2  # the face (and hair) changed
    # outside the face's FFHQ square (what was aligned and edited): bit-identical, the bottom third included
    far = _outside_face_square(upright)
    assert far.mean() > 0.5 and not diff[far].any() and not diff[340:].any()
    before = np.asarray(Image.open(out / "crops" / "photo_face0_before.png"))
    after = np.asarray(Image.open(out / "crops" / "photo_face0_after.png"))
    assert before.shape == after.shape and 256 <= before.shape[0] <= 1024 and np.abs(after - before.astype(int)).mean() > 1
    assert len(list((tmp_path / "cache").rglob("*.npy"))) == 1


def test_exif_icc_alpha_and_same_stems(tmp_path, upright, capsys):
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    exif = Image.Exif()
    exif[ORIENTATION] = 6  # shown rotated 90 degrees clockwise: the stored pixels lie on their side
    Image.fromarray(np.rot90(upright, 1)).save(tmp_path / "a" / "x.jpg", exif=exif, icc_profile=icc, quality=97)
    alpha = np.tile(np.linspace(40, 255, upright.shape[1]).astype(np.uint8), (upright.shape[0], 1))
    Image.fromarray(np.dstack([upright, alpha]), "RGBA").save(tmp_path / "b" / "x.png")
    out = tmp_path / "out"
    rc = main(["edit", str(tmp_path / "a" / "x.jpg"), str(tmp_path / "b"), "--apply", "Se_1", "--mixups",
               "none", "--edit-mode", "replace", "--out", str(out), "--no-cache"])
    assert rc == 0, capsys.readouterr().err
    assert _files(out) == ["x.jpg", "x_2.png"]  # the same stem from two folders: both kept
    with Image.open(out / "x.jpg") as im:
        assert im.format == "JPEG" and im.size == (upright.shape[1], upright.shape[0])  # upright
        assert im.getexif().get(ORIENTATION) == 1 and im.info["icc_profile"] == icc
        assert max(im.quantization[0]) <= 12  # quality >= 95
        assert JpegImagePlugin.get_sampling(im) == 2  # the input's 4:2:0
        jpeg = np.asarray(im.convert("RGB")).astype(int)
    assert np.abs(jpeg[340:] - upright[340:]).mean() < 3  # upright: matches the original far from the face
    assert np.abs(jpeg[60:240, 100:240] - upright[60:240, 100:240]).mean() > 4  # the face replaced by the render
    with Image.open(out / "x_2.png") as im:
        assert im.mode == "RGBA"
        rgba = np.asarray(im)
    np.testing.assert_array_equal(rgba[..., 3], alpha)
    assert np.array_equal(rgba[340:, :, :3], upright[340:]) and not np.array_equal(rgba[..., :3], upright)


def test_parse_apply_and_output_stems(tmp_path):
    assert parse_apply(["A_2", "Hc_1=0.7", "d/x.npy=-1"]) == {"A_2": None, "Hc_1": 0.7, "d/x.npy": -1.0}
    for bad in (["A_2=strong"], ["=1"], ["A_2=nan"]):
        with pytest.raises(InvalidInput):
            parse_apply(bad)
    paths = [tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "x_2.png", tmp_path / "c" / "X.png"]
    assert list(output_stems(paths).values()) == ["x", "x_2", "x_2_2", "X_3"]


def _wrong_model_translation(tmp_path):
    from faceedit.edit.translations import Translation, TranslationStore

    t = TranslationStore.default("faceedit-celeba64-v4").get("A_2")
    return Translation("A_2", t.delta, {**t.meta, "model_id": "stylegan2-ffhq-1024"}).save(tmp_path / "other")


def _other_encoder(tmp_path):
    """An encoder file for a generator of another W+ shape (4 x 8)."""
    from faceedit.models.encoder import Encoder, save_encoder

    path = tmp_path / "other_encoder.safetensors"
    save_encoder(Encoder(4, 8, input_size=16, width=4, blocks=(1, 1), head_channels=8), path)
    return path


@pytest.mark.parametrize("case, message", [
    ("unknown", "unknown translation 'A_22'"),
    ("close", "did you mean bald"),
    ("strength", "strength 'lots' is not a number"),
    ("wrong model", "belongs to model 'stylegan2-ffhq-1024', not 'faceedit-celeba64-v4'"),
    ("out is input", "refusing to overwrite the originals"),
    ("nothing", "nothing to apply"),
    ("face", "--face must be 'all' or a face index"),
    ("mixups", "mixups must be distinct steps"),
    ("missing", "no such file or folder"),
    ("encoder missing", "nope.safetensors: no such file"),
    ("encoder of another model", "the encoder predicts (4, 8) latents"),
])
def test_bad_arguments_exit_2_with_one_error_line_and_no_file(tmp_path, upright, capsys, case, message):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(upright).save(folder / "p.png")
    out = tmp_path / "out"
    args = {
        "unknown": ["--apply", "A_22"],
        "close": ["--apply", "balt=1"],
        "strength": ["--apply", "A_2=lots"],
        "wrong model": ["--apply", str(_wrong_model_translation(tmp_path)) if case == "wrong model" else ""],
        "out is input": ["--apply", "A_2"],
        "nothing": [],
        "face": ["--apply", "A_2", "--face", "first"],
        "mixups": ["--apply", "A_2", "--mixups", "domain,blur"],
        "missing": ["--apply", "A_2"],
        "encoder missing": ["--apply", "A_2", "--encoder", str(tmp_path / "nope.safetensors")],
        "encoder of another model": ["--apply", "A_2", "--encoder",
                                     str(_other_encoder(tmp_path)) if case == "encoder of another model" else ""],
    }[case]
    target = folder if case == "out is input" else out
    inputs = [str(tmp_path / "nowhere.jpg")] if case == "missing" else [str(folder)]
    rc = main(["edit", *inputs, *args, "--out", str(target), "--no-cache"])
    err = capsys.readouterr().err
    assert rc == 2
    lines = _error_lines(err)
    assert len(lines) == 1 and message in lines[0], err
    assert _files(out) == [] and _files(folder) == ["p.png"]


def test_out_equal_to_input_folder_with_overwrite(tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    Image.fromarray(np.full((120, 160, 3), 90, np.uint8)).save(folder / "wall.png")
    rc = main(["edit", str(folder), "--apply", "A_2", "--out", str(folder), "--overwrite", "--no-cache"])
    assert rc == 1 and "no face found" in capsys.readouterr().err  # past the check; the photo had no face
    assert _files(folder) == ["wall.png"] and np.asarray(Image.open(folder / "wall.png")).mean() == 90


def test_help_has_examples(capsys):
    with pytest.raises(SystemExit):
        main(["edit", "--help"])
    text = capsys.readouterr().out
    assert "--apply A_2" in text and "x_2.jpg" in text and "transfer" in text and "exit codes" in text


def test_encoder_option_names_the_encoder_or_none(tmp_path, upright, capsys):
    """``--encoder PATH`` (e.g. rebuild-suite's, for a new generator) or ``none`` (start from the mean W)."""
    from faceedit.models.encoder import DEFAULT_ENCODER

    Image.fromarray(upright).save(tmp_path / "p.png")
    outs = {}
    for name, encoder in (("given", str(DEFAULT_ENCODER)), ("auto", "auto"), ("none", "none")):
        out = tmp_path / name
        rc = main(["edit", str(tmp_path / "p.png"), "--apply", "A_2", "--mixups", "none", "--encoder", encoder,
                   "--no-cache", "--out", str(out)])
        assert rc == 0, capsys.readouterr().err
        outs[name] = np.asarray(Image.open(out / "p.png")).astype(int)
    assert np.array_equal(outs["given"], outs["auto"])  # the built-in encoder named = the default
    assert np.abs(outs["none"] - outs["auto"]).mean() > 0.1  # without an encoder the fast projection differs

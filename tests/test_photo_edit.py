"""Photos that keep what they carry (read_photo / write_photo) and faceedit.edit_photo on real photos."""
import warnings

import numpy as np
import pytest
from PIL import Image, ImageCms

import faceedit
from faceedit.errors import (
    DataError,
    ImageReadError,
    InvalidInput,
    InvalidTranslationName,
    ModelMismatch,
    NoFaceFound,
)
from faceedit.images import ORIENTATION, Photo, read_photo, write_photo
from faceedit.compose.photo_edit import EditSettings, PhotoEditor, aligned_size, as_recipe, edit_photo
from faceedit.testing import data_dir
from faceedit.edit.translations import Recipe

pytestmark = pytest.mark.usefixtures("one_thread")

WILD = data_dir() / "wild" / "images"


def _srgb_profile() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _gradient(h=24, w=36):
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 7 % 256, y * 11 % 256, (x + y) * 5 % 256], axis=2).astype(np.uint8)


# ------------------------------------------------------------------------------------------- photo I/O


@pytest.mark.parametrize("orientation, k", [(6, 1), (8, -1), (3, 2)])
def test_read_photo_applies_orientation_and_write_resets_it(tmp_path, orientation, k):
    upright = _gradient()
    exif = Image.Exif()
    exif[ORIENTATION] = orientation
    exif[0x010F] = "TestCam"  # Make: other tags survive
    Image.fromarray(np.rot90(upright, k)).save(tmp_path / "r.png", exif=exif)
    photo = read_photo(tmp_path / "r.png")
    np.testing.assert_array_equal(photo.rgb, upright)
    assert photo.size == (36, 24) and photo.format == "PNG" and photo.output_suffix() == ".png"
    write_photo(tmp_path / "out.png", photo.rgb, photo)
    with Image.open(tmp_path / "out.png") as im:
        assert im.getexif()[ORIENTATION] == 1 and im.getexif()[0x010F] == "TestCam"
        np.testing.assert_array_equal(np.asarray(im), upright)


def test_jpeg_keeps_icc_subsampling_and_high_quality(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)
    icc = _srgb_profile()
    Image.fromarray(img).save(tmp_path / "a.JPEG", quality=80, subsampling=1, icc_profile=icc)
    photo = read_photo(tmp_path / "a.JPEG")
    assert photo.format == "JPEG" and photo.subsampling == 1 and photo.icc_profile == icc
    assert photo.output_suffix() == ".jpeg"
    write_photo(tmp_path / "b.jpg", photo.rgb, photo)
    with Image.open(tmp_path / "b.jpg") as im:
        from PIL import JpegImagePlugin

        assert im.info["icc_profile"] == icc and JpegImagePlugin.get_sampling(im) == 1
        assert max(im.quantization[0]) <= 12  # quality 95 (quality 80: up to 49)
    # no subsampling known (a PNG) -> 4:4:4
    write_photo(tmp_path / "c.jpg", img, Photo(img))
    with Image.open(tmp_path / "c.jpg") as im:
        assert JpegImagePlugin.get_sampling(im) == 0


def test_alpha_is_kept_and_rgb_not_composited(tmp_path):
    rgba = np.dstack([_gradient(), (np.arange(24 * 36) % 256).reshape(24, 36).astype(np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.webp", lossless=True, exact=True)
    photo = read_photo(tmp_path / "a.webp")
    np.testing.assert_array_equal(photo.alpha, rgba[..., 3])
    np.testing.assert_array_equal(photo.rgb, rgba[..., :3])
    assert photo.output_suffix() == ".png"
    edited = 255 - photo.rgb
    write_photo(tmp_path / "o.png", edited, photo)
    out = np.asarray(Image.open(tmp_path / "o.png"))
    assert out.shape == (24, 36, 4)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., :3], edited)


def test_16_bit_is_converted_with_a_warning(tmp_path):
    grey = (np.arange(20 * 30).reshape(20, 30) * 100).astype(np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    with pytest.warns(UserWarning, match="16-bit image converted to 8-bit"):
        photo = read_photo(tmp_path / "g.png")
    assert photo.bit_depth == 16 and photo.rgb.dtype == np.uint8 and photo.notes
    assert abs(int(photo.rgb[19, 29, 0]) - round(grey[19, 29] / 65535 * 255)) <= 1


def test_grey_profile_dropped_and_bad_files(tmp_path):
    Image.fromarray(np.full((8, 8), 90, np.uint8)).save(tmp_path / "g.tif")
    photo = read_photo(tmp_path / "g.tif")
    assert photo.format == "TIFF" and photo.rgb.shape == (8, 8, 3) and photo.output_suffix() == ".png"
    (tmp_path / "x.jpg").write_text("not a photo")
    with pytest.raises(ImageReadError, match="not an image"):
        read_photo(tmp_path / "x.jpg")
    with pytest.raises(InvalidInput, match="cannot write"):
        write_photo(tmp_path / "y.gif", photo.rgb, photo)
    with pytest.raises(InvalidInput):  # alpha of another size
        write_photo(tmp_path / "z.png", photo.rgb, Photo(photo.rgb, alpha=np.zeros((3, 3), np.uint8)))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.tif", "x.jpg"]  # nothing half-written


# ------------------------------------------------------------------------------------------ the edits


def test_edits_as_recipe_and_their_errors():
    recipe = as_recipe({"A_2": None, "Hc_1": 0.7})
    assert [(s.translation, s.strength) for s in recipe.steps] == [("A_2", None), ("Hc_1", 0.7)]
    with pytest.raises(InvalidInput, match="must be a number"):
        as_recipe({"A_2": "strong"})
    with pytest.raises(InvalidInput, match="no edit"):
        as_recipe({})
    with pytest.raises(InvalidTranslationName, match=r"unknown translation 'Hc_11' \(.*value must be.*did you mean.*Hc_1"):
        PhotoEditor({"Hc_11": 1.0})  # breaks the naming convention
    with pytest.raises(DataError, match=r"unknown translation 'bold' for model 'faceedit-celeba64-v4'; did you mean bald"):
        PhotoEditor({"bold": 1.0})  # a free name that no folder has
    combined = as_recipe([{"A_2": 1.0}, Recipe(as_recipe({"B_1": 0.5}).steps)])
    assert [s.translation for s in combined.steps] == ["A_2", "B_1"]


def test_translation_of_another_model_is_refused(tmp_path):
    from faceedit.edit.translations import Translation, TranslationStore

    store = TranslationStore.default("faceedit-celeba64-v4")
    t = store.get("A_2")
    Translation("A_2", t.delta, {**t.meta, "model_id": "stylegan2-ffhq-1024"}).save(tmp_path)
    with pytest.raises(ModelMismatch, match="belongs to model 'stylegan2-ffhq-1024'"):
        PhotoEditor({str(tmp_path / "A_2.npy"): 1.0})
    np.save(tmp_path / "w.npy", np.zeros((3, 7), np.float32))  # a bare W+ direction of the wrong shape
    with pytest.raises(ModelMismatch, match="needs"):
        PhotoEditor({str(tmp_path / "w.npy"): 1.0})


def test_aligned_size_follows_the_face_in_the_photo():
    from faceedit.faces.alignment import ffhq_quad

    rng = np.random.default_rng(0)
    base = rng.normal(size=(68, 2))
    base[36:42] += [-1.0, 0]
    base[42:48] += [1.0, 0]
    base[48], base[54] = [-0.6, 1.2], [0.6, 1.2]
    side = ffhq_quad(base)[1]
    for scale, expected in ((10, 256), (500 / side, 496), (3000 / side, 1024)):
        assert aligned_size(base * scale) == expected


@pytest.fixture(scope="module")
def editor():
    return PhotoEditor({"A_2": 1.0}, settings=EditSettings(mixups=("domain", "segmentation")))


@pytest.fixture(scope="module")
def group():
    """Two wild photos side by side: a photo with two faces."""
    a = np.asarray(Image.open(WILD / "000176.jpg").convert("RGB"))  # 334 x 500
    b = np.asarray(Image.open(WILD / "054013.jpg").convert("RGB"))  # 330 x 500
    return np.concatenate([a, b], axis=1)


def test_every_face_of_a_group_photo_is_edited_and_far_pixels_stay(editor, group, one_thread):
    result = editor.edit(group)
    assert result.image.shape == group.shape and result.photo is None
    assert len(result.faces) == 2 and {f.index for f in result.faces} == {0, 1}
    changed = np.any(result.image != group, axis=2)
    left, right = changed[:, :334], changed[:, 334:]
    assert left.mean() > 0.02 and right.mean() > 0.02  # both faces moved
    assert not changed[-120:].any()  # the sweaters and hands at the bottom: bit-identical
    for fe, maps in zip(result.faces, result.maps):
        n = fe.face.image.shape[0]
        assert 256 <= n <= 1024 and fe.edited.shape == fe.face.image.shape
        assert fe.reconstruction.shape == fe.render.shape == (64, 64, 3)
        assert maps["flow"].shape == (n, n, 2) and maps["gain"].shape == (n, n, 3) and maps["alpha"].shape == (n, n)
        assert maps["mixup_segmentation"].dtype == bool and maps["mixup_segmentation"].shape == (n, n)
        assert "mixup_domain" not in maps  # an age edit has no domain region
    assert set(result.timings) >= {"detect", "align", "parse", "project", "render", "transfer", "mixups", "paste"}


def test_zero_strength_gives_the_photo_back_bit_exact(group, tmp_path):
    result = edit_photo(group, {"A_2": 0.0}, face=1, mixups=(), cache_dir=tmp_path)
    assert len(result.faces) == 1 and result.faces[0].index == 1
    np.testing.assert_array_equal(result.image, group)
    # the projection was cached by aligned content, model and preset: the second run reads it
    again = edit_photo(group, {"A_2": 0.0}, face=1, mixups=(), cache_dir=tmp_path)
    assert not result.faces[0].cached and again.faces[0].cached
    np.testing.assert_array_equal(again.faces[0].latent.w, result.faces[0].latent.w)
    assert len(list((tmp_path / "faceedit-celeba64-v4").glob("*.npy"))) == 1


def test_replace_pastes_the_render_and_face_index_errors(group):
    result = edit_photo(group, Recipe(as_recipe({"A_2": 1.0}).steps), face=0, edit_mode="replace", mixups=())
    assert result.maps == [{}]
    fe = result.faces[0]
    import cv2

    n = fe.face.image.shape[0]
    render_up = cv2.resize(fe.render, (n, n), interpolation=cv2.INTER_CUBIC)
    np.testing.assert_array_equal(fe.edited, render_up)
    with pytest.raises(InvalidInput, match="out of range"):
        edit_photo(group, {"A_2": 1.0}, face=5)
    with pytest.raises(NoFaceFound):
        edit_photo(np.full((120, 160, 3), 128, np.uint8), {"A_2": 1.0})
    with pytest.raises(InvalidInput, match="edit mode"):
        EditSettings(edit_mode="paste")
    with pytest.raises(InvalidInput, match="mixups"):
        EditSettings(mixups=("domain", "blur"))


def test_public_api_is_lazy():
    assert faceedit.edit_photo is edit_photo and "edit_photo" in dir(faceedit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # no public name shadows the faceedit/edit/ package: faceedit.edit is that package or not loaded yet
        import types

        assert isinstance(getattr(faceedit, "edit", types.ModuleType("x")), types.ModuleType)

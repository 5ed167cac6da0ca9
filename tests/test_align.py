"""Detection, FFHQ alignment and paste-back on real photos from ``../shared/data/wild``."""
import numpy as np
import pytest

from faceedit.faces.alignment import (
    CANONICAL_EYES,
    align,
    align_face,
    detect_faces,
    face_record,
    ffhq_quad,
    head_ellipse_mask,
    landmarks_in_box,
    rescale_transform,
    transform_from_record,
    transform_points,
)
from faceedit.errors import ImageReadError, InvalidInput, NoFaceFound
from faceedit.images import load_image
from faceedit.compose.paste import paste_back
from faceedit.testing import data_dir

WILD = data_dir() / "wild" / "images"
PHOTOS = ["000176.jpg", "001719.jpg", "002123.jpg", "004507.jpg", "004800.jpg", "005069.jpg"]

pytestmark = pytest.mark.skipif(not WILD.is_dir(), reason=f"wild photos not found at {WILD}")


def _eye_centres(landmarks):
    return np.stack([landmarks[36:42].mean(0), landmarks[42:48].mean(0)])


@pytest.fixture(scope="module")
def aligned():
    return {name: align(WILD / name, size=256) for name in PHOTOS}


def test_faces_found_and_ordered(aligned):
    for name, faces in aligned.items():
        assert len(faces) >= 1, name
        f = faces[0]
        assert f.image.shape == (256, 256, 3) and f.image.dtype == np.uint8
        assert f.landmarks.shape == (68, 2)
        assert f.source == WILD / name
        photo = load_image(WILD / name)
        assert f.source_size == (photo.shape[1], photo.shape[0])
        areas = [(b[2] - b[0]) * (b[3] - b[1]) for b, _ in detect_faces(photo)]
        assert areas == sorted(areas, reverse=True)


def test_eyes_on_canonical_positions(aligned):
    """Landmarks found again IN the aligned image put the eyes where FFHQ puts them (2 % of the size)."""
    for name, faces in aligned.items():
        found = detect_faces(faces[0].image)
        assert found, f"{name}: no face in the aligned image"
        eyes = _eye_centres(found[0][1]) / 256
        np.testing.assert_allclose(eyes, CANONICAL_EYES, atol=0.02, err_msg=name)


def test_transform_matches_image(aligned):
    """The aligned image IS the photo resampled through ``transform`` (checked by sampling the photo)."""
    import cv2

    for name, faces in aligned.items():
        f = faces[0]
        photo = load_image(WILD / name).astype(np.float32)
        yy, xx = np.mgrid[32:224, 32:224]
        pts = transform_points(f.transform, np.stack([xx.ravel(), yy.ravel()], 1)).astype(np.float32)
        sampled = cv2.remap(photo, pts[:, 0].reshape(xx.shape), pts[:, 1].reshape(xx.shape), cv2.INTER_LINEAR)
        err = np.abs(sampled - f.image[32:224, 32:224]).mean()
        assert err < 6.0, (name, err)
        # and the inverse maps the source eye landmarks near the canonical positions
        eyes = transform_points(np.linalg.inv(f.transform), _eye_centres(f.landmarks)) / 256
        np.testing.assert_allclose(eyes, CANONICAL_EYES, atol=0.02, err_msg=name)


def test_quad_is_ffhq_square():
    lm = np.zeros((68, 2))
    lm[36:42] = [100, 100]
    lm[42:48] = [160, 100]
    lm[48] = [110, 170]
    lm[54] = [150, 170]
    quad, qsize = ffhq_quad(lm)
    # eye distance 60 -> half side max(120, 1.8 * 70 = 126) = 126; centre 0.1 * 70 below the eyes
    assert qsize == pytest.approx(252)
    np.testing.assert_allclose(quad.mean(0), [130, 107])
    np.testing.assert_allclose(quad[0], [130 - 126, 107 - 126])
    np.testing.assert_allclose(quad[2], [130 + 126, 107 + 126])


def test_landmarks_in_box_matches_detection():
    celeba = data_dir() / "celeba" / "img_178x218"
    path = sorted(celeba.rglob("*.jpg"))[0] if celeba.is_dir() else WILD / PHOTOS[0]
    photo = load_image(path)
    box, lm = detect_faces(photo)[0]
    again = landmarks_in_box(photo, box)
    assert np.abs(again - lm).max() < 1e-6
    # a looser, caller-chosen box still finds the eyes within a few pixels
    l, t, r, b = box
    shifted = landmarks_in_box(photo, (l - 4, t - 3, r + 4, b + 5))
    assert np.abs(_eye_centres(shifted) - _eye_centres(lm)).max() < 4


def test_align_face_from_given_landmarks_and_padding():
    photo = load_image(WILD / PHOTOS[0])
    _, lm = detect_faces(photo)[0]
    f = align_face(photo, lm, size=128)
    assert f.image.shape == (128, 128, 3)
    assert f.meta["padded"]  # this face is close to the bottom edge: the quad leaves the photo
    # reflect padding + fade: no black corners as a plain warp would give
    assert f.image[-4:, :].mean() > 40
    # transform scales with the size, same quad
    f2 = align_face(photo, lm, size=256)
    np.testing.assert_allclose(transform_points(f2.transform, [[-0.5, -0.5]]),
                               transform_points(f.transform, [[-0.5, -0.5]]), atol=1e-9)


def test_face_index_and_record(tmp_path):
    faces = align(WILD / PHOTOS[1], size=64, face=0)
    assert len(faces) == 1 and faces[0].meta["index"] == 0
    with pytest.raises(InvalidInput):
        align(WILD / PHOTOS[1], size=64, face=5)
    rec = face_record(faces[0])
    np.testing.assert_array_equal(transform_from_record(rec), faces[0].transform)
    with pytest.raises(InvalidInput):
        transform_from_record({"transform": [[1, 0], [0, 1]]})


def test_errors(tmp_path):
    rng = np.random.default_rng(0)
    with pytest.raises(NoFaceFound):
        align(rng.integers(0, 255, (200, 300, 3), dtype=np.uint8))
    bad = tmp_path / "corrupt.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(ImageReadError):
        align(bad)
    with pytest.raises(ImageReadError):
        align(tmp_path / "missing.png")
    with pytest.raises(InvalidInput):
        align(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(InvalidInput):
        align_face(np.zeros((64, 64, 3), np.uint8), np.zeros((5, 2)), 64)
    with pytest.raises(InvalidInput):
        landmarks_in_box(np.zeros((64, 64, 3), np.uint8), (500, 500, 600, 600))
    with pytest.raises(InvalidInput):
        landmarks_in_box(np.zeros((64, 64, 3), np.uint8), (10, 10, 5, 20))
    assert not list(tmp_path.glob("*.png"))


def _photo_alpha(photo, face, mask):
    """The blend weight paste_back uses, in photo space (paste white with ``mask`` onto black)."""
    white = np.full_like(face.image, 255)
    return paste_back(np.zeros_like(photo), white, face.transform, mask=mask)[..., 0] / 255.0


@pytest.mark.parametrize("name", ["000176.jpg", "002123.jpg", "005069.jpg"])
def test_round_trip_changes_little(aligned, name):
    """align -> paste back unedited: < 2/255 mean absolute error outside the feathered seam."""
    from faceedit.compose.paste import default_paste_mask

    photo = load_image(WILD / name)
    face = aligned[name][0]
    mask = default_paste_mask(face.image)
    out = paste_back(photo, face.image, face.transform)  # default mask = the parsed face and hair
    alpha = _photo_alpha(photo, face, mask)
    assert out.shape == photo.shape and out.dtype == np.uint8
    err = np.abs(out.astype(float) - photo).mean(2)
    seam = (alpha > 0.01) & (alpha < 0.99)
    # the seam is a thin band: its area over the mask outline's length is a few % of the face size
    import cv2

    contours, _ = cv2.findContours((alpha > 0.5).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    band = seam.sum() / sum(cv2.arcLength(c, True) for c in contours)
    face_px = 256 * np.hypot(*face.transform[:2, 0])
    assert band < 0.08 * face_px, (band, face_px)
    assert err[~seam].mean() < 2.0, err[~seam].mean()
    assert (err[alpha == 0] == 0).all()  # outside the mask nothing changes at all
    assert err[alpha >= 0.99].mean() < 8.0  # the resampled face itself stays close
    poisson = paste_back(photo, face.image, face.transform, mask=mask, poisson=True)
    err_p = np.abs(poisson.astype(float) - photo).mean(2)
    assert err_p[~seam].mean() < 2.0 and (err_p[alpha == 0] == 0).all()


def test_edit_lands_where_the_transform_says():
    photo = load_image(WILD / PHOTOS[2])
    face = align(photo, size=128)[0]
    edited = face.image.copy()
    edited[56:72, 56:72] = (255, 0, 0)
    out = paste_back(photo, edited, face.transform, mask=head_ellipse_mask(128), feather=1.0)
    x, y = transform_points(face.transform, [[63.5, 63.5]])[0]
    assert tuple(out[int(round(y)), int(round(x))]) == pytest.approx((255, 0, 0), abs=6)
    assert (out[:5, :5] == photo[:5, :5]).all()
    # the same quad for a 256 rendering of the edit
    big = np.repeat(np.repeat(edited, 2, 0), 2, 1)
    out2 = paste_back(photo, big, rescale_transform(face.transform, 128, 256),
                      mask=head_ellipse_mask(256), feather=2.0)
    assert tuple(out2[int(round(y)), int(round(x))]) == pytest.approx((255, 0, 0), abs=6)


def test_paste_back_errors():
    photo = np.zeros((50, 60, 3), np.uint8)
    with pytest.raises(InvalidInput):
        paste_back(photo, np.zeros((8, 9, 3), np.uint8), np.eye(3))
    with pytest.raises(InvalidInput):
        paste_back(photo, np.zeros((8, 8, 3), np.uint8), np.eye(3), mask=np.ones((4, 4)))
    with pytest.raises(InvalidInput):
        paste_back(photo, np.zeros((8, 8, 3), np.uint8), np.zeros((3, 3)), mask=np.ones((8, 8)))
    with pytest.raises(InvalidInput):
        paste_back(photo, np.zeros((8, 8, 3), np.uint8), np.eye(3) + [[0, 0, 500], [0, 0, 0], [0, 0, 0]],
                   mask=np.ones((8, 8)))


def test_package_level_align_is_the_function_after_module_import(tmp_path):
    import faceedit
    import faceedit.faces.alignment as module
    import faceedit.compose.paste

    faces = faceedit.align(WILD / PHOTOS[1], size=64)  # the module is faceedit.faces.alignment: no name clash
    assert faceedit.align is module.align and faceedit.paste_back is faceedit.compose.paste.paste_back
    assert faces[0].image.shape == (64, 64, 3)
    np.testing.assert_array_equal(faces[0].image, module.align(WILD / PHOTOS[1], size=64)[0].image)


def test_grayscale_and_rgba_photos(tmp_path):
    from PIL import Image

    photo = load_image(WILD / PHOTOS[1])
    Image.fromarray(photo).convert("L").save(tmp_path / "gray.png")
    rgba = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    ref = align(photo, size=64)[0]
    for name in ("gray.png", "rgba.png"):
        f = align(tmp_path / name, size=64)[0]
        # the same face, found again within a few pixels (grey levels change the landmark fit a little)
        assert np.abs(_eye_centres(f.landmarks) - _eye_centres(ref.landmarks)).max() < 3
        assert f.image.shape == (64, 64, 3)
    gray = align(tmp_path / "gray.png", size=64)[0].image
    assert np.abs(gray[..., 0].astype(int) - gray[..., 2]).max() == 0  # stays grey


def test_paste_only_the_change_keeps_the_photo():
    photo = load_image(WILD / PHOTOS[3])  # a small face in a big photo
    face = align(photo, size=128)[0]
    same = paste_back(photo, face.image, face.transform, original_aligned=face.image)
    np.testing.assert_array_equal(same, photo)  # unedited: exact
    edited = face.image.copy()
    edited[56:72, 56:72] = np.clip(edited[56:72, 56:72].astype(int) + 60, 0, 255)
    out = paste_back(photo, edited, face.transform, original_aligned=face.image, mask=head_ellipse_mask(128))
    x, y = transform_points(face.transform, [[63.5, 63.5]])[0]
    patch = (slice(int(y) - 2, int(y) + 3), slice(int(x) - 2, int(x) + 3))
    assert (out[patch].astype(int) - photo[patch]).mean() > 40  # brighter by about the edit
    far = np.abs(out.astype(int) - photo).sum(2)
    assert (far > 0).mean() < 0.05
    with pytest.raises(InvalidInput):
        paste_back(photo, edited, face.transform, original_aligned=face.image[:64, :64])
    with pytest.raises(InvalidInput):
        paste_back(photo, edited, face.transform, original_aligned=face.image, poisson=True)

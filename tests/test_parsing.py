"""Face parsing: BiSeNet conformance and loading, the landmark parser on real photos, errors."""
import numpy as np
import pytest
import torch

from faceedit.faces.alignment import align
from faceedit.errors import CheckpointError, InvalidInput, NoFaceFound
from faceedit.models.bisenet import BiSeNet
from faceedit.faces.parsing import CLASSES, LABEL, colorize, face_hair_mask, overlay, parse
from faceedit.testing import conformance_dir, data_dir, seeded_state_dict

WILD = data_dir() / "wild" / "images"
KEYS = conformance_dir() / "bisenet_79999_iter_keys.txt"
IO = conformance_dir() / "bisenet_seeded_io.pt"


@pytest.fixture(scope="module")
def seeded():
    if not KEYS.is_file():
        pytest.skip(f"conformance fixtures not found at {conformance_dir()}")
    return seeded_state_dict(KEYS)


def test_bisenet_conformance(seeded):
    model = BiSeNet()
    model.load_state_dict(seeded, strict=True)
    model.eval()
    ref = torch.load(IO, map_location="cpu")
    with torch.no_grad():
        outs = model(ref["input"])
    for i, out in enumerate(outs):
        torch.testing.assert_close(out, ref[f"out{i}"], rtol=1e-4, atol=1e-4)


def test_bisenet_backend_from_file(seeded, tmp_path):
    path = tmp_path / "79999_iter.pth"
    torch.save(seeded, path)
    rng = np.random.default_rng(1)
    image = rng.integers(0, 255, (40, 50, 3), dtype=np.uint8)
    labels = parse(image, backend="bisenet", weights=path)
    assert labels.shape == (40, 50) and labels.dtype == np.uint8 and labels.max() < len(CLASSES)
    # the same as running the model by hand at 512x512 with ImageNet normalisation
    import cv2

    model = BiSeNet()
    model.load_state_dict(seeded)
    model.eval()
    x = cv2.resize(image, (512, 512), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 255
    x = (x - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
    with torch.no_grad():
        ref = model(torch.from_numpy(x.astype(np.float32)).permute(2, 0, 1)[None])[0][0].argmax(0).numpy()
    np.testing.assert_array_equal(labels, cv2.resize(ref.astype(np.uint8), (50, 40), interpolation=cv2.INTER_NEAREST))
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError):
        parse(image, backend="bisenet", weights=bad)
    with pytest.raises(CheckpointError):
        parse(image, backend="bisenet", weights=tmp_path / "missing.pth")


def _centroid(labels, *names):
    ys, xs = np.nonzero(np.isin(labels, [LABEL[n] for n in names]))
    assert len(ys), f"no {names} pixels"
    return np.array([xs.mean(), ys.mean()])


@pytest.mark.skipif(not WILD.is_dir(), reason=f"wild photos not found at {WILD}")
@pytest.mark.parametrize("name", ["000176.jpg", "002123.jpg", "005069.jpg"])
def test_landmark_parser_on_aligned_faces(name):
    face = align(WILD / name, size=256)[0]
    lm = face.landmarks @ np.linalg.inv(face.transform)[:2, :2].T + np.linalg.inv(face.transform)[:2, 2]
    labels = parse(face.image, landmarks=lm)
    assert labels.shape == (256, 256) and labels.dtype == np.uint8
    eye_l, eye_r = _centroid(labels, "l_eye"), _centroid(labels, "r_eye")
    mouth = _centroid(labels, "u_lip", "l_lip", "mouth")
    nose = _centroid(labels, "nose")
    assert eye_l[0] < eye_r[0]  # l_eye is on the image's left
    assert max(eye_l[1], eye_r[1]) < nose[1] < mouth[1]  # eyes above nose above mouth
    assert eye_l[1] < _centroid(labels, "l_brow")[1] + 40 and _centroid(labels, "l_brow")[1] < eye_l[1]
    # the face centre (between eyes and mouth) is skin/nose, never hair or background
    centre = labels[118:138, 100:156]
    assert np.isin(centre, [LABEL["skin"], LABEL["nose"]]).mean() > 0.9
    assert (centre == LABEL["hair"]).mean() == 0
    # the cheeks are skin
    assert (labels[150:170, 75:95] == LABEL["skin"]).mean() > 0.8
    # hair exists and sits above the eyes on average
    assert _centroid(labels, "hair")[1] < eye_l[1]
    # about the same result with the landmarks the parser finds itself (GrabCut is sensitive to the seeds)
    again = parse(face.image)
    assert (again == labels).mean() > 0.75


@pytest.mark.skipif(not WILD.is_dir(), reason=f"wild photos not found at {WILD}")
def test_background_and_body_on_a_wild_photo():
    from faceedit.images import load_image

    photo = load_image(WILD / "000176.jpg")  # a woman in front of water, a grey sweater below
    labels = parse(photo)
    h, w = labels.shape
    assert (labels[: h // 10, : w // 10] == 0).mean() > 0.9  # top-left corner: background
    assert (labels[-h // 10:, w // 2 - 20: w // 2 + 20] == LABEL["cloth"]).mean() > 0.5  # the sweater
    mask = face_hair_mask(photo, labels=labels)
    assert mask.dtype == bool and mask[labels == LABEL["skin"]].all() and not mask[labels == LABEL["cloth"]].any()


def test_overlay_and_errors():
    labels = np.zeros((4, 5), np.uint8)
    labels[1, 2] = LABEL["hair"]
    img = np.full((4, 5, 3), 100, np.uint8)
    out = overlay(img, labels, alpha=1.0)
    assert (out[0, 0] == 100).all() and (out[1, 2] == colorize(labels)[1, 2]).all()
    with pytest.raises(InvalidInput):
        colorize(np.full((2, 2), 40, np.uint8))
    with pytest.raises(InvalidInput):
        parse(img, backend="nope")
    with pytest.raises(NoFaceFound):
        parse(np.random.default_rng(0).integers(0, 255, (120, 100, 3), dtype=np.uint8))
    with pytest.raises(InvalidInput):
        parse(img, landmarks=np.zeros((3, 2)))


@pytest.mark.skipif(not WILD.is_dir(), reason=f"wild photos not found at {WILD}")
def test_eyeglasses_drawn_on_a_face_are_found():
    import cv2

    from faceedit.faces.alignment import transform_points

    face = align(WILD / "000176.jpg", size=256)[0]
    lm = transform_points(np.linalg.inv(face.transform), face.landmarks)
    plain = parse(face.image, landmarks=lm)
    assert (plain == LABEL["eye_g"]).sum() == 0
    glasses = face.image.copy()
    for eye in (lm[36:42].mean(0), lm[42:48].mean(0)):
        cv2.ellipse(glasses, (int(eye[0]), int(eye[1])), (24, 17), 0, 0, 360, (20, 20, 20), 3)
    cv2.line(glasses, (int(lm[39, 0]) + 4, int(lm[39, 1]) - 4), (int(lm[42, 0]) - 4, int(lm[42, 1]) - 4),
             (20, 20, 20), 3)
    labels = parse(glasses, landmarks=lm)
    frame = labels == LABEL["eye_g"]
    assert frame.sum() > 200
    ys, xs = np.nonzero(frame)
    assert abs(ys.mean() - lm[36:48, 1].mean()) < 15  # at eye height
    assert (labels[np.isin(plain, [LABEL["l_eye"], LABEL["r_eye"]])] != LABEL["eye_g"]).all()

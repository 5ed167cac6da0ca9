"""Template depth: pose fit, ordering nose > cheeks > person > background, determinism, errors."""
import numpy as np
import pytest

from faceedit.faces.depth import _template_landmarks, estimate_depth, fit_pose
from faceedit.errors import InvalidInput, NoFaceFound
from faceedit.testing import data_dir

WILD = data_dir() / "wild" / "images"


def test_pose_is_recovered_from_projected_template():
    import cv2

    cam = np.array([[400.0, 0, 199.5], [0, 400.0, 199.5], [0, 0, 1]])
    rvec = np.array([[0.15], [-0.3], [0.05]])
    tvec = np.array([[0.2], [-0.1], [4.0]])
    proj, _ = cv2.projectPoints(_template_landmarks(), rvec, tvec, cam, None)
    r, t, camera = fit_pose(proj[:, 0], (400, 400))
    np.testing.assert_allclose(camera, cam)
    np.testing.assert_allclose(r, rvec, atol=1e-4)
    np.testing.assert_allclose(t, tvec, atol=1e-3)


def test_template_is_symmetric():
    from faceedit.faces.depth import MIRROR

    lm = _template_landmarks()
    np.testing.assert_allclose(lm[MIRROR] * [-1, 1, 1], lm, atol=1e-9)
    assert lm[30, 2] < lm[36, 2] and lm[30, 2] < lm[0, 2]  # nose tip nearer than eyes and jaw


@pytest.mark.skipif(not WILD.is_dir(), reason=f"wild photos not found at {WILD}")
def test_depth_ordering_on_an_aligned_face():
    from faceedit.faces.alignment import align, transform_points
    from faceedit.faces.parsing import LABEL, parse

    face = align(WILD / "000176.jpg", size=256)[0]
    lm = transform_points(np.linalg.inv(face.transform), face.landmarks)
    labels = parse(face.image, landmarks=lm)
    depth = estimate_depth(face.image, landmarks=lm, labels=labels)
    assert depth.shape == (256, 256) and depth.dtype == np.float32
    assert depth.min() >= 0 and depth.max() == pytest.approx(1.0)

    def at(p):
        return depth[int(round(p[1])), int(round(p[0]))]

    nose, cheek, eye = at(lm[30]), at((lm[2] + lm[31]) / 2), at(lm[36:42].mean(0))
    hair = depth[labels == LABEL["hair"]].mean()
    background = depth[labels == 0].mean()
    assert nose > cheek > hair > background
    assert nose > eye
    assert depth.argmax() // 256 == pytest.approx(lm[30, 1], abs=20)
    # deterministic, and the same through automatic detection / parsing within a small tolerance
    np.testing.assert_array_equal(depth, estimate_depth(face.image, landmarks=lm, labels=labels))
    auto = estimate_depth(face.image)
    assert np.abs(auto - depth).mean() < 0.05


def test_errors():
    img = np.zeros((64, 64, 3), np.uint8)
    with pytest.raises(InvalidInput):
        estimate_depth(img, backend="nope")
    with pytest.raises(InvalidInput):
        estimate_depth(img, landmarks=np.zeros((5, 2)))
    with pytest.raises(InvalidInput):
        estimate_depth(img, landmarks=_template_landmarks()[:, :2] * 10 + 32, labels=np.zeros((3, 3)))
    with pytest.raises(NoFaceFound):
        estimate_depth(np.random.default_rng(0).integers(0, 255, (100, 80, 3), dtype=np.uint8))

"""facexlib's parsers without facexlib: the ParseNet architecture, loading its .pth layout, the class remapping
to CelebAMask-HQ / face-parsing.PyTorch order, weight look-up and errors.

No real facexlib weights exist here: small seeded ParseNets stand in (the network size follows the file).
"""
import importlib.util
import sys

import cv2
import numpy as np
import pytest
import torch

from faceedit.cli import main
from faceedit.errors import CheckpointError, WeightsNotAvailable
from faceedit.models.bisenet import BiSeNet
from faceedit.models.parsenet import ParseNet
from faceedit.faces.parsing import CLASSES, LABEL, facexlib_weights_path, parse
from faceedit.testing import seeded_state_dict_like

pytestmark = pytest.mark.usefixtures("one_thread")

# GPEN / facexlib ParseNet output order, written out here independently of faceedit.models.parsenet
PARSENET_TO_OURS = {0: "background", 1: "skin", 2: "nose", 3: "eye_g", 4: "l_eye", 5: "r_eye", 6: "l_brow",
                    7: "r_brow", 8: "l_ear", 9: "r_ear", 10: "mouth", 11: "u_lip", 12: "l_lip", 13: "hair",
                    14: "hat", 15: "ear_r", 16: "neck_l", 17: "neck", 18: "cloth"}


def seeded_parsenet_state(size=64, res_depth=2):
    """The conformance SEEDED rule applied to a small ParseNet's keys (facexlib's plain state-dict layout)."""
    with torch.device("meta"):
        model = ParseNet(size, size, res_depth=res_depth)
    return seeded_state_dict_like(model)


FIND_SPEC = importlib.util.find_spec


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    """An empty weights cache and no facexlib package to be found."""
    monkeypatch.setenv("FACEEDIT_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "facexlib" else
                        FIND_SPEC(name, *a))
    return tmp_path


def test_parsenet_has_facexlibs_parameters_and_keys():
    # reference numbers from facexlib 0.3.0's ParseNet(in_size=512, out_size=512, parsing_ch=19)
    with torch.device("meta"):
        model = ParseNet()
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == 21_303_254
    assert len(state) == 238
    expected = {
        "encoder.0.conv2d.weight": (64, 3, 3, 3), "encoder.0.conv2d.bias": (64,),
        "encoder.1.shortcut_func.conv2d.weight": (128, 64, 3, 3),
        "encoder.1.conv1.conv2d.weight": (128, 64, 3, 3), "encoder.1.conv1.norm.norm.running_var": (128,),
        "encoder.4.conv2.norm.norm.weight": (256,), "body.9.conv2.conv2d.weight": (256, 256, 3, 3),
        "decoder.2.shortcut_func.conv2d.weight": (128, 256, 3, 3), "decoder.3.conv1.conv2d.weight": (64, 128, 3, 3),
        "out_mask_conv.conv2d.weight": (19, 64, 3, 3), "out_mask_conv.conv2d.bias": (19,),
        "out_img_conv.conv2d.weight": (3, 64, 3, 3)}
    for key, shape in expected.items():
        assert tuple(state[key].shape) == shape, key
    # convolutions before batch norm have no bias; same-shape blocks have no shortcut convolution
    assert "encoder.1.conv1.conv2d.bias" not in state and not any(k.startswith("body.0.shortcut") for k in state)
    assert len([k for k in state if k.startswith("encoder.") and k.endswith("shortcut_func.conv2d.weight")]) == 4


def test_parsenet_forward_shapes():
    model = ParseNet(64, 64, res_depth=1).eval()
    with torch.no_grad():
        mask, img = model(torch.zeros(2, 3, 64, 64))
    assert mask.shape == (2, 19, 64, 64) and img.shape == (2, 3, 64, 64)


def test_seeded_facexlib_file_runs_through_parse(tmp_path):
    state = seeded_parsenet_state()
    path = tmp_path / "parsing_parsenet.pth"
    torch.save(state, path)
    image = np.random.default_rng(3).integers(0, 256, (50, 40, 3), dtype=np.uint8)
    labels = parse(image, backend="facexlib", weights=path)
    assert labels.shape == (50, 40) and labels.dtype == np.uint8 and labels.max() < len(CLASSES)
    # the same as running the net by hand: 64x64 bilinear, x / 127.5 - 1, argmax, ParseNet → our order
    model = ParseNet(64, 64, res_depth=2).eval()
    model.load_state_dict(state)
    x = cv2.resize(image, (64, 64), interpolation=cv2.INTER_LINEAR).astype(np.float32) / 127.5 - 1
    with torch.no_grad():
        ref = model(torch.from_numpy(x).permute(2, 0, 1)[None])[0][0].argmax(0).numpy()
    ref = np.vectorize(lambda k: LABEL[PARSENET_TO_OURS[k]])(ref).astype(np.uint8)
    np.testing.assert_array_equal(labels, cv2.resize(ref, (40, 50), interpolation=cv2.INTER_NEAREST))
    assert len(np.unique(labels)) >= 3


def _rig_to_read_red(state):
    """Seeded weights rigged so that every residual branch is zero and every shortcut / stem convolution copies
    the RGB channels (centre tap): the body's output is then 2 * the normalised input (nearest down/up
    sampled), and the mask head gives class k the logit 9k*v - k^2/2 + 9k for red v in [-1, 1], whose argmax
    is round((v + 1) * 9) -- the class planted by the red value r = k * 255 / 18."""
    rigged = dict(state)
    for key, value in state.items():
        if key == "encoder.0.conv2d.weight" or key.endswith("shortcut_func.conv2d.weight"):
            w = torch.zeros_like(value)
            for c in range(3):
                w[c, c, 1, 1] = 1.0
            rigged[key] = w
        elif key == "encoder.0.conv2d.bias" or key.endswith("shortcut_func.conv2d.bias"):
            rigged[key] = torch.zeros_like(value)
        elif key.endswith("conv2.norm.norm.weight") or key.endswith("conv2.norm.norm.bias"):
            rigged[key] = torch.zeros_like(value)
    k = torch.arange(19, dtype=torch.float32)
    head = torch.zeros_like(state["out_mask_conv.conv2d.weight"])
    head[:, 0, 1, 1] = 9 * k / 2  # the feature is 2 * v
    rigged["out_mask_conv.conv2d.weight"] = head
    rigged["out_mask_conv.conv2d.bias"] = 9 * k - k ** 2 / 2
    return rigged


def test_planted_logit_map_is_remapped_to_our_classes(tmp_path):
    """Each ParseNet class planted in its own 8x8 cell of a 64x64 image comes out as our class of that name;
    the plant only works with facexlib's [-1, 1] input scaling (ImageNet normalisation would shift it)."""
    path = tmp_path / "rigged.pth"
    torch.save(_rig_to_read_red(seeded_parsenet_state()), path)
    image = np.full((64, 64, 3), 90, np.uint8)  # green and blue do not matter
    image[..., 0] = 0  # ParseNet's background
    for k in range(19):
        y, x = 8 * (k // 8), 8 * (k % 8)
        image[y:y + 8, x:x + 8, 0] = round(k * 255 / 18)
    labels = parse(image, backend="facexlib", weights=path)
    cells = labels.reshape(8, 8, 8, 8).transpose(0, 2, 1, 3).reshape(64, 64)
    assert (cells == cells[:, :1]).all(), "every 8x8 cell is one class"
    planted = cells[:19, 0]
    assert [CLASSES[c] for c in planted] == [PARSENET_TO_OURS[k] for k in range(19)]
    assert planted.tolist() == [0, 1, 10, 6, 4, 5, 2, 3, 7, 8, 11, 12, 13, 17, 18, 9, 15, 14, 16]
    assert (cells[19:] == LABEL["background"]).all()


def test_facexlib_bisenet_backend_equals_bisenet(tmp_path):
    with torch.device("meta"):
        model = BiSeNet()
    state = seeded_state_dict_like(model)
    path = tmp_path / "parsing_bisenet.pth"
    torch.save(state, path)
    image = np.random.default_rng(4).integers(0, 256, (30, 30, 3), dtype=np.uint8)
    labels = parse(image, backend="facexlib-bisenet", weights=path)
    assert labels.shape == (30, 30) and labels.max() < len(CLASSES)
    np.testing.assert_array_equal(labels, parse(image, backend="bisenet", weights=path))


def test_weights_from_the_cache_and_from_facexlibs_folder(no_cache, monkeypatch):
    tmp = no_cache
    with pytest.raises(WeightsNotAvailable, match="faceedit weights fetch facexlib-parsenet"):
        facexlib_weights_path("facexlib")
    with pytest.raises(WeightsNotAvailable, match="parsing_bisenet.pth.*--weights"):
        parse(np.zeros((8, 8, 3), np.uint8), backend="facexlib-bisenet")
    # an installed facexlib (whose __init__ would need torchvision) is located, never imported
    site = tmp / "site"
    (site / "facexlib" / "weights").mkdir(parents=True)
    (site / "facexlib" / "__init__.py").write_text("raise ImportError('torchvision is needed')\n")
    bundled = site / "facexlib" / "weights" / "parsing_parsenet.pth"
    torch.save(seeded_parsenet_state(), bundled)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setattr(importlib.util, "find_spec", FIND_SPEC)
    assert facexlib_weights_path("facexlib") == bundled
    assert "facexlib" not in sys.modules
    with pytest.raises(WeightsNotAvailable):
        facexlib_weights_path("facexlib-bisenet")
    # the registry's cache comes first
    assert main(["weights", "add", "facexlib-parsenet", str(bundled)]) == 0
    cached = tmp / "home" / "weights" / "parsing_parsenet.pth"
    assert facexlib_weights_path("facexlib") == cached and cached.read_bytes() == bundled.read_bytes()
    assert parse(np.full((20, 20, 3), 128, np.uint8), backend="facexlib").shape == (20, 20)


def test_bad_weight_files_are_clear_errors(tmp_path):
    image = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(CheckpointError, match="no such file"):
        parse(image, backend="facexlib", weights=tmp_path / "missing.pth")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"PK\x03\x04 not really a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt.pth"):
        parse(image, backend="facexlib", weights=corrupt)
    wrong = tmp_path / "bisenet.pth"
    with torch.device("meta"):
        keys = list(BiSeNet().state_dict())
    torch.save({k: torch.zeros(1) for k in keys}, wrong)
    with pytest.raises(CheckpointError, match="encoder.0.conv2d.weight"):
        parse(image, backend="facexlib", weights=wrong)
    state = seeded_parsenet_state()
    del state["body.0.conv1.norm.norm.running_mean"]
    broken = tmp_path / "broken.pth"
    torch.save(state, broken)
    with pytest.raises(CheckpointError, match="do not fit"):
        parse(image, backend="facexlib", weights=broken)


def test_cli_parse_with_facexlib_weights(tmp_path, capsys):
    weights = tmp_path / "parsing_parsenet.pth"
    torch.save(_rig_to_read_red(seeded_parsenet_state()), weights)
    image = np.zeros((40, 40, 3), np.uint8)
    image[:, :, 0] = round(13 * 255 / 18)  # ParseNet's hair
    cv2.imwrite(str(tmp_path / "face.png"), image[..., ::-1])
    out = tmp_path / "out"
    assert main(["parse", str(tmp_path / "face.png"), "--backend", "facexlib", "--weights", str(weights),
                 "--out", str(out)]) == 0
    labels = cv2.imread(str(out / "face_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (40, 40) and (labels == LABEL["hair"]).all()
    assert "face.png: hair" in capsys.readouterr().out
    assert (out / "face_overlay.png").is_file()

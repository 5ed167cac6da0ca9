"""DPT (MiDaS v3) depth backend: official architectures (key names, shapes, sizes), tiny seeded models end to
end through ``estimate_depth(backend="dpt")`` and the CLI, checkpoint errors, MiDaS resize rule, BiT pieces.

No real DPT checkpoint is available offline: set ``FACEEDIT_DPT`` to one to run the real-weights test.
"""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from faceedit.faces.depth import dpt_weights_path, estimate_depth
from faceedit.errors import CheckpointError, WeightsNotAvailable
from faceedit.models.dpt import (
    DPT,
    StdConv2dSame,
    dpt_config,
    dpt_hybrid,
    dpt_large,
    infer_config,
    input_size,
    load_dpt,
    pad_same,
    predict,
)

pytestmark = pytest.mark.usefixtures("one_thread")

# tiny configurations of both families (64 px native size, 4 blocks of width 64)
TINY_HYBRID = dict(embed_dim=64, depth=4, num_heads=1, mlp_dim=128, patch_size=1, grid_size=4, resnet_layers=(1, 1, 1),
                   resnet_width=32, reassemble_channels=(128, 256, 64, 64), features=32, head_features=8,
                   num_classes=0)
TINY_VIT = dict(embed_dim=64, depth=4, num_heads=1, mlp_dim=128, patch_size=16, grid_size=4,
                reassemble_channels=(16, 32, 64, 64), features=32, head_features=8, num_classes=10)


def tiny(config: dict, seed: int = 0) -> DPT:
    torch.manual_seed(seed)
    model = DPT(**config).eval()
    with torch.no_grad():  # a positive output bias: most of the random map survives the final ReLU
        model.scratch.output_conv[4].bias.fill_(0.05)
    return model


@pytest.fixture(scope="module")
def hybrid_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("dpt") / "tiny_hybrid.pt"
    torch.save(tiny(TINY_HYBRID).state_dict(), path)  # the official files are plain state dicts too
    return path


@pytest.fixture
def face():
    return np.random.default_rng(0).integers(0, 256, (72, 56, 3), dtype=np.uint8)


@pytest.fixture
def no_dpt_env(monkeypatch, tmp_path):
    monkeypatch.delenv("FACEEDIT_DPT", raising=False)
    monkeypatch.setenv("FACEEDIT_HOME", str(tmp_path / "home"))


# ------------------------------------------------------------------------------- official architectures
@pytest.mark.parametrize("build, params, checks", [
    (dpt_hybrid, 123_146_985, {
        "pretrained.model.patch_embed.backbone.stem.conv.weight": (64, 3, 7, 7),
        "pretrained.model.patch_embed.backbone.stages.0.blocks.0.downsample.conv.weight": (256, 64, 1, 1),
        "pretrained.model.patch_embed.backbone.stages.2.blocks.8.norm3.weight": (1024,),
        "pretrained.model.patch_embed.proj.weight": (768, 1024, 1, 1),
        "pretrained.model.pos_embed": (1, 577, 768),
        "pretrained.model.blocks.11.attn.qkv.weight": (2304, 768),
        "pretrained.model.head.weight": (1000, 768),
        "pretrained.act_postprocess3.0.project.0.weight": (768, 1536),
        "pretrained.act_postprocess4.4.weight": (768, 768, 3, 3),
        "scratch.layer1_rn.weight": (256, 256, 3, 3),
        "scratch.layer2_rn.weight": (256, 512, 3, 3),
        "scratch.refinenet4.resConfUnit1.conv1.weight": (256, 256, 3, 3),
        "scratch.output_conv.4.weight": (1, 32, 1, 1)}),
    (dpt_large, 344_055_465, {
        "pretrained.model.cls_token": (1, 1, 1024),
        "pretrained.model.patch_embed.proj.weight": (1024, 3, 16, 16),
        "pretrained.model.blocks.23.mlp.fc1.weight": (4096, 1024),
        "pretrained.model.norm.weight": (1024,),
        "pretrained.act_postprocess1.0.project.0.weight": (1024, 2048),
        "pretrained.act_postprocess1.4.weight": (256, 256, 4, 4),
        "pretrained.act_postprocess2.4.weight": (512, 512, 2, 2),
        "pretrained.act_postprocess3.3.weight": (1024, 1024, 1, 1),
        "scratch.layer4_rn.weight": (256, 1024, 3, 3),
        "scratch.refinenet1.out_conv.weight": (256, 256, 1, 1),
        "scratch.output_conv.0.weight": (128, 256, 3, 3)}),
])
def test_official_architectures(build, params, checks):
    with torch.device("meta"):
        model = build()
    state = model.state_dict()
    assert sum(p.numel() for p in model.parameters()) == params
    for key, shape in checks.items():
        assert tuple(state[key].shape) == shape, key
    # the hybrid's first two maps come straight from the ResNet: no reassemble weights for them
    assert any(k.startswith("pretrained.act_postprocess1.") for k in state) == (build is dpt_large)
    # the variant is recovered from the keys and shapes alone, as load_dpt does with a real file
    name = build.__name__
    assert model.variant == name
    config = infer_config(state)
    assert {**config, "hooks": dpt_config(name)["hooks"]} == dpt_config(name)
    assert model.native_size == 384


def test_hooks_of_the_official_models():
    assert dpt_config("dpt_large")["hooks"] == (5, 11, 17, 23)
    assert dpt_config("dpt_hybrid")["hooks"][2:] == (8, 11)  # the hybrid taps ResNet stages 0, 1 first


# ------------------------------------------------------------------------------------ building blocks
def test_midas_input_size_rule():
    assert input_size(384, 384) == (384, 384)
    assert input_size(1000, 500) == (768, 384)  # shrinking: short side to 384
    assert input_size(200, 100) == (384, 192)  # enlarging: long side to 384
    assert input_size(480, 640) == (384, 512)
    assert input_size(500, 383) == (512, 384)  # rounded to multiples of 32
    assert input_size(100, 50, side=64) == (128, 64)  # scale 1.28 is closer to 1 than 0.64


def test_std_conv_same_padding_and_standardisation():
    torch.manual_seed(0)
    conv = StdConv2dSame(4, 6, 3, stride=2)
    x = torch.randn(1, 4, 10, 9)
    y = conv(x)
    assert y.shape[-2:] == (5, 5)  # ceil(size / stride)
    w = conv.weight
    mean, std = w.mean((1, 2, 3), keepdim=True), w.std((1, 2, 3), keepdim=True, unbiased=False)
    # "same": total padding 1 on the even height (all at the bottom), 2 on the odd width (1 + 1)
    ref = F.conv2d(F.pad(x, (1, 1, 0, 1)), (w - mean) / (std + 1e-5), stride=2)
    torch.testing.assert_close(y, ref)
    with torch.no_grad():  # standardised weights: an affine change of the raw weights changes nothing
        conv.weight.mul_(3.0).add_(0.7)
    torch.testing.assert_close(conv(x), y, atol=1e-4, rtol=1e-4)
    padded = pad_same(torch.zeros(1, 1, 8, 8), 3, 2, value=float("-inf"))
    assert padded.shape[-2:] == (9, 9) and torch.isinf(padded[0, 0, -1]).all()
    assert torch.isfinite(padded[0, 0, :-1, :-1]).all()


def test_position_embedding_resizing():
    model = tiny(TINY_VIT)
    vit = model.pretrained.model
    assert vit.position_embedding(4, 4) is vit.pos_embed
    with torch.no_grad():
        vit.pos_embed[:, 1:] = torch.arange(64.0)  # the same vector on every grid cell
    resized = vit.position_embedding(6, 3)
    assert resized.shape == (1, 1 + 18, 64)
    torch.testing.assert_close(resized[0, 1:], vit.pos_embed[0, 1:2].expand(18, 64))
    torch.testing.assert_close(resized[:, :1], vit.pos_embed[:, :1])


@pytest.mark.parametrize("config", [TINY_HYBRID, TINY_VIT], ids=["hybrid", "vit"])
def test_tiny_models_shapes(config):
    model = tiny(config)
    with torch.no_grad():
        for size in ((64, 64), (96, 64), (64, 128)):
            out = model(torch.randn(2, 3, *size))
            assert out.shape == (2, *size) and torch.isfinite(out).all() and out.min() >= 0
    with pytest.raises(ValueError, match="multiples of 16"):
        model(torch.randn(1, 3, 60, 64))


# ------------------------------------------------------------------------ end to end, checkpoint files
def test_estimate_depth_dpt_end_to_end(hybrid_file, face, no_dpt_env):
    depth = estimate_depth(face, backend="dpt", weights=hybrid_file)
    assert depth.shape == face.shape[:2] and depth.dtype == np.float32
    assert np.isfinite(depth).all() and depth.min() == 0.0 and depth.max() == 1.0
    assert depth.std() > 0.05  # a real map, not a constant
    np.testing.assert_array_equal(depth, estimate_depth(face, backend="dpt", weights=str(hybrid_file)))
    # the same numbers as the in-memory model: save/load is bit-identical
    raw = predict(tiny(TINY_HYBRID), face)
    np.testing.assert_array_equal(depth, ((raw - raw.min()) / (raw.max() - raw.min())).astype(np.float32))
    loaded = load_dpt(hybrid_file)
    assert not loaded.training and loaded.variant == "custom" and loaded.config()["resnet_layers"] == [1, 1, 1]
    for (k, a), (k2, b) in zip(tiny(TINY_HYBRID).state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    # different content, different depth (the image is really used)
    assert np.abs(estimate_depth(face[::-1].copy(), backend="dpt", weights=hybrid_file) - depth).mean() > 0.01


def test_vit_family_from_file_and_environment(tmp_path, face, no_dpt_env, monkeypatch):
    path = tmp_path / "tiny_vit.pt"
    model = tiny(TINY_VIT, seed=3)
    torch.save(model.state_dict(), path)
    monkeypatch.setenv("FACEEDIT_DPT", str(path))
    assert dpt_weights_path() == path
    depth = estimate_depth(face, backend="dpt")
    raw = predict(model, face)
    np.testing.assert_array_equal(depth, ((raw - raw.min()) / (raw.max() - raw.min())).astype(np.float32))


def test_weights_from_the_cache(hybrid_file, face, no_dpt_env):
    from faceedit.models import weights

    with pytest.raises(WeightsNotAvailable, match="dpt_hybrid-midas-501f0c75.pt"):
        estimate_depth(face, backend="dpt")
    cached = weights.add("dpt-hybrid", hybrid_file, force=True)  # not the real file: its sha256 differs
    assert dpt_weights_path() == cached
    np.testing.assert_array_equal(estimate_depth(face, backend="dpt"),
                                  estimate_depth(face, backend="dpt", weights=hybrid_file))


def test_missing_corrupt_and_wrong_checkpoints(tmp_path, hybrid_file, face, no_dpt_env):
    with pytest.raises(CheckpointError, match="no such file.*isl-org/DPT/releases"):
        estimate_depth(face, backend="dpt", weights=tmp_path / "nope.pt")
    with pytest.raises(WeightsNotAvailable, match="MiDaS v3 checkpoint"):
        estimate_depth(face, backend="dpt")

    junk = tmp_path / "junk.pt"
    junk.write_bytes(os.urandom(2000))
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(hybrid_file.read_bytes()[:5000])
    for path in (junk, truncated):
        with pytest.raises(CheckpointError, match="not a loadable PyTorch checkpoint"):
            load_dpt(path)

    other = tmp_path / "resnet.pt"
    torch.save({"conv1.weight": torch.zeros(8, 3, 7, 7), "fc.weight": torch.zeros(2, 8)}, other)
    with pytest.raises(CheckpointError, match="not a DPT"):
        load_dpt(other)

    state = torch.load(hybrid_file, weights_only=True)
    del state["scratch.refinenet2.resConfUnit1.conv2.bias"]
    torch.save(state, tmp_path / "incomplete.pt")
    with pytest.raises(CheckpointError, match="do not fit"):
        load_dpt(tmp_path / "incomplete.pt")

    state = torch.load(hybrid_file, weights_only=True)
    del state["pretrained.act_postprocess4.0.project.0.weight"], state["pretrained.act_postprocess4.0.project.0.bias"]
    torch.save(state, tmp_path / "readout.pt")
    with pytest.raises(CheckpointError, match="readout"):
        load_dpt(tmp_path / "readout.pt")


def test_cli_depth_with_dpt(hybrid_file, tmp_path, no_dpt_env):
    from faceedit.cli import main
    from faceedit.images import save_image

    img = np.random.default_rng(1).integers(0, 256, (40, 48, 3), dtype=np.uint8)
    save_image(tmp_path / "face.png", img)
    out = tmp_path / "out"
    assert main(["depth", str(tmp_path / "face.png"), "--backend", "dpt", "--weights", str(hybrid_file),
                 "--out", str(out)]) == 0
    depth = np.load(out / "face_depth.npy")
    np.testing.assert_array_equal(depth, estimate_depth(img, backend="dpt", weights=hybrid_file))
    assert main(["depth", str(tmp_path / "face.png"), "--backend", "dpt", "--out", str(out / "b")]) == 1


@pytest.mark.skipif(not os.environ.get("FACEEDIT_DPT"),
                    reason="no real DPT checkpoint here (set FACEEDIT_DPT to dpt_hybrid-midas-501f0c75.pt)")
def test_real_checkpoint():
    model = load_dpt(os.environ["FACEEDIT_DPT"])
    assert model.variant in ("dpt_hybrid", "dpt_large")
    img = np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8)
    depth = predict(model, img)
    assert depth.shape == (300, 200) and np.isfinite(depth).all() and depth.max() > 0

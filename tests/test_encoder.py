"""Encoders: anycost ResNet50Encoder conformance, the compact default encoder, save/load and bad files."""
from __future__ import annotations

import pytest
import torch

from faceedit.errors import CheckpointError
from faceedit.models.encoder import Encoder, ResNet50Encoder, load_encoder, save_encoder
from faceedit.testing import conformance_dir, seeded_state_dict

KEYS = conformance_dir() / "anycost_encoder_keys.txt"
IO = conformance_dir() / "anycost_encoder_seeded_io.pt"


@pytest.fixture(scope="module")
def anycost_file(tmp_path_factory):
    if not KEYS.is_file():
        pytest.skip(f"conformance fixture missing: {KEYS}")
    path = tmp_path_factory.mktemp("enc") / "encoder.pt"
    torch.save({"state_dict": seeded_state_dict(KEYS)}, path)
    return path


def test_anycost_encoder_conformance(anycost_file):
    enc = load_encoder(anycost_file)
    assert isinstance(enc, ResNet50Encoder) and (enc.n_latent, enc.style_dim) == (18, 512)
    io = torch.load(IO, map_location="cpu")
    with torch.no_grad():
        out = enc(io["input"])
    torch.testing.assert_close(out, io["output"], rtol=1e-4, atol=1e-4)


def test_anycost_state_dict_keys_match_key_file():
    from faceedit.testing import read_key_file

    if not KEYS.is_file():
        pytest.skip(f"conformance fixture missing: {KEYS}")
    expected = {k: s for k, s in read_key_file(KEYS)}
    with torch.device("meta"):
        got = {k: tuple(v.shape) for k, v in ResNet50Encoder(18, 512).state_dict().items()}
    assert got == expected


def test_compact_encoder_shapes_and_mean_start():
    torch.manual_seed(0)
    enc = Encoder(n_latent=10, style_dim=32, input_size=64, width=8).eval()
    enc.mean_latent.copy_(torch.linspace(-1, 1, 32))
    x = torch.rand(3, 3, 64, 64) * 2 - 1
    with torch.no_grad():
        w = enc(x)
        w128 = enc(torch.nn.functional.interpolate(x, size=128))
    assert w.shape == (3, 10, 32) and w128.shape == (3, 10, 32)
    # the head starts small: an untrained encoder predicts about the mean latent, but not exactly
    dev = (w - enc.mean_latent).abs()
    assert 0 < dev.mean() < 0.5
    assert not torch.allclose(w[0], w[1])


def test_save_load_roundtrip(tmp_path):
    torch.manual_seed(1)
    enc = Encoder(n_latent=6, style_dim=16, input_size=32, width=8, blocks=(1, 1, 1)).eval()
    path = save_encoder(enc, tmp_path / "enc", meta={"generator_model_id": "tiny"})
    assert path.suffix == ".safetensors" and path.with_suffix(".json").is_file()
    back = load_encoder(path)
    assert back.meta["generator_model_id"] == "tiny" and back.config() == enc.config()
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(back(x), enc(x))
    half = load_encoder(save_encoder(enc, tmp_path / "half", half=True))
    with torch.no_grad():
        torch.testing.assert_close(half(x), enc(x), rtol=1e-2, atol=1e-2)
    assert (tmp_path / "half.safetensors").stat().st_size < path.stat().st_size * 0.6


def test_bad_files(tmp_path):
    with pytest.raises(CheckpointError, match="no such file"):
        load_encoder(tmp_path / "missing.pt")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt.pt"):
        load_encoder(bad)
    other = tmp_path / "other.pt"
    torch.save({"state_dict": {"conv.weight": torch.zeros(1)}}, other)
    with pytest.raises(CheckpointError, match="mean_latent"):
        load_encoder(other)
    enc = Encoder(n_latent=4, style_dim=8, input_size=16, width=4, blocks=(1, 1))
    path = save_encoder(enc, tmp_path / "e.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="e.safetensors"):
        load_encoder(path)
    path2 = save_encoder(enc, tmp_path / "f.safetensors")
    path2.with_suffix(".json").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_encoder(path2)


def test_no_code_execution(tmp_path):
    import pickle

    class Evil:
        def __reduce__(self):
            return (print, ("executed",))

    path = tmp_path / "evil.pt"
    with open(path, "wb") as f:
        pickle.dump({"state_dict": Evil()}, f)
    with pytest.raises(CheckpointError, match="evil.pt"):
        load_encoder(path)

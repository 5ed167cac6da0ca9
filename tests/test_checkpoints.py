"""Checkpoint formats: anycost/rosinality .pt, NVlabs .pkl (restricted unpickler), ours; error cases."""
import argparse
import collections
import os
import pickle
import sys
import types

import numpy as np
import pytest
import torch

from faceedit.io import load_json
from faceedit.errors import CheckpointError, WeightsNotAvailable
from faceedit.models import checkpoints, weights
from faceedit.models.checkpoints import (
    DISCRIMINATOR,
    convert,
    load_discriminator,
    load_generator,
    read_checkpoint,
    save_model,
    state_dict_to_nvlabs,
    state_dict_to_nvlabs_disc,
)
from faceedit.models.stylegan2 import Discriminator, Generator
from faceedit.testing import conformance_dir


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny_generator(seed=0):
    torch.manual_seed(seed)
    g = Generator(16, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16, model_id="tiny")
    with torch.no_grad():  # the reference initialises these to zero: make them matter
        for name, p in g.named_parameters():
            if name.endswith(("noise.weight", "activate.bias", "bias")):
                p.normal_(0, 0.3)
    return g.eval()


def render(g, seed=1):
    w = torch.randn(2, g.n_latent, g.style_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return g.synthesis(w)


# ------------------------------------------------------------------------- NVlabs-structured pickles
_PARAM_NAMES = ("weight", "bias", "const", "noise_strength")


class _FakePersistent:
    """Pickles itself exactly like NVlabs torch_utils.persistence objects do."""

    def __init__(self, class_name, state, reconstruct):
        self.class_name, self.state, self.reconstruct = class_name, state, reconstruct

    def __reduce__(self):
        meta = dict(type="class", version=6, class_name=self.class_name, state=self.state,
                    module_src="import os\nos.system('touch PWNED_BY_PICKLE')\n")
        return self.reconstruct, (meta,)


def _tree(flat, class_name, reconstruct, easydict, conv_clamp=None):
    """Nest a flat NVlabs state dict into persistent records with _parameters/_buffers/_modules."""
    params, buffers, children = collections.OrderedDict(), collections.OrderedDict(), {}
    for key, value in flat.items():
        head, _, rest = key.partition(".")
        if rest:
            children.setdefault(head, {})[rest] = value
        elif head in _PARAM_NAMES:
            params[head] = torch.nn.Parameter(value.clone(), requires_grad=False)
        else:
            buffers[head] = value.clone()
    modules = collections.OrderedDict(
        (name, _tree(sub, f"Sub_{name}", reconstruct, easydict, conv_clamp)) for name, sub in children.items())
    state = {"training": False, "_parameters": params, "_buffers": buffers, "_modules": modules,
             "_non_persistent_buffers_set": set(), "init_kwargs": easydict(conv_clamp=conv_clamp),
             "conv_clamp": conv_clamp, "weight_gain": np.float32(1) / np.sqrt(512.0), "padding": np.zeros(2)}
    return _FakePersistent(class_name, state, reconstruct)


@pytest.fixture
def nvlabs_modules(monkeypatch):
    """Stand-ins for the NVlabs modules, only so that pickle can *write* references to them."""
    persistence = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):
        raise AssertionError("the project's loader must never call the original reconstructor")

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    persistence._reconstruct_persistent_obj = _reconstruct_persistent_obj
    util = types.ModuleType("dnnlib.util")
    EasyDict = type("EasyDict", (dict,), {"__module__": "dnnlib.util", "__qualname__": "EasyDict"})
    util.EasyDict = EasyDict
    for name, mod in [("torch_utils", types.ModuleType("torch_utils")), ("torch_utils.persistence", persistence),
                      ("dnnlib", types.ModuleType("dnnlib")), ("dnnlib.util", util)]:
        monkeypatch.setitem(sys.modules, name, mod)
    return _reconstruct_persistent_obj, EasyDict


def write_nvlabs_pickle(path, g, reconstruct, easydict, d=None):
    G = _tree(state_dict_to_nvlabs(g), "Generator", reconstruct, easydict, g.conv_clamp)
    D = None
    if d is not None:
        D = _tree(state_dict_to_nvlabs_disc(d), "Discriminator", reconstruct, easydict)
        mbstd = _tree({}, "MinibatchStdLayer", reconstruct, easydict)
        mbstd.state.update(group_size=d.stddev_group, num_channels=1)
        D.state["_modules"]["b4"].state["_modules"]["mbstd"] = mbstd
    data = {"G": G, "D": D, "G_ema": G, "training_set_kwargs": easydict(resolution=g.resolution),
            "augment_pipe": None}
    path.write_bytes(pickle.dumps(data, protocol=4))
    return path


def test_nvlabs_pickle_round_trip_gives_same_images(tmp_path, nvlabs_modules, monkeypatch):
    monkeypatch.chdir(tmp_path)
    g = tiny_generator()
    g.w_avg = torch.randn(1, 16)
    pkl = write_nvlabs_pickle(tmp_path / "network-snapshot.pkl", g, *nvlabs_modules)
    monkeypatch.delitem(sys.modules, "torch_utils.persistence")  # loading must not need them
    monkeypatch.delitem(sys.modules, "dnnlib.util")
    loaded = load_generator(pkl)
    assert loaded.config == g.config and loaded.n_latent == g.n_latent
    torch.testing.assert_close(render(loaded), render(g), rtol=0, atol=0)
    torch.testing.assert_close(loaded.mean_latent(), g.w_avg)
    assert loaded.model_id.startswith("sha256-")
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_nvlabs_pickle_with_conv_clamp(tmp_path, nvlabs_modules):
    plain = tiny_generator()
    g = Generator(**{**plain.config, "conv_clamp": 0.5})
    g.load_state_dict(plain.state_dict())
    g.eval()
    assert not torch.equal(render(g), render(plain))  # the clamp matters for this model
    loaded = load_generator(write_nvlabs_pickle(tmp_path / "clamped.pkl", g, *nvlabs_modules))
    assert loaded.conv_clamp == 0.5
    torch.testing.assert_close(render(loaded), render(g), rtol=0, atol=0)
    out = save_model(loaded, tmp_path / "clamped")
    assert load_generator(out).conv_clamp == 0.5


def test_nvlabs_pickle_discriminator(tmp_path, nvlabs_modules):
    torch.manual_seed(5)
    d = Discriminator(16, channel_multiplier=1, channel_max=16, stddev_group=2)
    with torch.no_grad():
        for name, p in d.named_parameters():
            if name.endswith("bias"):
                p.normal_(0, 0.3)
    pkl = write_nvlabs_pickle(tmp_path / "snap.pkl", tiny_generator(), *nvlabs_modules, d=d)
    d2 = load_discriminator(pkl)
    assert d2.config == d.config
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(d2(x), d(x), rtol=0, atol=0)
        for a, b in zip(d2.features(x), d.features(x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
    no_d = write_nvlabs_pickle(tmp_path / "g_only.pkl", tiny_generator(), *nvlabs_modules)
    with pytest.raises(CheckpointError, match="no StyleGAN2 'D' network"):
        load_discriminator(no_d)


def test_pickle_with_code_execution_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    class Evil:
        def __reduce__(self):
            return os.system, ("touch PWNED_BY_PICKLE",)

    pkl = tmp_path / "evil.pkl"
    pkl.write_bytes(pickle.dumps({"G_ema": Evil()}))
    with pytest.raises(CheckpointError, match=r"evil\.pkl.*refusing to load global (posix|os|nt)\.system"):
        load_generator(pkl)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()
    # same without the suffix: sniffed as a pickle, still refused
    other = tmp_path / "evil.bin"
    other.write_bytes(pkl.read_bytes())
    with pytest.raises(CheckpointError):
        load_generator(other)
    assert not (tmp_path / "PWNED_BY_PICKLE").exists()


def test_pickle_without_g_ema_is_refused(tmp_path):
    pkl = tmp_path / "x.pkl"
    pkl.write_bytes(pickle.dumps({"D": 1}))
    with pytest.raises(CheckpointError, match="G_ema"):
        load_generator(pkl)


# ------------------------------------------------------------------------- anycost / rosinality / ours
def test_anycost_conformance_checkpoint_loads_and_matches():
    path = conformance_dir() / "anycost_tiny_generator.pt"
    io = torch.load(conformance_dir() / "anycost_tiny_io.pt", map_location="cpu")
    g = load_generator(path)
    assert (g.resolution, g.style_dim, g.n_mlp, g.n_latent) == (64, 64, 4, 10)
    with torch.no_grad():
        torch.testing.assert_close(g.synthesis(io["wplus"]), io["img_wplus"], rtol=1e-4, atol=1e-4)


def test_rosinality_checkpoint_with_args_g_and_d(tmp_path):
    g = tiny_generator()
    torch.manual_seed(3)
    d = Discriminator(16, channel_multiplier=1, channel_max=16)
    path = tmp_path / "050000.pt"
    torch.save({"g": g.state_dict(), "d": d.state_dict(), "g_ema": g.state_dict(),
                "args": argparse.Namespace(size=16, latent=16, n_mlp=2, channel_multiplier=1)}, path)
    ck = read_checkpoint(path)
    assert ck.source_format == "rosinality"
    torch.testing.assert_close(render(load_generator(path)), render(g), rtol=0, atol=0)
    d2 = load_discriminator(path)
    x = torch.randn(4, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(d2(x), d(x), rtol=0, atol=0)


def test_legacy_and_misnamed_torch_files(tmp_path):
    g = tiny_generator()
    legacy = tmp_path / "legacy.pt"
    torch.save({"g_ema": g.state_dict()}, legacy, _use_new_zipfile_serialization=False)
    torch.testing.assert_close(render(load_generator(legacy)), render(g), rtol=0, atol=0)
    misnamed = tmp_path / "actually_a_zip.pkl"
    torch.save({"g_ema": g.state_dict()}, misnamed)
    torch.testing.assert_close(render(load_generator(misnamed)), render(g), rtol=0, atol=0)


def test_own_format_round_trip_and_convert(tmp_path):
    g = tiny_generator()
    g.w_avg = torch.full((1, 16), 0.5)
    path = save_model(g, tmp_path / "gen", meta={"note": "x"})
    assert path.name == "gen.safetensors" and (tmp_path / "gen.json").is_file()
    info = load_json(tmp_path / "gen.json")
    assert info["kind"] == "stylegan2_generator" and info["model_id"] == "tiny" and info["meta"] == {"note": "x"}
    assert info["config"]["resolution"] == 16
    for spec in (tmp_path / "gen", tmp_path / "gen.safetensors", tmp_path / "gen.json"):
        g2 = load_generator(spec)
        assert g2.model_id == "tiny"
        torch.testing.assert_close(render(g2), render(g), rtol=0, atol=0)
        torch.testing.assert_close(g2.mean_latent(), g.w_avg)
    # convert a .pt to ours: the id of the source file is kept
    pt = tmp_path / "g.pt"
    torch.save({"g_ema": g.state_dict()}, pt)
    out = convert(pt, tmp_path / "conv" / "g2")
    g3 = load_generator(out)
    assert g3.model_id == load_generator(pt).model_id
    torch.testing.assert_close(render(g3), render(g), rtol=0, atol=0)


def test_discriminator_own_format(tmp_path):
    torch.manual_seed(0)
    d = Discriminator(16, channel_multiplier=1, channel_max=16)
    save_model(d, tmp_path / "disc")
    d2 = load_discriminator(tmp_path / "disc.safetensors")
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        torch.testing.assert_close(d2(x), d(x), rtol=0, atol=0)
    with pytest.raises(CheckpointError, match="expected a StyleGAN2 generator"):
        load_generator(tmp_path / "disc.safetensors")


# ------------------------------------------------------------------------- errors
def test_missing_file_and_unknown_name():
    with pytest.raises(CheckpointError, match="no such file"):
        load_generator("/nonexistent/g.pt")


def test_random_bytes_and_truncated_files(tmp_path):
    rnd = tmp_path / "random.pt"
    rnd.write_bytes(np.random.default_rng(0).bytes(4096))
    with pytest.raises(CheckpointError, match="random.pt"):
        load_generator(rnd)
    junk = tmp_path / "junk.dat"
    junk.write_bytes(b"hello world, not a model" * 10)
    with pytest.raises(CheckpointError, match="unsupported file format"):
        load_generator(junk)
    g = tiny_generator()
    full = tmp_path / "full.pt"
    torch.save({"g_ema": g.state_dict()}, full)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="cut.pt"):
        load_generator(cut)
    save_model(g, tmp_path / "ours")
    data = (tmp_path / "ours.safetensors").read_bytes()
    (tmp_path / "ours.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="ours.safetensors"):
        load_generator(tmp_path / "ours.safetensors")
    pkl = tmp_path / "cut.pkl"
    pkl.write_bytes(pickle.dumps({"G_ema": torch.zeros(10)})[:20])
    with pytest.raises(CheckpointError, match="cut.pkl"):
        load_generator(pkl)


def test_wrong_model_in_pt(tmp_path):
    torch.manual_seed(0)
    d = Discriminator(16, channel_multiplier=1, channel_max=16)
    path = tmp_path / "d_only.pt"
    torch.save(d.state_dict(), path)
    with pytest.raises(CheckpointError, match="discriminator, expected a generator"):
        load_generator(path)
    enc = tmp_path / "encoder.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(2, 2)}}, enc)
    with pytest.raises(CheckpointError, match="not a StyleGAN2 generator"):
        load_generator(enc)
    g_path = tmp_path / "g.pt"
    torch.save({"g_ema": tiny_generator().state_dict()}, g_path)
    with pytest.raises(CheckpointError, match="no 'd' entry"):
        read_checkpoint(g_path, DISCRIMINATOR)


def test_mismatched_shapes_give_one_line_error(tmp_path):
    sd = tiny_generator().state_dict()
    sd["conv1.conv.modulation.weight"] = torch.zeros(3, 3)
    path = tmp_path / "bad.pt"
    torch.save({"g_ema": sd}, path)
    with pytest.raises(CheckpointError) as e:
        load_generator(path)
    assert "bad.pt" in str(e.value) and "\n" not in str(e.value)


def test_default_and_registry_names(tmp_path, monkeypatch, nvlabs_modules):
    monkeypatch.setattr(checkpoints, "ASSETS_DIR", tmp_path / "assets")
    with pytest.raises(WeightsNotAvailable, match="default generator"):
        load_generator()
    g = tiny_generator()
    save_model(g, tmp_path / "assets" / "generator", model_id="builtin-tiny")
    assert load_generator().model_id == "builtin-tiny"

    monkeypatch.setenv("FACEEDIT_HOME", str(tmp_path / "home"))
    with pytest.raises(WeightsNotAvailable, match="weights fetch stylegan2-ffhq-1024"):
        load_generator("stylegan2-ffhq-1024")
    pkl = write_nvlabs_pickle(tmp_path / "ffhq.pkl", g, *nvlabs_modules)
    weights.add("stylegan2-ffhq-1024", pkl)
    loaded = load_generator("stylegan2-ffhq-1024")
    torch.testing.assert_close(render(loaded), render(g), rtol=0, atol=0)
    assert loaded.model_id == load_generator(pkl).model_id  # same file, same id either way
    with pytest.raises(CheckpointError, match="registered model"):
        load_generator("no-such-model")

"""The adversarial fine-tune against a projected discriminator (tiny 16-px models, synthetic crops)."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from faceedit.config import merge
from faceedit.images import to_tensor
from faceedit.models.encoder import Encoder
from faceedit.models.resnet import CompactResNet
from faceedit.models.stylegan2 import Generator
from faceedit.train.data import FaceData
from faceedit.train.finetune import DEFAULTS, _step, build_discriminator, rec_weight, train_finetune

pytestmark = pytest.mark.usefixtures("one_thread")
TINY_G = {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 0.0078125, "channel_max": 16}


def tiny_models(seed: int = 0):
    torch.manual_seed(seed)
    G = Generator(**TINY_G)
    E = Encoder(G.n_latent, G.style_dim, input_size=16, width=4, blocks=(1, 1), head_channels=4)
    trunk = CompactResNet(4, (1, 1, 1)).eval()
    return G, E, trunk, 16


def tiny_data(n: int = 24) -> FaceData:
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:16, 0:16]
    base = (128 + 80 * np.exp(-((xx - 8) ** 2 + (yy - 8) ** 2) / 20.0))[None, ..., None]
    images = np.clip(base + rng.normal(0, 20, (n, 16, 16, 3)), 0, 255).astype(np.uint8)
    nan = np.full(n, np.nan, np.float32)
    return FaceData(images=images, attrs=np.full((n, 40), np.nan, np.float32), age=nan, gender=nan.copy(),
                    race=np.full(n, -1), identity=np.arange(n), source=np.array(["celeba"] * n),
                    val=np.arange(n) >= n - 4, names=np.array([f"{i}.png" for i in range(n)]))


def cfg(steps: int, **train) -> dict:
    c = merge(DEFAULTS, {"disc": {"stages": 2, "proj_channels": 8, "head_channels": 8, "patch_channels": 4},
                         "train": {"steps": steps, "batch": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2,
                                   "n_samples": 4, "model_id": "tiny-ft", "r1_every": 2, **train}})
    return c


def test_discriminator_features_stay_frozen_and_losses_fall():
    G, E, trunk, size = tiny_models()
    c = cfg(1, g_lr=0.0, e_lr=0.0, d_lr=0.01, augment=[])
    D = build_discriminator(c, trunk, size)
    frozen = copy.deepcopy(D.features.state_dict())
    heads = copy.deepcopy(D.heads.state_dict())
    assert all(not p.requires_grad for p in D.features.parameters())
    assert set(map(id, D.trainable())).isdisjoint(map(id, D.features.parameters()))
    real = to_tensor(tiny_data(4).images)
    opts = [torch.optim.Adam(m.parameters(), lr=c["train"][k]) for m, k in ((G, "g_lr"), (E, "e_lr"))]
    c_d = c["train"]["r1_every"] / (c["train"]["r1_every"] + 1)
    opt_d = torch.optim.Adam(D.trainable(), lr=c["train"]["d_lr"] * c_d, betas=(0.0, 0.99 ** c_d))
    torch.manual_seed(0)
    losses = [_step(G, E, D, real, c["train"], [], s, *opts, opt_d, torch.device("cpu"))["d_loss"] for s in range(12)]
    assert np.mean(losses[-3:]) < losses[0] - 0.05  # D learns to tell this fixed batch from G's samples
    for k, v in D.features.state_dict().items():
        assert torch.equal(v, frozen[k]), k  # weights and batch-norm statistics of the trunk never move
    assert any(not torch.equal(v, heads[k]) for k, v in D.heads.state_dict().items())


def test_reconstruction_falls_with_the_generator_and_encoder():
    G, E, trunk, size = tiny_models()
    c = cfg(1, d_lr=0.0, g_lr=0.01, e_lr=0.01, rec_weight=20.0, augment=[])
    D = build_discriminator(c, trunk, size)
    real = to_tensor(tiny_data(4).images)
    opt_g = torch.optim.Adam(G.parameters(), lr=0.01, betas=(0.0, 0.99))
    opt_e = torch.optim.Adam(E.parameters(), lr=0.01)
    opt_d = torch.optim.Adam(D.trainable(), lr=0.0)
    before = copy.deepcopy(G.state_dict())
    torch.manual_seed(0)
    rec = [_step(G, E, D, real, c["train"], [], s, opt_g, opt_e, opt_d, torch.device("cpu"))["rec_mse"] for s in range(15)]
    assert np.mean(rec[-3:]) < 0.7 * rec[0]
    assert any(not torch.equal(v, before[k]) for k, v in G.state_dict().items())


def test_rec_weight_halves():
    tc = {"rec_weight": 2.0, "rec_halflife_kimg": 10.0}
    assert rec_weight(tc, 0) == 2.0 and abs(rec_weight(tc, 10) - 1.0) < 1e-9 and abs(rec_weight(tc, 30) - 0.25) < 1e-9


def test_finetune_runs_resumes_exactly_and_exports(tmp_path):
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.encoder import load_encoder

    cpu = torch.device("cpu")
    data = tiny_data()
    last = train_finetune(data, tmp_path / "a", cfg(4), cpu, models=tiny_models())
    assert np.isfinite([last["d_loss"], last["g_adv"], last["rec_mse"], last["r1"]]).all()
    G = load_generator(tmp_path / "a" / "generator.safetensors")
    assert G.model_id == "tiny-ft" and G.resolution == 16
    E = load_encoder(tmp_path / "a" / "encoder.safetensors")
    assert E(torch.zeros(1, 3, 16, 16)).shape == (1, G.n_latent, G.style_dim)
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == ["step0000002.png", "step0000004.png"]

    paused = cfg(4, stop_at=2)
    train_finetune(data, tmp_path / "b", paused, cpu, models=tiny_models())
    train_finetune(data, tmp_path / "b", cfg(4), cpu, resume=True, models=tiny_models())
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    for part in ("G", "E", "D", "G_ema"):
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k], msg=f"{part}.{k}")


def test_lowpass_features_ignore_a_per_pixel_pattern_and_warmup_keeps_the_generator():
    G, E, trunk, size = tiny_models()
    c = cfg(1, augment=[], d_warmup=3)
    c["disc"]["feature_lowpass"] = 2
    D = build_discriminator(c, trunk, size)
    real = to_tensor(tiny_data(4).images)
    checker = 0.1 * (torch.arange(16)[:, None] + torch.arange(16)[None, :]).remainder(2).mul(2).sub(1).float()
    for a, b in zip(D.features(real), D.features(real + checker)):  # a 2-px dither averages out exactly
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    c["disc"]["feature_lowpass"] = 0
    plain = build_discriminator(c, trunk, size)
    assert any((a - b).abs().max() > 1e-3 for a, b in zip(plain.features(real), plain.features(real + checker)))
    # during the discriminator's warm-up the generator and encoder do not move; after it they do
    opt_g = torch.optim.Adam(G.parameters(), lr=0.01, betas=(0.0, 0.99))
    opt_e = torch.optim.Adam(E.parameters(), lr=0.01)
    opt_d = torch.optim.Adam(D.trainable(), lr=0.01)
    before = copy.deepcopy(G.state_dict())
    heads = copy.deepcopy(D.heads.state_dict())
    for s in range(3):
        out = _step(G, E, D, real, c["train"], [], s, opt_g, opt_e, opt_d, torch.device("cpu"))
        assert np.isnan(out["g_adv"])
    assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items())
    assert any(not torch.equal(v, heads[k]) for k, v in D.heads.state_dict().items())
    assert np.isfinite(_step(G, E, D, real, c["train"], [], 3, opt_g, opt_e, opt_d, torch.device("cpu"))["g_adv"])
    assert any(not torch.equal(v, before[k]) for k, v in G.state_dict().items())


def test_gram_distance_is_zero_on_itself_and_sees_lost_texture():
    from faceedit.train.finetune import gram_distance

    _, _, trunk, size = tiny_models()
    D = build_discriminator(cfg(1), trunk, size)
    sharp = to_tensor(tiny_data(4).images)
    blurred = torch.nn.functional.avg_pool2d(sharp, 3, 1, 1)
    assert gram_distance(D.features, sharp, sharp).item() < 1e-10
    assert gram_distance(D.features, blurred, sharp).item() > 0.01


def test_texture_leg_without_adversary_trains_no_discriminator():
    G, E, trunk, size = tiny_models()
    c = cfg(1, adv_weight=0.0, texture_weight=1.0, rec_halflife_kimg=0.0, g_lr=0.002, e_lr=0.002, augment=[])
    D = build_discriminator(c, trunk, size)
    heads = copy.deepcopy(D.heads.state_dict())
    mapping = copy.deepcopy(G.style.state_dict())
    real = to_tensor(tiny_data(4).images)
    opt_g = torch.optim.Adam(G.parameters(), lr=0.002, betas=(0.0, 0.99))
    opt_e = torch.optim.Adam(E.parameters(), lr=0.002)
    opt_d = torch.optim.Adam(D.trainable(), lr=0.01)
    torch.manual_seed(0)
    rows = [_step(G, E, D, real, c["train"], [], s, opt_g, opt_e, opt_d, torch.device("cpu")) for s in range(15)]
    assert np.mean([r["rec_texture"] for r in rows[-3:]]) < 0.7 * rows[0]["rec_texture"]
    assert all(np.isnan(r["d_loss"]) and np.isnan(r["g_adv"]) for r in rows)
    assert all(torch.equal(v, heads[k]) for k, v in D.heads.state_dict().items())  # no discriminator step
    assert all(torch.equal(v, mapping[k]) for k, v in G.style.state_dict().items())  # only the encoder path

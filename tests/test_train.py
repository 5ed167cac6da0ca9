"""Training framework: data preparation, DiffAugment, and short CPU smoke trainings (tiny models, 16 px)."""
from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch

from faceedit.errors import CheckpointError, ConfigError, DataError
from faceedit.testing import data_dir
from faceedit.train import augment
from faceedit.train.data import Batches, collect_records, load_cache, prepare

pytestmark = pytest.mark.skipif(not (data_dir() / "celeba").is_dir(), reason="../shared/data is not available")

TINY_G = {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 0.0078125, "channel_max": 16}
TINY_D = {"resolution": 16, "channel_multiplier": 0.0078125, "channel_max": 16}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    path = tmp_path_factory.mktemp("data") / "faces16.npz"
    counts = prepare(data_dir(), path, size=16, workers=1, limit=48, val_fraction=0.25)
    return path, counts


@pytest.fixture(scope="module")
def data(cache):
    return load_cache(cache[0])


def test_prepare_counts_shapes_and_labels(cache, data):
    counts = cache[1]
    assert counts["photos"] == 48
    assert counts["aligned"] == len(data) >= 45
    assert counts["train"] + counts["val"] == len(data)
    assert data.images.shape[1:] == (16, 16, 3) and data.images.dtype == np.uint8
    assert data.images.std() > 20  # real face crops, not blank images
    celeba, utk = data.source == "celeba", data.source == "utkface"
    assert celeba.any() and utk.any()
    # CelebA rows: attributes and gender (from Male), no age; UTKFace rows: age/gender/race, no attributes
    assert not np.isnan(data.attrs[celeba]).all() and np.isnan(data.attrs[utk]).all()
    assert np.isnan(data.age[celeba]).all() and (data.age[utk] >= 1).all()
    assert set(np.unique(data.race[utk])) <= {0, 1, 2, 3, 4} and (data.race[celeba] == -1).all()
    male = data.attrs[celeba, 20]
    ok = ~np.isnan(male)
    np.testing.assert_array_equal(data.gender[celeba][ok], 1 - male[ok])


def test_split_is_identity_disjoint():
    records = collect_records(data_dir(), ("celeba",))
    train_ids = {r.identity for r in records if not r.val}
    val_ids = {r.identity for r in records if r.val}
    assert val_ids and train_ids and not (train_ids & val_ids)
    assert 0.05 < len(val_ids) / (len(train_ids) + len(val_ids)) < 0.15
    names = [r.path.name for r in records]
    assert len(names) == len(set(names))  # images present at both resolutions are taken once


def test_data_errors(tmp_path):
    with pytest.raises(DataError, match="not found"):
        collect_records(tmp_path / "missing")
    (tmp_path / "utkface").mkdir()
    (tmp_path / "utkface" / "labels.csv").write_text("name,x\n")
    with pytest.raises(DataError, match="empty"):
        collect_records(tmp_path, ("utkface",))
    (tmp_path / "utkface" / "labels.csv").write_text("name,age\nа.jpg,3\n")
    with pytest.raises(DataError, match="expected columns"):
        collect_records(tmp_path, ("utkface",))
    (tmp_path / "celeba").mkdir()
    (tmp_path / "celeba" / "img_89x109.csv").write_text("filename,identity\n1.jpg,3\n")
    with pytest.raises(DataError, match="columns missing"):
        collect_records(tmp_path, ("celeba",))
    with pytest.raises(DataError, match="no data cache"):
        load_cache(tmp_path / "none.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="unreadable"):
        load_cache(tmp_path / "bad.npz")


def test_batches_resume_exactly():
    a = Batches(10, 4, seed=3)
    first = [next(a) for _ in range(3)]
    state = copy.deepcopy(a.state_dict())
    rest = [next(a) for _ in range(4)]
    b = Batches(10, 4, seed=99)
    b.load_state_dict(state)
    for x, y in zip(rest, [next(b) for _ in range(4)]):
        np.testing.assert_array_equal(x, y)
    assert all(len(x) == 4 for x in first + rest)
    c = Batches(8, 4, seed=0)
    assert sorted(np.concatenate([next(c), next(c)])) == list(range(8))


def test_diff_augment():
    x = torch.linspace(-1, 1, 2 * 3 * 16 * 16).view(2, 3, 16, 16)
    g = torch.Generator().manual_seed(0)
    t = augment.diff_augment(x, ["translation"], generator=g)
    # a translation keeps the values: every non-zero output pixel is a shifted input pixel
    for i in range(2):
        nz = t[i, 0] != 0
        assert set(t[i, 0][nz].tolist()) <= set(x[i, 0].flatten().tolist())
    c = augment.diff_augment(torch.ones(4, 3, 16, 16), ["cutout"], generator=g)
    frac = (c == 0).float().mean((1, 2, 3))
    assert ((frac > 0) & (frac <= 0.25)).all()  # one square of half the side, possibly clipped at the border
    for i in range(4):  # the zeroed pixels form one rectangle
        ys, xs = torch.nonzero(c[i, 0] == 0, as_tuple=True)
        assert len(ys) == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    col = augment.diff_augment(x, ["color"], generator=torch.Generator().manual_seed(1))
    assert col.shape == x.shape and not torch.allclose(col, x)
    again = augment.diff_augment(x, ["color"], generator=torch.Generator().manual_seed(1))
    assert torch.equal(col, again)
    f = augment.random_flip(x, torch.Generator().manual_seed(0))
    assert all(torch.equal(f[i], x[i]) or torch.equal(f[i], x[i].flip(2)) for i in range(2))
    with pytest.raises(ValueError, match="unknown"):
        augment.diff_augment(x, ["zoom"])


def _attr_cfg(steps: int) -> dict:
    from faceedit.train.attributes import DEFAULTS

    cfg = copy.deepcopy(DEFAULTS)
    cfg["model"].update(width=8, blocks=[1, 1])
    cfg["train"].update(steps=steps, batch=16, lr=3e-3, warmup=1, log_every=1, eval_every=1000, checkpoint_every=2,
                        augment=False)
    return cfg


def test_attributes_smoke_loss_decreases_and_resume(data, tmp_path):
    from faceedit.models.attributes import load_attribute_predictor
    from faceedit.train.attributes import train_attributes
    from faceedit.train.loop import MetricLog

    train = data.subset(~data.val)
    metrics = train_attributes(data, tmp_path / "a", _attr_cfg(24), torch.device("cpu"))
    losses = [r["loss"] for r in MetricLog(tmp_path / "a", resume_step=10**9).rows()]
    assert len(losses) == 24 and np.mean(losses[-4:]) < np.mean(losses[:4])
    assert 0 <= metrics["gender_acc"] <= 1 and metrics["age_mae"] > 0
    model = load_attribute_predictor(tmp_path / "a" / "attributes.safetensors")
    pred = model.predict(train.images[:5])
    assert pred["Smiling"].shape == (5,) and pred["race"].shape == (5, 5) and pred["age"].shape == (5,)
    assert model.meta["trained_steps"] == 24

    # resume: 2 steps, then resume to 4 == 4 steps straight
    torch.manual_seed(0)
    train_attributes(data, tmp_path / "b", _attr_cfg(4), torch.device("cpu"))
    paused = _attr_cfg(4)
    paused["train"]["stop_at"] = 2
    train_attributes(data, tmp_path / "c", paused, torch.device("cpu"))
    train_attributes(data, tmp_path / "c", _attr_cfg(4), torch.device("cpu"), resume=True)
    sb = load_attribute_predictor(tmp_path / "b" / "attributes.safetensors").state_dict()
    sc = load_attribute_predictor(tmp_path / "c" / "attributes.safetensors").state_dict()
    for k in sb:
        torch.testing.assert_close(sb[k], sc[k], msg=k)
    with pytest.raises(CheckpointError):
        train_attributes(data, tmp_path / "none", _attr_cfg(2), torch.device("cpu"), resume=True)


def _gan_cfg(steps: int) -> dict:
    from faceedit.train.gan import DEFAULTS

    cfg = copy.deepcopy(DEFAULTS)
    cfg["generator"] = dict(TINY_G)
    cfg["discriminator"] = dict(TINY_D)
    cfg["train"].update(steps=steps, batch=4, r1_every=2, log_every=1, sample_every=2, checkpoint_every=2,
                        n_samples=4, sources=["celeba", "utkface"], model_id="tiny-test")
    return cfg


def test_gan_smoke_resume_and_export(data, tmp_path):
    from faceedit.models.checkpoints import load_discriminator, load_generator
    from faceedit.train.gan import train_gan
    from faceedit.train.loop import MetricLog

    cpu = torch.device("cpu")
    last = train_gan(data, tmp_path / "a", _gan_cfg(4), cpu)
    assert np.isfinite([last["d_loss"], last["g_loss"], last["r1"]]).all()
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == ["step0000002.png", "step0000004.png"]
    G = load_generator(tmp_path / "a" / "generator.safetensors")
    assert G.model_id == "tiny-test" and G.n_latent == 6 and G.style_dim == 32
    img = G.synthesis(G.mapping(torch.randn(3, 32)))
    assert img.shape == (3, 3, 16, 16) and torch.isfinite(img).all()
    D = load_discriminator(tmp_path / "a" / "discriminator.safetensors")
    assert D(img).shape == (3, 1)

    paused = _gan_cfg(4)
    paused["train"]["stop_at"] = 2
    train_gan(data, tmp_path / "b", paused, cpu)
    train_gan(data, tmp_path / "b", _gan_cfg(4), cpu, resume=True)
    ga = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    gb = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    for part in ("G", "D", "G_ema"):
        for k in ga[part]:
            torch.testing.assert_close(ga[part][k], gb[part][k], msg=f"{part}.{k}")
    rows = [r["step"] for r in MetricLog(tmp_path / "b", resume_step=10**9).rows()]
    assert rows == [1, 2, 3, 4]  # the resumed run logs each step once

    cfg = _gan_cfg(2)
    cfg["generator"]["resolution"] = 32
    with pytest.raises(DataError, match="16-px"):
        train_gan(data, tmp_path / "c", cfg, cpu)


def test_joint_autoencoder_and_encoder_mode(data, tmp_path):
    from faceedit.models.checkpoints import load_generator, save_model
    from faceedit.models.encoder import load_encoder
    from faceedit.train.encoder import DEFAULTS, train_encoder
    from faceedit.train.gan import build_models
    from faceedit.train.loop import MetricLog

    cpu = torch.device("cpu")
    cfg = copy.deepcopy(DEFAULTS)
    cfg["generator"] = dict(TINY_G)
    cfg["encoder"].update(width=8, blocks=[1, 1], head_channels=8)
    cfg["train"].update(mode="joint", steps=30, batch=8, lr=3e-3, g_lr=5e-3, mapping_steps=200, log_every=1,
                        sample_every=30, checkpoint_every=30, eval_images=8, sources=["celeba", "utkface"],
                        model_id="tiny-joint")
    metrics = train_encoder(data, tmp_path / "j", cfg, cpu)
    rows = MetricLog(tmp_path / "j", resume_step=10**9).rows()
    assert np.mean([r["mse"] for r in rows[-5:]]) < 0.7 * np.mean([r["mse"] for r in rows[:5]])
    assert metrics["psnr"] > metrics["mean_face_psnr"] - 0.5
    E = load_encoder(tmp_path / "j" / "encoder.safetensors")
    G = load_generator(tmp_path / "j" / "generator.safetensors")
    assert G.model_id == "tiny-joint" and E.meta["generator_model_id"] == "tiny-joint"
    w = E(torch.zeros(2, 3, 16, 16))
    assert w.shape == (2, G.n_latent, 32)
    torch.testing.assert_close(w, w[:, :1].expand_as(w))  # folded to W: all rows equal
    fit = E.meta["mapping_fit"]  # mapping(z) spread like the encoded faces
    assert fit["mean_distance"] < 0.5 and 0.5 < fit["variance_ratio"] < 1.5, fit

    # encoder mode on the frozen joint generator, with a (fresh) discriminator for the perceptual loss
    _, D = build_models({"generator": dict(TINY_G), "discriminator": dict(TINY_D), "train": {"seed": 0}}, cpu)
    save_model(D, tmp_path / "d.safetensors")
    cfg["train"].update(mode="encoder", steps=3, sample_every=3, checkpoint_every=3)
    m2 = train_encoder(data, tmp_path / "e", cfg, cpu, generator=str(tmp_path / "j" / "generator.safetensors"),
                       discriminator=str(tmp_path / "d.safetensors"))
    assert set(m2) == {"psnr", "ssim", "mean_face_psnr", "mean_face_ssim"}
    assert {"latent", "mse", "perceptual"} <= set(MetricLog(tmp_path / "e", resume_step=10**9).rows()[0])
    cfg["train"]["mode"] = "vae"
    with pytest.raises(ConfigError):
        train_encoder(data, tmp_path / "f", cfg, cpu)


def test_cli_train_errors(tmp_path, capsys):
    from faceedit.cli import main

    assert main(["train", "attributes", "--cache", str(tmp_path / "no.npz"), "--out", str(tmp_path / "o")]) == 1
    assert "prepare-data" in capsys.readouterr().err
    assert main(["train", "gan", "--cache", str(tmp_path / "no.npz"), "--out", str(tmp_path / "o"),
                 "--device", "tpu"]) == 1
    assert "unknown device" in capsys.readouterr().err


def test_jpeg_pack_round_trip(data, tmp_path):
    """A JPEG-packed cache loads like the raw one: same labels, crops within JPEG error, far fewer bytes."""
    raw, packed = tmp_path / "raw.npz", tmp_path / "packed.npz"
    data.save(raw)
    data.save(packed, jpeg_quality=95)
    back = load_cache(packed)
    assert back.images.shape == data.images.shape and back.images.dtype == np.uint8
    err = np.abs(back.images.astype(int) - data.images.astype(int)).mean()
    assert 0 < err < 6, err
    np.testing.assert_array_equal(back.names, data.names)
    np.testing.assert_array_equal(back.val, data.val)
    np.testing.assert_array_equal(np.isnan(back.age), np.isnan(data.age))
    with pytest.raises(DataError, match="quality"):
        data.save(tmp_path / "bad.npz", jpeg_quality=0)
    assert not (tmp_path / "bad.npz").exists()


def test_cli_pack_data_keeps_sources(data, tmp_path, capsys):
    from faceedit.cli import main

    raw = tmp_path / "raw.npz"
    data.save(raw)
    out = tmp_path / "celeba.npz"
    assert main(["train", "pack-data", str(raw), str(out), "--quality", "80", "--sources", "celeba"]) == 0
    packed = load_cache(out)
    assert set(packed.source) == {"celeba"} and len(packed) == int((data.source == "celeba").sum())
    assert "crops" in capsys.readouterr().out
    assert main(["train", "pack-data", str(raw), str(tmp_path / "none.npz"), "--sources", "ffhq"]) != 0
    assert "no crops left" in capsys.readouterr().err and not (tmp_path / "none.npz").exists()


def test_gan_stops_on_wall_clock_budget(data, tmp_path):
    """train.max_minutes: the loop stops after the first step past the budget, checkpoints and exports."""
    from faceedit.models.checkpoints import load_generator
    from faceedit.train.gan import train_gan

    cfg = _gan_cfg(1000)
    cfg["train"]["max_minutes"] = 1e-6
    train_gan(data, tmp_path, cfg, torch.device("cpu"))
    ck = torch.load(tmp_path / "checkpoint.pt", weights_only=False)
    assert ck["step"] == 1
    assert load_generator(tmp_path / "generator.safetensors").n_latent == 6
    assert json.loads((tmp_path / "generator.json").read_text())["meta"]["trained_steps"] == 1
    assert [p.name for p in (tmp_path / "samples").iterdir()] == ["step0000001.png"]


def test_cpu_budget_clock_counts_computation_not_waiting():
    import time as _time

    from faceedit.errors import ConfigError
    from faceedit.train.loop import Deadline, deadline_for

    d = Deadline(0.002, "cpu")  # 0.12 s of this process's CPU time
    _time.sleep(0.3)  # waiting (a busy machine, a sleep) does not use the budget ...
    assert not d.passed()
    end = _time.monotonic() + 30
    x = 0
    while not d.passed() and _time.monotonic() < end:  # ... computing does
        x += sum(range(10000))
    assert d.passed()
    assert not deadline_for({"max_minutes": 0.0}).passed()  # no budget, wall clock by default
    with pytest.raises(ConfigError, match="budget clock"):
        Deadline(1, "gpu")

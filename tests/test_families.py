"""The generative families (issue 23): DCGAN and VAE networks, one loss step, exact resume, save/load, the
family registry, the refusal of a DCGAN/VAE file by the StyleGAN2 loader, and the per-checkpoint evaluation."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from faceedit.config import merge
from faceedit.errors import CheckpointError, ConfigError
from faceedit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from faceedit.models.families import GenerativeModel, load_family_model, sample_images, seeded_latents
from faceedit.models.vae import VAE
from faceedit.train.data import FaceData
from faceedit.train.families import family, run_family

pytestmark = pytest.mark.usefixtures("one_thread")
CPU = torch.device("cpu")


def tiny_data(n: int = 40, size: int = 16) -> FaceData:
    """Blob 'faces' with noise; the last 8 rows are held out."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    base = (128 + 80 * np.exp(-((xx - size / 2) ** 2 + (yy - size / 2) ** 2) / (size * 1.2)))[None, ..., None]
    images = np.clip(base + rng.normal(0, 20, (n, size, size, 3)), 0, 255).astype(np.uint8)
    nan = np.full(n, np.nan, np.float32)
    attrs = (rng.random((n, 40)) > 0.5).astype(np.float32)
    return FaceData(images=images, attrs=attrs, age=nan, gender=nan.copy(), race=np.full(n, -1),
                    identity=np.arange(n), source=np.array(["celeba"] * n), val=np.arange(n) >= n - 8,
                    names=np.array([f"{i}.png" for i in range(n)]))


def dcgan_cfg(steps: int, **train) -> dict:
    from faceedit.train.dcgan import DEFAULTS

    return merge(DEFAULTS, {"model": {"resolution": 16, "z_dim": 8, "g_channels": 4, "d_channels": 4},
                            "train": {"steps": steps, "batch": 8, "log_every": 1, "sample_every": 2,
                                      "checkpoint_every": 2, "n_samples": 8, **train},
                            "eval": {"every": 0}})


def vae_cfg(steps: int, **train) -> dict:
    from faceedit.train.vae import DEFAULTS

    return merge(DEFAULTS, {"model": {"resolution": 16, "latent_dim": 6, "channels": 4},
                            "train": {"steps": steps, "batch": 8, "log_every": 1, "sample_every": 2,
                                      "checkpoint_every": 2, "n_samples": 20, **train},
                            "eval": {"every": 0}})


def test_shapes_and_the_dcgan_recipe():
    G, D = DCGANGenerator(), DCGANDiscriminator()
    z = torch.randn(2, 100)
    assert G.sample(z).shape == (2, 3, 64, 64) and G(z).abs().max() <= 1
    assert D(G(z)).shape == (2,)
    assert G.features(z).shape == (2, 512 * 16)  # first hidden layer: 512 channels at 4x4
    assert [m.stride for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)][1:] == [(2, 2)] * 4
    convs = [m.weight.detach() for m in G.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert abs(float(torch.cat([w.flatten() for w in convs]).std()) - 0.02) < 0.002  # N(0, 0.02) init
    assert isinstance(G, GenerativeModel) and isinstance(VAE(16, 6, 4), GenerativeModel)
    vae = VAE(16, 6, 4).eval()
    x = torch.rand(3, 3, 16, 16) * 2 - 1
    mu, logvar = vae.encode(x)
    assert mu.shape == logvar.shape == (3, 6)
    assert vae.decode(mu).shape == (3, 3, 16, 16) and vae.sample(torch.randn(5, 6)).shape == (5, 3, 16, 16)
    with pytest.raises(ConfigError):
        DCGANGenerator(resolution=48)
    assert sample_images(vae, 5, seed=1).shape == (5, 16, 16, 3)


def test_one_step_lowers_the_loss_on_a_fixed_batch():
    from faceedit.train.dcgan import DCGANTrainer
    from faceedit.train.vae import VAETrainer

    real = torch.rand(8, 3, 16, 16) * 2 - 1
    t = DCGANTrainer(dcgan_cfg(1, lr=2e-3), CPU)
    z = seeded_latents(8, 8, 0)
    d0, d1 = t.d_step(real, z)["d_loss"], t.d_step(real, z)["d_loss"]
    assert d1 < d0
    g0, g1 = t.g_step(z)["g_loss"], t.g_step(z)["g_loss"]
    assert g1 < g0
    v = VAETrainer(vae_cfg(1, lr=3e-3), CPU)
    torch.manual_seed(0)
    first = v.step(real)
    torch.manual_seed(0)
    second = v.step(real)
    assert second["loss"] < first["loss"] and second["rec"] < first["rec"]


@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_run_resumes_exactly_and_round_trips_the_model(name, tmp_path):
    data = tiny_data()
    cfg = dcgan_cfg if name == "dcgan" else vae_cfg
    fam = family(name)
    fam.train(data, tmp_path / "a", cfg(4), CPU)
    fam.train(data, tmp_path / "b", cfg(4, stop_at=2), CPU)
    fam.train(data, tmp_path / "b", cfg(4), CPU, resume=True)
    file = "generator" if name == "dcgan" else "vae"
    a, b = load_family_model(tmp_path / "a" / file), load_family_model(tmp_path / "b" / file)
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    rows = [json.loads(x) for x in (tmp_path / "b" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert sorted(p.name for p in (tmp_path / "a" / "samples").iterdir()) == ["step0000002.png", "step0000004.png"]
    # save/load round trip: the same images from the same latents
    z = seeded_latents(3, a.z_dim, 0)
    with torch.no_grad():
        assert torch.equal(a.sample(z), load_family_model(tmp_path / "a" / f"{file}.json").sample(z))
    info = json.loads((tmp_path / "a" / f"{file}.json").read_text())
    assert info["kind"] == ("dcgan_generator" if name == "dcgan" else "vae") and info["meta"]["trained_steps"] == 4


def test_family_files_are_refused_by_the_stylegan_loader_and_unknown_families(tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.families import save_family_model

    save_family_model(DCGANGenerator(16, 8, 4), tmp_path / "g.safetensors", "dcgan_generator")
    save_family_model(VAE(16, 6, 4), tmp_path / "v.safetensors", "vae")
    with pytest.raises(CheckpointError, match="DCGAN generator.*only StyleGAN2 generators can be edited"):
        load_generator(tmp_path / "g.safetensors")
    with pytest.raises(CheckpointError, match="a VAE"):
        load_generator(tmp_path / "v")
    with pytest.raises(ConfigError, match="unknown model family 'flow'"):
        family("flow")
    assert main(["generate", "--checkpoint", str(tmp_path / "g.safetensors"), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "DCGAN generator" in err[0]
    with pytest.raises(SystemExit) as e:
        main(["train", "flow", "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert e.value.code == 2 and len(err) == 1 and err[0].startswith("error: faceedit train: ")
    assert "invalid choice: 'flow'" in err[0] and "dcgan" in err[0]


def test_pca_attribute_correlation_finds_the_planted_attribute():
    from faceedit.train.evaluate import pca_attribute_correlation

    rng = np.random.default_rng(0)
    smile = rng.random(300)
    latents = rng.normal(0, 0.1, (300, 12))
    latents[:, 3] += 5 * smile  # the first principal axis is the smile attribute
    out = pca_attribute_correlation(latents, {"Smiling": smile, "Male": rng.random(300)}, components=4)
    assert out["best"][0][0] == "Smiling" and out["best"][0][1] > 0.99
    assert out["r"].shape == (4, 2) and out["explained"][0] > 0.8


def test_evaluation_row_of_a_tiny_model():
    from faceedit.train.evaluate import Evaluator

    data = tiny_data()
    ev = Evaluator(data, {"n": 4, "components": 3}, CPU)
    row = ev(VAE(16, 6, 4))
    assert row["n"] == 4 and row["frechet_floor"] > 0 and row["frechet_ratio"] > 0
    assert 0 <= row["detection_rate"] <= 1 and np.isfinite(row["psnr"]) and 0 < row["psnr"] < 40
    assert 0 <= row["pca_attr_r_mean"] <= row["pca_attr_r_max"] <= 1 + 1e-9
    assert 0 <= row["predictor_accuracy"] <= 1 and row["pca_components"].count(":") == 3
    model = DCGANGenerator(16, 8, 4).train()
    row = ev(model)
    assert "psnr" not in row and model.training  # the evaluation restores the training mode


def test_gan_family_logs_its_evaluation_per_checkpoint_and_resumes(tmp_path):
    from faceedit.train.families import family

    fam = family("gan")
    tiny = {"generator": {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 0.0078125,
                          "channel_max": 16},
            "discriminator": {"resolution": 16, "channel_multiplier": 0.0078125, "channel_max": 16},
            "train": {"steps": 4, "batch": 4, "log_every": 1, "sample_every": 2, "checkpoint_every": 2,
                      "n_samples": 4, "r1_every": 2},
            "eval": {"every": 2, "n": 3, "detection": False, "components": 2}}
    data = tiny_data()
    fam.train(data, tmp_path, merge(fam.defaults(), dict(tiny, train={**tiny["train"], "stop_at": 2})), CPU)
    fam.train(data, tmp_path, merge(fam.defaults(), tiny), CPU, resume=True)
    rows = [json.loads(x) for x in (tmp_path / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [2, 4] and all(r["n"] == 3 and r["frechet"] > 0 for r in rows)
    sampler = load_family_model(tmp_path / "generator.safetensors")
    assert sampler.family == "gan" and sampler.sample(seeded_latents(2, 32, 0)).shape == (2, 3, 16, 16)

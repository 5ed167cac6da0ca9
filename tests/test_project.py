"""Projection: recovery of generated faces, encoder refinement, settings, cache, batch runs, CLI, errors."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from faceedit.errors import ConfigError, InvalidInput, ModelMismatch
from faceedit.images import load_image, resize, save_image, to_image
from faceedit.measure.metrics import psnr
from faceedit.models.encoder import Encoder
from faceedit.models.stylegan2 import Discriminator, Generator
from faceedit.projection.project import ProjectionSettings, Projector, project, project_files
from faceedit.testing import data_dir
from faceedit.types import Latent

RES = 16


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_g():
    torch.manual_seed(0)
    return Generator(RES, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16, model_id="tiny").eval()


@pytest.fixture(scope="module")
def generated(tiny_g):
    """Two generated faces and their true W+."""
    with torch.no_grad():
        w = tiny_g.mapping(torch.randn(2, 16, generator=torch.Generator().manual_seed(1)))
        w = w[:, None].expand(-1, tiny_g.n_latent, -1).contiguous()
        return to_image(tiny_g.synthesis(w)), w


@pytest.fixture(scope="module")
def faces():
    folder = data_dir() / "celeba" / "img_89x109"
    if not folder.is_dir():
        pytest.skip(f"data missing: {folder}")
    files = sorted(folder.iterdir())[:3]
    return [resize(load_image(f)[23:93, 9:79], 32) for f in files], files


def _settings(**kw):
    base = {"perceptual": "none", "encoder_weight": 0.0, "wplus_penalty": 0.0}
    return ProjectionSettings.from_preset("balanced", **{**base, **kw})


def _perturbed(w: torch.Tensor, scale: float) -> list[Latent]:
    g = torch.Generator().manual_seed(3)
    return [Latent((wi + scale * torch.randn(wi.shape, generator=g)).numpy(), "tiny") for wi in w]


def test_recovers_a_generated_image(tiny_g, generated):
    images, w = generated
    init = _perturbed(w, 0.1)
    start = Projector(tiny_g, settings=_settings(steps=0)).project(list(images), init=init)
    res = Projector(tiny_g, settings=_settings(steps=60, lr=0.1, plateau_patience=100)).project(list(images), init=init)
    for r0, r, target in zip(start, res, images):
        assert r.latent.w.shape == (tiny_g.n_latent, 16) and r.latent.model_id == "tiny"
        assert r.image.shape == (RES, RES, 3) and r.image.dtype == np.uint8
        assert r.metrics["psnr"] >= 35 and r.metrics["psnr"] > r0.metrics["psnr"] + 8
        assert r.metrics["psnr"] == pytest.approx(psnr(target, r.image), abs=1e-3)
        # the saved latent alone reproduces the reconstruction
        with torch.no_grad():
            again = to_image(tiny_g.synthesis(torch.from_numpy(r.latent.w)[None]))[0]
        assert np.array_equal(again, r.image)
        curve = r.metrics["loss_curve"]
        assert len(curve) == 60 and curve[-1] < 0.2 * curve[0]


def test_step_callback_reports_progress_and_can_stop(tiny_g, generated):
    images, w = generated
    init = _perturbed(w, 0.1)
    seen: list[tuple[int, int]] = []
    settings = _settings(steps=12, plateau_patience=100)
    Projector(tiny_g, settings=settings).project(list(images), init=init, on_step=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 12) for i in range(1, 13)]

    class Stop(Exception):
        pass

    def stop_at_3(done: int, total: int) -> None:
        if done == 3:
            raise Stop

    with pytest.raises(Stop):
        Projector(tiny_g, settings=settings).project(list(images), init=init, on_step=stop_at_3)


def test_lbfgs_and_w_space(tiny_g, generated):
    images, w = generated
    init = _perturbed(w, 0.1)
    p0 = Projector(tiny_g, settings=_settings(steps=0)).project(list(images), init=init)
    lb = Projector(tiny_g, settings=_settings(steps=10, optimizer="lbfgs")).project(list(images), init=init)
    assert all(a.metrics["psnr"] > b.metrics["psnr"] + 3 for a, b in zip(lb, p0))
    ws = Projector(tiny_g, settings=_settings(steps=3, space="w")).project(list(images), init=init)
    for r in ws:
        assert r.latent.w.shape == (tiny_g.n_latent, 16)
        assert np.allclose(r.latent.w, r.latent.w[0])  # one W for every layer
    assert not np.allclose(lb[0].latent.w, lb[0].latent.w[0])  # W+ rows differ


def test_refinement_beats_the_encoder_on_real_faces(tiny_g, faces):
    torch.manual_seed(0)
    enc = Encoder(tiny_g.n_latent, 16, input_size=RES, width=4, blocks=(1, 1)).eval()
    with torch.no_grad():
        enc.mean_latent.copy_(tiny_g.mean_latent(500)[0])
    images, _ = faces
    fast = Projector(tiny_g, enc, ProjectionSettings.from_preset("fast")).project(images)
    tuned = Projector(tiny_g, enc, _settings(steps=25, lr=0.2, encoder_weight=0.1, wplus_penalty=0.01)).project(images)
    for f, t in zip(fast, tuned):
        assert f.metrics["steps"] == 0 and t.metrics["steps"] > 5
        assert t.metrics["psnr"] > f.metrics["psnr"] + 2
    # the API function returns latents of the same model
    lats = project(tiny_g, images[0], preset="fast", encoder=enc)
    assert len(lats) == 1 and np.allclose(lats[0].w, fast[0].latent.w)


def test_discriminator_perceptual_noise_and_anycost(tiny_g, generated):
    images, w = generated
    torch.manual_seed(0)
    disc = Discriminator(RES, channel_multiplier=1, channel_max=16).eval()
    s = _settings(steps=6, perceptual="discriminator", noise=True, anycost_weight=0.5, plateau_patience=100)
    proj = Projector(tiny_g, settings=s, discriminator=disc)
    assert proj.perceptual_name == "discriminator"
    init = _perturbed(w, 0.2)
    a = proj.project(list(images), init=init)
    b = Projector(tiny_g, settings=s, discriminator=disc).project(list(images), init=init)
    assert np.array_equal(a[0].latent.w, b[0].latent.w)  # deterministic given the seed
    assert a[0].metrics["loss_curve"][-1] < a[0].metrics["loss_curve"][0]
    assert [n.shape for n in a[0].noise] == [tuple(getattr(tiny_g.noises, f"noise_{i}").shape[1:])
                                            for i in range(tiny_g.num_layers)]
    assert all(abs(float(n.std()) - 1) < 0.05 for n in a[0].noise)
    # the generator is untouched: no gradients in its parameters, its noise buffers unchanged
    assert all(p.grad is None for p in list(tiny_g.parameters()) + list(disc.parameters()))
    torch.manual_seed(0)
    fresh = Generator(RES, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), tiny_g.state_dict().values()))


def test_settings_and_pairing_errors(tiny_g, generated):
    images, w = generated
    with pytest.raises(InvalidInput, match="preset"):
        ProjectionSettings.from_preset("best")
    with pytest.raises(ConfigError, match="lrate"):
        ProjectionSettings.from_preset("fast", lrate=1)
    with pytest.raises(InvalidInput, match="optimizer"):
        ProjectionSettings.from_preset("fast", optimizer="sgd")
    assert ProjectionSettings.from_preset("balanced", steps="7", noise="true").steps == 7
    with pytest.raises(ModelMismatch, match="needs"):
        Projector(tiny_g, Encoder(4, 16, input_size=RES, width=4, blocks=(1, 1)))
    enc = Encoder(tiny_g.n_latent, 16, input_size=RES, width=4, blocks=(1, 1))
    enc.meta = {"generator_model_id": "another-model"}
    with pytest.raises(ModelMismatch, match="another-model"):
        Projector(tiny_g, enc)
    with pytest.raises(ModelMismatch, match="other"):
        Projector(tiny_g, settings=_settings(steps=0)).project(images[0], init=[Latent(w[0].numpy(), "other")])
    with pytest.raises(InvalidInput, match="RGB"):
        Projector(tiny_g, settings=_settings(steps=0)).project(np.zeros((4, 8, 8, 2), np.uint8))


def _write_inputs(folder, faces):
    images, _ = faces
    folder.mkdir()
    for i, im in enumerate(images[:2]):
        save_image(folder / f"face{i}.png", im)
    (folder / "broken.png").write_bytes(b"\x89PNG not really")
    return folder


def test_project_files_outputs_cache_and_failures(tiny_g, faces, tmp_path):
    inputs = _write_inputs(tmp_path / "in", faces)
    out = tmp_path / "out"
    proj = Projector(tiny_g, settings=_settings(steps=3, batch_size=1))
    s1 = project_files([inputs], out, proj, progress=False, log=lambda m: None)
    assert sorted(s1.done) == ["face0", "face1"] and not s1.cached
    assert [f["source"] for f in s1.failures] == [str(inputs / "broken.png")]
    lat = np.load(out / "projected_latents" / "face0.npy")
    assert lat.shape == (tiny_g.n_latent, 16) and lat.dtype == np.float32
    rec = load_image(out / "projected_images" / "face0.png")
    assert rec.shape == (RES, RES, 3)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["model_id"] == "tiny" and metrics["summary"]["n_failed"] == 1
    assert metrics["images"]["face0"]["psnr"] == pytest.approx(
        psnr(resize(load_image(inputs / "face0.png"), RES), rec), abs=1e-3)
    assert "corrupt" in metrics["failures"][0]["error"] or "not an image" in metrics["failures"][0]["error"]

    # same inputs and settings: everything comes from the cache
    s2 = project_files([inputs], out, proj, progress=False, log=lambda m: None)
    assert sorted(s2.cached) == ["face0", "face1"] and not s2.done
    # a changed input file is recomputed, the other is not
    save_image(inputs / "face1.png", faces[0][2])
    s3 = project_files([inputs], out, proj, progress=False, log=lambda m: None)
    assert s3.done == ["face1"] and s3.cached == ["face0"]
    # other settings, or force: recomputed
    other = Projector(tiny_g, settings=_settings(steps=2, batch_size=2))
    assert sorted(project_files([inputs], out, other, progress=False, log=lambda m: None).done) == ["face0", "face1"]
    assert sorted(project_files([inputs], out, other, force=True, progress=False, log=lambda m: None).done) == [
        "face0", "face1"]
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_project_files_keeps_earlier_calls_cached(tiny_g, faces, tmp_path):
    inputs = _write_inputs(tmp_path / "in", faces)
    out = tmp_path / "out"
    proj = Projector(tiny_g, settings=_settings(steps=2, batch_size=1))
    quiet = {"progress": False, "log": lambda m: None}
    assert project_files([inputs / "face0.png"], out, proj, **quiet).done == ["face0"]
    assert project_files([inputs / "face1.png"], out, proj, **quiet).done == ["face1"]
    assert sorted(json.loads((out / "metrics.json").read_text())["images"]) == ["face0", "face1"]
    again = project_files([inputs / "face0.png", inputs / "face1.png"], out, proj, **quiet)
    assert sorted(again.cached) == ["face0", "face1"] and not again.done


def test_interrupt_keeps_finished_outputs(tiny_g, faces, tmp_path):
    inputs = _write_inputs(tmp_path / "in", faces)
    (inputs / "broken.png").unlink()
    out = tmp_path / "out"

    class InterruptedProjector(Projector):
        calls = 0

        def project(self, images, init=None):
            InterruptedProjector.calls += 1
            if InterruptedProjector.calls == 2:
                raise KeyboardInterrupt
            return super().project(images, init)

    proj = InterruptedProjector(tiny_g, settings=_settings(steps=2, batch_size=1))
    with pytest.raises(KeyboardInterrupt):
        project_files([inputs], out, proj, progress=False, log=lambda m: None)
    assert (out / "projected_latents" / "face0.npy").is_file()
    assert not (out / "projected_latents" / "face1.npy").exists()
    assert list(json.loads((out / "metrics.json").read_text())["images"]) == ["face0"]
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


def test_cli_exit_codes(tiny_g, faces, tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.models.checkpoints import save_model

    model = save_model(tiny_g, tmp_path / "tiny", model_id="tiny")
    inputs = _write_inputs(tmp_path / "in", faces)
    out = tmp_path / "out"
    args = ["project", str(inputs / "face0.png"), str(inputs / "face1.png"), "--out", str(out),
            "--model", str(model), "--quiet", "--steps", "2", "--set", "perceptual='none'"]
    assert main(args) == 0
    assert sorted(p.name for p in (out / "projected_latents").iterdir()) == ["face0.npy", "face1.npy"]
    assert main(args[:1] + [str(inputs / "broken.png")] + args[1:]) == 1
    assert "broken.png" in capsys.readouterr().err
    assert main(args + ["--set", "no_such_knob=1"]) == 2
    assert main(["project", str(tmp_path / "missing.png"), "--out", str(out), "--model", str(model)]) == 2
    with pytest.raises(SystemExit) as e:
        main(["project", str(inputs), "--out", str(out), "--preset", "slow"])
    assert e.value.code == 2
    assert main(args[:1] + [str(inputs / "face0.png"), "--out", str(out), "--model", str(model), "--quiet",
                            "--preset", "fast", "--encoder", "none"]) == 0


def test_align_raw_photo(tiny_g, tmp_path):
    wild = data_dir() / "wild" / "images"
    if not wild.is_dir():
        pytest.skip(f"data missing: {wild}")
    photo = sorted(wild.iterdir())[0]
    out = tmp_path / "out"
    proj = Projector(tiny_g, settings=_settings(steps=0))
    summary = project_files([photo], out, proj, align=True, progress=False, log=lambda m: None)
    assert summary.done == [photo.stem] and not summary.failures
    blank = tmp_path / "blank.png"
    save_image(blank, np.full((64, 64, 3), 128, np.uint8))
    summary = project_files([blank], out, proj, align=True, progress=False, log=lambda m: None)
    assert summary.failures and "face" in summary.failures[0]["error"].lower()


def test_default_model_recovers_generated_faces_and_beats_its_encoder(faces):
    """On the built-in model suite: generated faces come back at >= 30 dB, real ones gain >= 2 dB."""
    from faceedit.errors import FaceEditError
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.encoder import load_encoder

    try:
        G, E = load_generator(), load_encoder()
    except FaceEditError as e:
        pytest.skip(f"built-in model suite not installed: {e}")
    with torch.no_grad():
        z = torch.randn(2, G.style_dim, generator=torch.Generator().manual_seed(0))
        generated = list(to_image(G.synthesis(G.mapping(z))))
    real = [resize(im, G.resolution) for im in faces[0][:2]]
    settings = ProjectionSettings.from_preset("balanced", perceptual="none")
    tuned = Projector(G, E, settings).project(generated + real)
    fast = Projector(G, E, ProjectionSettings.from_preset("fast")).project(real)
    assert all(r.metrics["psnr"] >= 30 for r in tuned[:2]), [r.metrics["psnr"] for r in tuned]
    assert all(t.metrics["psnr"] >= f.metrics["psnr"] + 2 for t, f in zip(tuned[2:], fast))


def test_lpips_perceptual_and_metric(tiny_g, generated):
    from faceedit.models.lpips import LPIPS

    images, w = generated
    torch.manual_seed(0)
    lp = LPIPS("alex")
    for p in lp.parameters():  # small positive weights: a valid, untrained metric
        p.data.copy_(torch.rand(p.shape) * 0.1 if p.dim() > 1 else torch.zeros(p.shape))
    res = Projector(tiny_g, settings=_settings(steps=3, perceptual="lpips"), lpips=lp)
    assert res.perceptual_name == "lpips-alex"
    out = res.project(list(images), init=_perturbed(w, 0.1))
    assert all(r.metrics["lpips"] >= 0 for r in out)
    exact = Projector(tiny_g, settings=_settings(steps=0), lpips=lp).project(list(images), init=_perturbed(w, 0.0))
    assert all(r.metrics["lpips"] == pytest.approx(0.0, abs=1e-6) for r in exact)


def test_project_uses_the_paired_builtin_encoder_by_default():
    """``faceedit.project(G, face)`` starts from the built-in encoder for the built-in generator, not the mean."""
    from faceedit.models.checkpoints import load_generator
    from faceedit.projection.project import paired_encoder

    G = load_generator()
    assert paired_encoder(G) is not None
    face = np.full((64, 64, 3), 128, np.uint8)
    face[20:30, 16:48] = 40
    auto = project(G, face, preset="fast")[0]
    mean = project(G, face, preset="fast", encoder=None)[0]
    assert np.abs(auto.w - mean.w).max() > 0.1
    with pytest.raises(InvalidInput, match="auto"):
        project(G, face, preset="fast", encoder="yes")

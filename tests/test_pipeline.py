"""The batch pipeline end to end on a tiny seeded generator and translations built here."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.config import read_toml
from faceedit.errors import ModelMismatch
from faceedit.images import load_image, resize, save_image, to_image
from faceedit.models.stylegan2 import Generator
from faceedit.edit.translations import Translation, TranslationStore, required_targets
from pipeline.check import check_submission
from pipeline.report import COPY, EDITED, SKIPPED
from pipeline.run import load_settings, main, run_pipeline

NON_BALD = "1_1_0_0_1_0_2_1_0"
BALD = "0_2_1_1_0_0_4_0_2"
BROKEN = "2_0_0_0_0_1_1_0_1"
MISSING = "Ch_max"  # no translation for it: the rules want a reference copy


@pytest.fixture(scope="module")
def tiny() -> Generator:
    torch.manual_seed(0)
    return Generator(16, style_dim=16, n_mlp=2, channel_max=16, model_id="tiny-test").eval()


@pytest.fixture(scope="module")
def assets(tiny: Generator, tmp_path_factory) -> dict[str, Path]:
    """Reference images (two renders + a truncated file), latents and a translation folder."""
    root = tmp_path_factory.mktemp("assets")
    refs, latents, folder = root / "refs", root / "latents", root / "translations"
    refs.mkdir(), latents.mkdir()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        w = tiny.mapping(torch.randn(2, tiny.style_dim, generator=g))
        w_plus = w[:, None].repeat(1, tiny.n_latent, 1)
        images = to_image(tiny.synthesis(w_plus))
    for name, image, wp in zip((NON_BALD, BALD), images, w_plus):
        save_image(refs / f"{name}.png", resize(image, 512))
        np.save(latents / f"{name}.npy", wp.numpy())
    good = (refs / f"{NON_BALD}.png").read_bytes()
    (refs / f"{BROKEN}.png").write_bytes(good[: len(good) // 3])  # a truncated PNG
    store = TranslationStore(folder, tiny.model_id)
    rng = np.random.default_rng(0)
    names = sorted(set(required_targets(NON_BALD)) | set(required_targets(BALD))) + ["A_0_fr_1"]
    for name in names:
        if name != MISSING:
            delta = rng.normal(0, 0.5, (tiny.n_latent, tiny.style_dim)).astype(np.float32)
            store.save(Translation(name, delta, {"model_id": tiny.model_id}))
    return {"refs": refs, "latents": latents, "translations": folder}


def _settings(assets: dict[str, Path], out: Path, *extra: str) -> dict:
    return load_settings(None, [
        f"input.dir={assets['refs']}", f"output.dir={out}",
        f'translate.folders=["{assets["translations"]}"]',
        "project.preset=balanced", 'project.options=["steps=3", "perceptual=\\"none\\""]',
        'mixups.steps=["domain"]', "mixups.size=128", "run.workers=2", "edit.mode=replace", *extra,
    ])  # edit.mode "replace": these tests pin the render-pasting behaviour (transfer: test_pipeline_transfer.py)


def test_end_to_end_check_passes(tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    cfg = _settings(assets, out, "output.zip=true", "run.workers=1")
    report = run_pipeline(cfg, generator=tiny, progress=False)
    images = out / "output_images"
    assert check_submission(images, references=assets["refs"]) == []
    assert check_submission(out / "submission.zip", references=assets["refs"]) == []
    assert len(list(images.rglob("*.png"))) == 24 + 25 + 24

    counts = report.counts()
    assert counts[EDITED] == 24 + 25 - 2 and counts[COPY] == 2 + 24 and counts[SKIPPED] == 0
    # the conditional translation wins over the generic one (A=1 -> A_0 uses A_0_fr_1)
    assert report.references[NON_BALD].outputs["A_0"]["used"] == "A_0_fr_1"
    assert report.references[BALD].outputs["A_0"]["used"] == "A_0"
    # a missing translation -> a byte copy of the reference, with the reason
    assert (images / NON_BALD / f"{MISSING}.png").read_bytes() == (assets["refs"] / f"{NON_BALD}.png").read_bytes()
    entry = report.references[BALD].outputs[MISSING]
    assert entry["status"] == COPY and MISSING in entry["reason"]
    # a hair edit changes the hair area and keeps the original exactly elsewhere (domain mixup at 128,
    # the kept pixels taken from the 512 px reference)
    ref = load_image(assets["refs"] / f"{NON_BALD}.png")
    hair = load_image(images / NON_BALD / "Hc_0.png")
    diff = np.abs(hair.astype(int) - ref).sum(axis=2)
    assert diff[:60].mean() > 5  # top of the head: edited
    assert diff[300:390, 210:300].max() == 0  # mouth/chin: the reference, untouched
    # the edit without mixups differs inside the face too
    assert not np.array_equal(load_image(images / NON_BALD / "Sk_0.png"), ref)

    saved = json.loads((out / "report.json").read_text())
    assert saved["summary"]["edited"] == counts[EDITED]
    assert {f["reference"] for f in saved["failures"]} == {NON_BALD, BALD, BROKEN}
    html = (out / "report.html").read_text()
    assert all(n in html for n in (NON_BALD, BALD, BROKEN))
    sheet = load_image(out / "report" / f"{BALD}.jpg")
    assert sheet.shape == (3 * (128 + 14), 9 * 128, 3)  # reference + 25 outputs, 9 per row
    assert read_toml(out / "config.toml") == cfg
    # projection: latents of the readable references, cached for the next run
    assert sorted(p.stem for p in (out / "projection" / "projected_latents").glob("*.npy")) == sorted([NON_BALD, BALD])
    assert saved["summary"]["projection"] == {"computed": 2, "cached": 0, "failed": 0}


def test_broken_input_is_reported_and_copied(tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    report = run_pipeline(_settings(assets, out, "output.size=128", "run.workers=0"), generator=tiny, progress=False)
    rec = report.references[BROKEN]
    assert rec.error and "corrupt or truncated" in rec.error
    assert {e["status"] for e in rec.outputs.values()} == {COPY}
    assert sorted(rec.outputs) == sorted(required_targets(BROKEN))
    copy = load_image(out / "output_images" / BROKEN / "Sk_0.png")
    ref = resize(load_image(assets["refs"] / f"{NON_BALD}.png"), 128)
    # decoded as far as the truncated file goes: the top rows are the reference's
    assert copy.shape == (128, 128, 3) and np.abs(copy[:10].astype(int) - ref[:10]).max() <= 2
    assert check_submission(out / "output_images", references=assets["refs"], size=128) == []


def test_resume_after_interruption(tiny: Generator, assets: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    from PIL import Image

    out = tmp_path / "out"
    cfg = _settings(assets, out, "run.workers=0", "output.size=128")  # in-process, so the patch applies
    real_save = Image.Image.save
    calls = {"n": 0}

    def interrupted_save(self, fp, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 40:  # Ctrl-C in the middle of writing a file (24 copies and 2 projections are done)
            Path(fp).write_bytes(b"\x89PNG half")
            raise KeyboardInterrupt
        return real_save(self, fp, *args, **kwargs)

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        run_pipeline(cfg, generator=tiny, progress=False)
    monkeypatch.setattr(Image.Image, "save", real_save)

    images = out / "output_images"
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]  # no half-written file
    done = {p: p.stat().st_mtime_ns for p in images.rglob("*.png")}
    assert 0 < len(done) < 73
    problems = check_submission(images, references=assets["refs"], size=128)
    assert problems and {p.what for p in problems} <= {"missing", "missing folder (24 images expected)",
                                                       "missing folder (25 images expected)"}

    report = run_pipeline(cfg, generator=tiny, progress=False)
    assert report.counts()[SKIPPED] == len(done)
    assert report.counters["projection"]["cached"] >= 1  # projected before the interruption
    assert all(p.stat().st_mtime_ns == t for p, t in done.items())  # done outputs were not redone
    assert check_submission(images, references=assets["refs"], size=128) == []


def test_gan_face_editing_latents_and_folders_without_projecting(tiny: Generator, assets: dict[str, Path],
                                                                  tmp_path: Path, monkeypatch) -> None:
    """(1, n, d) latents in project.latents_dir, and translation folders in gan-face-editing's layout
    (unconditional then conditional in translate.folders, (1, n, d), no sidecars, bald as Hc_4)."""
    from pipeline.references import find_references
    from pipeline.steps import Engine

    latents, uncond, cond = tmp_path / "latents", tmp_path / "unconditional", tmp_path / "conditional"
    for folder in (latents, uncond, cond):
        folder.mkdir()
    for f in assets["latents"].glob("*.npy"):
        np.save(latents / f.name, np.load(f)[None])
    source = TranslationStore(assets["translations"], tiny.model_id)
    for name in source.names():
        target = cond if "_fr_" in name else uncond
        np.save(target / f"{'Hc_4' if name == 'bald' else name}.npy", source.get(name).delta[None])
    monkeypatch.setattr(Engine, "project", lambda *a, **k: pytest.fail("projected although latents were given"))
    out = tmp_path / "out"
    cfg = _settings(assets, out, "project.enabled=false", f"project.latents_dir={latents}", "run.workers=0",
                    f'translate.folders=["{uncond}", "{cond}"]', "output.size=64", "output.contact_sheets=false")
    with pytest.warns(UserWarning, match="without a JSON sidecar"):
        report = run_pipeline(cfg, generator=tiny, progress=False)
    outputs = report.references[NON_BALD].outputs
    assert len(outputs) == 24 and all(o["status"] == EDITED for t, o in outputs.items() if t != MISSING)
    assert outputs["bald"]["used"] == "bald" and outputs["A_0"]["used"] == "A_0_fr_1"
    engine = Engine(cfg, generator=tiny)
    latent = engine.load_latent(NON_BALD)
    np.testing.assert_array_equal(latent.w, np.load(assets["latents"] / f"{NON_BALD}.npy"))
    ref = next(r for r in find_references(assets["refs"]).references if r.name == NON_BALD)
    bald = engine.translations_for(ref)["bald"]
    assert bald.path == uncond / "Hc_4.npy"
    np.testing.assert_array_equal(engine.edit(latent, bald), latent.w + source.get("bald").delta)
    # a folder of another generator's translations (FFHQ 1024: (1, 18, 512)) stops the run before any work
    wrong = tmp_path / "ffhq"
    wrong.mkdir()
    np.save(wrong / "A_0.npy", np.zeros((1, 18, 512), np.float32))
    cfg["translate"]["folders"] = [str(wrong)]
    cfg["output"]["dir"] = str(tmp_path / "out2")
    with pytest.raises(ModelMismatch, match=r"ffhq/A_0.npy: a translation of shape \(1, 18, 512\) does not fit "
                       r"this model: it needs \(6, 16\), \(1, 6, 16\), \(16,\) or \(1, 16\)"):
        run_pipeline(cfg, generator=tiny, progress=False)


def test_generic_mode_and_cli_errors(tiny: Generator, assets: dict[str, Path], tmp_path: Path, capsys) -> None:
    out = tmp_path / "generic"
    cfg = _settings(assets, out, "input.mode=generic", 'translate.names=["Be_max", "A_2"]',
                    "output.contact_sheets=false", "output.size=64", "run.workers=0",
                    "project.enabled=false", f"project.latents_dir={assets['latents']}")
    report = run_pipeline(cfg, generator=tiny, progress=False)
    assert sorted(p.name for p in (out / "output_images" / BALD).iterdir()) == ["A_2.png", "Be_max.png"]
    assert report.references[BALD].outputs["A_2"]["status"] == EDITED
    assert run_pipeline(cfg, generator=tiny, progress=False).counts()[SKIPPED] == 6  # 3 faces x 2: resumed
    cfg["run"]["overwrite"] = True
    again = run_pipeline(cfg, generator=tiny, progress=False).counts()
    assert again[SKIPPED] == 0 and again[EDITED] == 4 and again[COPY] == 2

    assert main(["--out", str(tmp_path / "x"), "--input", str(tmp_path / "nope"), "--quiet"]) == 1
    assert "input folder not found" in capsys.readouterr().err
    assert main(["project.preset_typo=fast"]) == 1
    assert "unknown config key 'project.preset_typo'" in capsys.readouterr().err
    # settings that only a later step (or a worker) would reject fail before any work
    for bad, message in [("mixups.base=edited", "mixups.base"), ('mixups.steps=["blur"]', "unknown mixup step"),
                         ("project.preset=slow", "unknown projection preset"), ("output.size=-1", "output.size")]:
        assert main(["--out", str(tmp_path / "x"), "--quiet", bad]) == 1
        assert message in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_raw_photos_are_aligned_first(tiny: Generator, assets: dict[str, Path], tmp_path: Path) -> None:
    from faceedit.testing import data_dir

    wild = data_dir() / "wild" / "images" / "000176.jpg"
    if not wild.is_file():
        pytest.skip(f"shared data not found: {wild}")
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "person.jpg").write_bytes(wild.read_bytes())
    save_image(photos / "wall.png", np.full((200, 300, 3), 128, np.uint8))  # no face in it
    out = tmp_path / "out"
    cfg = _settings(assets, out, "input.mode=generic", 'translate.names=["Be_max"]', "align.enabled=true",
                    f"input.dir={photos}", "output.size=128", "run.workers=0", "output.contact_sheets=false")
    report = run_pipeline(cfg, generator=tiny, progress=False)
    aligned = load_image(out / "aligned" / "person.png")
    assert aligned.shape == (128, 128, 3)  # FFHQ-aligned at the output size, kept for resume/projection
    assert report.references["person"].outputs["Be_max"] == {"status": EDITED, "used": "Be_max"}
    assert "no face" in report.references["wall"].error
    assert report.references["wall"].outputs["Be_max"]["status"] == COPY
    assert load_image(out / "output_images" / "wall" / "Be_max.png").shape == (128, 128, 3)


def test_references_from_names_and_csv(tmp_path: Path) -> None:
    from pipeline.references import find_references

    for name in (NON_BALD, "face", "holiday", f"{BALD}"):
        save_image(tmp_path / f"{name}.png", np.zeros((8, 8, 3), np.uint8))
    save_image(tmp_path / f"{BALD}.jpg", np.zeros((8, 8, 3), np.uint8))  # same stem: outputs would collide
    found = find_references(tmp_path)
    assert [(r.name, len(r.targets)) for r in found.references] == [(BALD, 25), (NON_BALD, 24)]
    assert sorted(r.path.name for r in found.rejected) == [f"{BALD}.png", "face.png", "holiday.png"]
    assert "collide" in next(r.reason for r in found.rejected if r.path.suffix == ".png" and BALD in r.path.name)

    csv = tmp_path / "labels.csv"
    csv.write_text(f"image,labels\nface.png,{BALD}\nholiday.png,9_9\n")
    found = find_references(tmp_path, labels_csv=csv)
    assert [(r.name, r.labels["Hc"]) for r in found.references] == [("face", 4)]
    reasons = {r.path.name: r.reason for r in found.rejected}
    assert "labels" in reasons["holiday.png"] and reasons[f"{NON_BALD}.png"] == "no row in the labels CSV"

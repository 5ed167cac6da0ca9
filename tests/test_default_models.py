"""The shipped default model suite (faceedit/assets): it loads with no arguments, has the documented shapes,
and works on real faces (attribute predictor >= 80 % gender accuracy on 100 held-out labelled CelebA faces)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.models._files import ASSETS_DIR
from faceedit.testing import data_dir

pytestmark = pytest.mark.skipif(not (ASSETS_DIR / "generator.safetensors").is_file(),
                                reason="the default model suite is not installed in faceedit/assets")

MAX_SUITE_BYTES = 60 * 2**20


def _held_out(source: str, n: int, need: str) -> tuple[np.ndarray, list]:
    """``n`` aligned 64-px validation faces (held-out identities) of ``source`` with a ``need`` label."""
    from faceedit.train.data import align_record, collect_records

    records = [r for r in collect_records(data_dir(), (source,)) if r.val and not np.isnan(getattr(r, need))]
    rng = np.random.default_rng(0)
    picked = [records[i] for i in sorted(rng.choice(len(records), size=min(n, len(records)), replace=False))]
    crops, kept = [], []
    for r in picked:
        crop = align_record(r.path, r.source, 64)
        if crop is not None:
            crops.append(crop)
            kept.append(r)
    return np.stack(crops), kept


def test_suite_files_and_size():
    names = {p.name for p in ASSETS_DIR.iterdir()}
    for stem in ("generator", "discriminator", "encoder", "attributes"):
        assert {f"{stem}.safetensors", f"{stem}.json"} <= names
    assert "MODEL_CARD.md" in names
    total = sum(p.stat().st_size for p in ASSETS_DIR.rglob("*") if p.is_file())
    assert total <= MAX_SUITE_BYTES


def test_generator_and_discriminator_shapes():
    from faceedit.models.checkpoints import load_discriminator, load_generator

    G = load_generator()
    assert (G.resolution, G.n_latent) == (64, 10) and G.model_id.startswith("faceedit-")
    w = G.mapping(torch.randn(4, G.style_dim, generator=torch.Generator().manual_seed(0)))
    assert w.shape == (4, G.style_dim)
    img = G.synthesis(w[:, None].expand(-1, G.n_latent, -1))
    assert img.shape == (4, 3, 64, 64) and img.min() >= -1.5 and img.max() <= 1.5
    assert img.std(0).mean() > 0.05  # different latents give different faces
    assert G.mean_latent().shape == (1, G.style_dim)
    D = load_discriminator()
    assert D(img).shape == (4, 1) and len(D.features(img)) == 5


def test_encoder_beats_mean_face():
    from faceedit.images import to_image, to_tensor
    from faceedit.measure.metrics import psnr
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.encoder import load_encoder

    G, E = load_generator(), load_encoder()
    assert E.meta["generator_model_id"] == G.model_id
    faces, _ = _held_out("celeba", 24, "gender")
    with torch.no_grad():
        w = E(to_tensor(faces))
        assert w.shape == (len(faces), G.n_latent, G.style_dim)
        rec = to_image(G.synthesis(w))
        mean = to_image(G.synthesis(G.mean_latent()))[0]
    rec_psnr = np.mean([psnr(r, f) for r, f in zip(rec, faces)])
    mean_psnr = np.mean([psnr(mean, f) for f in faces])
    assert rec_psnr > mean_psnr + 2.0


def test_attribute_predictor_gender_accuracy():
    from faceedit.models.attributes import CELEBA_ATTRIBUTES, load_attribute_predictor

    model = load_attribute_predictor()
    faces, records = _held_out("celeba", 100, "gender")
    pred = model.predict(faces)
    assert set(CELEBA_ATTRIBUTES) <= set(pred) and pred["race"].shape == (len(faces), 5)
    truth = np.array([r.gender for r in records])
    accuracy = np.mean((pred["gender"] > 0.5) == (truth > 0.5))
    assert accuracy >= 0.80, accuracy
    assert np.mean((pred["Male"] > 0.5) == (truth < 0.5)) >= 0.80
    faces, records = _held_out("utkface", 60, "age")
    ages = np.array([r.age for r in records])
    assert np.abs(model.predict(faces)["age"] - ages).mean() < 14


def test_cli_attributes_prints_predictions(capsys):
    from faceedit.cli import main

    photo = sorted((data_dir() / "celeba" / "img_178x218").glob("*.jpg"))[0]
    assert main(["attributes", str(photo)]) == 0
    out = capsys.readouterr().out
    assert "age:" in out and "gender:" in out and str(photo) in out

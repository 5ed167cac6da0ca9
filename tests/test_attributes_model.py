"""Attribute predictors: anycost conformance, the compact multi-task model, predict(), save/load."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.errors import CheckpointError
from faceedit.models.attributes import (
    CELEBA_ATTRIBUTES,
    UTKFACE_RACES,
    AnycostAttributePredictor,
    AttributePredictor,
    load_attribute_predictor,
    save_attribute_predictor,
)
from faceedit.testing import conformance_dir, read_key_file, seeded_state_dict

KEYS = conformance_dir() / "anycost_attribute_predictor_keys.txt"
IO = conformance_dir() / "anycost_attribute_predictor_seeded_io.pt"


def test_celeba_names_follow_the_data_csv():
    import csv

    from faceedit.testing import data_dir

    csv_path = data_dir() / "celeba" / "img_89x109.csv"
    assert len(CELEBA_ATTRIBUTES) == 40 and len(set(CELEBA_ATTRIBUTES)) == 40
    assert CELEBA_ATTRIBUTES[20] == "Male" and CELEBA_ATTRIBUTES[31] == "Smiling"
    if not csv_path.is_file():
        pytest.skip(f"data missing: {csv_path}")
    header = next(csv.reader(open(csv_path)))
    assert [h for h in header if h in CELEBA_ATTRIBUTES] == CELEBA_ATTRIBUTES


def test_anycost_conformance(tmp_path):
    if not KEYS.is_file():
        pytest.skip(f"conformance fixture missing: {KEYS}")
    path = tmp_path / "attr.pt"
    torch.save({"state_dict": seeded_state_dict(KEYS)}, path)
    model = load_attribute_predictor(path)
    assert isinstance(model, AnycostAttributePredictor)
    io = torch.load(IO, map_location="cpu")
    with torch.no_grad():
        torch.testing.assert_close(model(io["input"]), io["logits"], rtol=1e-4, atol=1e-4)
        probs = model.probabilities(io["input"][:1])
    expected = io["logits"][:1].view(1, 40, 2).softmax(-1)[..., 1]
    torch.testing.assert_close(probs["Smiling"], expected[:, 31], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(probs["Male"], expected[:, 20], rtol=1e-4, atol=1e-4)
    with torch.device("meta"):
        got = {k: tuple(v.shape) for k, v in AnycostAttributePredictor().state_dict().items()}
    assert got == dict(read_key_file(KEYS))


def test_compact_predictor_outputs_and_predict(tmp_path):
    torch.manual_seed(0)
    model = AttributePredictor(input_size=32, width=8, blocks=(1, 1, 1)).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 48, 48, 3), dtype=np.uint8)
    out = model.predict(images, batch_size=2)
    assert set(out) == set(CELEBA_ATTRIBUTES) | {"age", "gender", "race"}
    assert out["Male"].shape == (5,) and out["race"].shape == (5, len(UTKFACE_RACES))
    assert np.allclose(out["race"].sum(1), 1, atol=1e-5)
    assert ((out["gender"] > 0) & (out["gender"] < 1)).all()
    # predict equals forward on the same tensor (batching does not change results)
    from faceedit.images import to_tensor

    with torch.no_grad():
        raw = model(to_tensor(images, size=32))
    assert np.allclose(out["age"], raw["age"].numpy(), atol=1e-4)
    assert np.allclose(out["Smiling"], torch.sigmoid(raw["attributes"][:, 31]).numpy(), atol=1e-5)
    single = model.predict(images[0])
    assert np.allclose(single["age"], out["age"][:1], atol=1e-4)

    path = save_attribute_predictor(model, tmp_path / "attributes", meta={"val": {"gender_acc": 0.5}})
    back = load_attribute_predictor(path)
    assert back.meta["val"]["gender_acc"] == 0.5
    assert np.allclose(back.predict(images)["age"], out["age"], atol=1e-5)


def test_bad_files(tmp_path):
    p = tmp_path / "wrong.pt"
    torch.save({"state_dict": {"fc.weight": torch.zeros(10, 2048)}}, p)
    with pytest.raises(CheckpointError, match=r"wrong.pt.*\(80, 2048\)"):
        load_attribute_predictor(p)
    from faceedit.models.encoder import Encoder, save_encoder

    enc = save_encoder(Encoder(4, 8, input_size=16, width=4, blocks=(1, 1)), tmp_path / "enc")
    with pytest.raises(CheckpointError, match="not a .attribute_predictor. model file"):
        load_attribute_predictor(enc)

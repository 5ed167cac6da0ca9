"""faceedit train rebuild-suite: every stage rebuilt for a (tiny) generator, resumable, no stale parts."""
import json

import numpy as np
import torch


def _tiny_suite(tmp_path):
    from faceedit.models.attributes import AttributePredictor, save_attribute_predictor
    from faceedit.models.checkpoints import save_model
    from faceedit.models.encoder import Encoder, save_encoder
    from faceedit.models.stylegan2 import Generator
    from faceedit.models.validator import AttributeValidator, save_validator
    from faceedit.testing import synthetic_label_cache

    synthetic_label_cache(tmp_path / "cache.npz", n=240, size=16)
    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16, model_id="tiny-new").eval()
    save_model(G, tmp_path / "gen.safetensors")
    save_encoder(Encoder(n_latent=G.n_latent, style_dim=16, input_size=16, width=8, blocks=(1, 1),
                         head_channels=8).eval(), tmp_path / "enc.safetensors", {"generator_model_id": "tiny-new"})
    save_attribute_predictor(AttributePredictor(input_size=16, width=4, blocks=(1, 1)).eval(), tmp_path / "p.safetensors")
    torch.manual_seed(5)
    V = AttributeValidator(input_size=32, stem=8, stages=((1, 8, 1, 1), (2, 16, 1, 2)), features=16, dropout=0.0)
    save_validator(V.eval(), tmp_path / "v.safetensors", {"judged": ["age", "Blond_Hair", "Black_Hair"]})
    return G


def test_rebuild_suite_builds_every_stage_and_resumes(tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.edit.translations import TranslationStore

    G = _tiny_suite(tmp_path)
    out = tmp_path / "suite"
    args = ["train", "rebuild-suite", "--generator", str(tmp_path / "gen.safetensors"), "--out", str(out),
            "--cache", str(tmp_path / "cache.npz"), "--encoder", str(tmp_path / "enc.safetensors"),
            "--predictor", str(tmp_path / "p.safetensors"), "--validator", str(tmp_path / "v.safetensors"),
            "--threads", "1", "--max-faces", "8", "--embedding-pairs", "6", "--embedding-minutes", "0.05",
            "--student-minutes", "0.05",
            "min_group=5", "calibration_faces=8",
            "calibration_multipliers=[1.0, 2.0]", "condition_min_cos=[0.9]"]
    assert main(args) == 0
    summary = json.loads((out / "suite.json").read_text())
    assert summary["model_id"] == "tiny-new"
    store = TranslationStore(out / "translations" / "tiny-new", "tiny-new")
    assert len(store) == summary["n_translations"] > 40
    # the training faces were encoded once, by the given encoder
    lat = np.load(out / "train_latents.npy")
    assert lat.shape == (210, G.n_latent, 16)
    # every translation a held-out face could select got the validator's verdict, in its sidecar too
    acc = json.loads((out / "acceptance.json").read_text())
    verdicts = acc["verdicts"]
    assert verdicts and set(verdicts) <= set(store.names())
    for name, v in verdicts.items():
        assert store.get(name).meta["validation"]["verdict"] == v["verdict"]
    assert any(v["verdict"].startswith("not judged (gender)") for k, v in verdicts.items() if k.startswith("Se_"))
    age = [v for k, v in verdicts.items() if k.startswith("A_")]
    assert age and all(v["verdict"] == "accepted" or v["verdict"].startswith("rejected") for v in age)
    assert sorted(summary["accepted"] + list(summary["rejected"]) + summary["not_judged"]) == sorted(verdicts)
    # the strengths were calibrated (on the fitting predictor) before the validator read anything
    assert sum("calibration" in store.get(n).meta for n in store.names()) > 20
    from faceedit.images import image_grid, load_image
    from faceedit.measure.realism import generator_samples

    np.testing.assert_array_equal(load_image(out / "samples.png"), image_grid(generator_samples(G, 32, seed=0), ncol=8))
    # the embedding mapper of the new generator, with its sidecar
    from faceedit.models.embedding_mapper import load_embedding_mapper

    mapper = load_embedding_mapper(out / "embedding_mapper.safetensors")
    assert (mapper.n_latent, mapper.style_dim) == (G.n_latent, 16)
    assert mapper.meta["generator_model_id"] == "tiny-new" and mapper.meta["pairs"] == {"real": 6, "samples": 6}
    # ... and the descriptor student made for it (``--refine student``), which ships alongside
    from faceedit.models.descriptor_student import load_descriptor_student

    student = load_descriptor_student(out / "descriptor_student.safetensors")
    assert student.input_size == G.resolution and student.meta["n_faces"] == 18
    assert mapper.meta["loss"] == "latent MSE"  # the cycle loss through it was measured and not adopted
    # a re-run keeps every finished stage (nothing rebuilt, files untouched)
    stamp = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    capsys.readouterr()
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed.count("already built, kept") == 6
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")} == stamp


def test_rebuild_suite_refuses_an_encoder_for_another_shape(tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.models.encoder import Encoder, save_encoder

    _tiny_suite(tmp_path)
    save_encoder(Encoder(n_latent=3, style_dim=16, input_size=16, width=8, blocks=(1, 1), head_channels=8).eval(),
                 tmp_path / "bad.safetensors")
    rc = main(["train", "rebuild-suite", "--generator", str(tmp_path / "gen.safetensors"), "--out",
               str(tmp_path / "s"), "--cache", str(tmp_path / "cache.npz"), "--encoder", str(tmp_path / "bad.safetensors")])
    assert rc == 1
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "(3, 16) codes" in err and "needs (6, 16)" in err
    assert not (tmp_path / "s" / "encoder.safetensors").exists()  # nothing kept that a re-run would trust

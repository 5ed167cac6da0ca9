"""Fitting a generator's mapping network to the codes of real faces (``faceedit train fit-mapping``)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from faceedit.models.stylegan2 import Generator
from faceedit.train.mapping import fit_mapping, mapping_report, sliced_wasserstein

TINY_G = {"resolution": 16, "style_dim": 32, "n_mlp": 2, "channel_multiplier": 0.0078125, "channel_max": 16}


def _codes(n: int = 2000, seed: int = 0) -> np.ndarray:
    """An anisotropic, shifted, partly skewed cloud of 32-d codes (not what a fresh mapping makes)."""
    rng = np.random.default_rng(seed)
    rotation = np.linalg.qr(rng.normal(size=(32, 32)))[0]
    x = rng.normal(size=(n, 32)) * np.linspace(0.1, 1.5, 32)
    x[:, 0] = rng.exponential(1.0, n)  # one skewed coordinate
    return (x @ rotation + 0.7).astype(np.float32)


def test_sliced_wasserstein_is_zero_on_equal_sets_and_grows_with_a_shift():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(256, 8, generator=g)
    proj = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=0)
    perm = a[torch.randperm(256, generator=g)]
    assert sliced_wasserstein(a, perm, proj).item() < 1e-10  # order does not matter
    d1, d2 = (sliced_wasserstein(a, a + s, proj).item() for s in (0.5, 1.0))
    assert 0 < d1 < d2
    with pytest.raises(ValueError):
        sliced_wasserstein(a, a[:10], proj)


def test_fit_mapping_matches_the_codes_and_leaves_synthesis_alone():
    torch.manual_seed(0)
    G = Generator(**TINY_G).eval()
    synthesis = {k: v.clone() for k, v in G.state_dict().items() if not k.startswith("style.")}
    codes = _codes()
    before = mapping_report(G, codes)
    after = fit_mapping(G, codes, 300, seed=0, match_steps=1200, progress=False)
    assert before["variance_ratio"] > 3 or before["mean_distance"] > 0.5  # a fresh mapping is far off
    assert after["mean_distance"] < 0.1
    assert 0.85 < after["variance_ratio"] < 1.15
    assert after["covariance_error"] < 0.35 < before["covariance_error"]
    for k, v in G.state_dict().items():
        if not k.startswith("style."):
            torch.testing.assert_close(v, synthesis[k], rtol=0, atol=0)
    # the sliced-Wasserstein phase is what gets the spread right: the regression alone under-disperses
    torch.manual_seed(0)
    G2 = Generator(**TINY_G).eval()
    regression_only = fit_mapping(G2, codes, 300, seed=0, match_steps=0, progress=False)
    assert regression_only["variance_ratio"] < after["variance_ratio"] - 0.1
    assert regression_only["covariance_error"] > after["covariance_error"]


def test_fit_mapping_refuses_codes_of_another_size():
    G = Generator(**TINY_G)
    with pytest.raises(ValueError, match="codes must be"):
        fit_mapping(G, np.zeros((100, 16), np.float32), 1, progress=False)
    with pytest.raises(ValueError, match="too few"):
        fit_mapping(G, np.zeros((3, 32), np.float32), 1, progress=False)


def test_built_in_generator_samples_spread_like_real_faces():
    """The shipped mapping was refit to the encoded training faces: samples vary about as much as those faces
    rendered (pixel diversity ~80) instead of the first fit's average-looking faces (62)."""
    import faceedit
    from faceedit.edit.directions import sample_w
    from faceedit.models.checkpoints import GENERATOR, _locate, read_checkpoint
    from faceedit.measure.realism import diversity
    from faceedit.synthesis import synthesize

    G = faceedit.load_generator()
    fit = read_checkpoint(_locate(None, "generator"), GENERATOR).meta["mapping_fit"]["after"]
    assert 0.9 < fit["variance_ratio"] < 1.1 and fit["mean_distance"] < 0.05
    assert diversity(synthesize(G, sample_w(G, 200, 0))) > 74


def test_cli_fit_mapping_writes_a_refit_generator_and_refuses_bad_latents(tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.models.checkpoints import load_generator, save_model
    from faceedit.testing import synthetic_label_cache
    from faceedit.train.data import load_cache

    cache = tmp_path / "tiny.npz"
    data = synthetic_label_cache(cache, n=200, size=16)
    n_train = int((~load_cache(cache).val).sum())
    torch.manual_seed(0)
    save_model(Generator(**TINY_G).eval(), tmp_path / "g.safetensors", model_id="tiny-g", meta={"note": "kept"})
    codes = _codes(n_train)
    np.save(tmp_path / "lat.npy", np.repeat(codes[:, None], 4, axis=1))  # W+ rows, averaged back to w
    out = tmp_path / "g2.safetensors"
    args = ["train", "fit-mapping", "--generator", str(tmp_path / "g.safetensors"), "--cache", str(cache),
            "--latents", str(tmp_path / "lat.npy"), "--out", str(out), "--steps", "600", "--regression-steps", "200"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "before: mean distance" in printed and "after:" in printed
    G0, G1 = load_generator(tmp_path / "g.safetensors"), load_generator(out)
    assert G1.model_id == "tiny-g"
    s0, s1 = G0.state_dict(), G1.state_dict()
    assert all(torch.equal(s0[k], s1[k]) for k in s0 if not k.startswith("style."))  # synthesis untouched
    assert not torch.equal(s0["style.1.weight"], s1["style.1.weight"])
    assert mapping_report(G1, codes)["variance_ratio"] > 0.7
    # a latents file that does not hold one code per training crop: one error line, nothing written
    np.save(tmp_path / "short.npy", codes[:10])
    bad = tmp_path / "bad.safetensors"
    assert main(args[:6] + ["--latents", str(tmp_path / "short.npy"), "--out", str(bad)]) != 0
    assert "error:" in capsys.readouterr().err and not bad.exists() and not bad.with_suffix(".json").exists()
    assert data.images.shape[0] == 200


def test_cli_fit_mapping_refuses_a_generator_without_its_encoder(tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.models.checkpoints import save_model
    from faceedit.testing import synthetic_label_cache

    cache = tmp_path / "tiny.npz"
    synthetic_label_cache(cache, n=64, size=16)
    save_model(Generator(**TINY_G).eval(), tmp_path / "g.safetensors", model_id="tiny-g")
    out = tmp_path / "g2.safetensors"
    # no --latents and no encoder made for "tiny-g" (the built-in one belongs to another model)
    assert main(["train", "fit-mapping", "--generator", str(tmp_path / "g.safetensors"), "--cache", str(cache),
                 "--out", str(out)]) != 0
    assert "no encoder made for this generator" in capsys.readouterr().err and not out.exists()

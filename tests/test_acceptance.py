"""faceedit.measure.acceptance: the validator's bar on edited held-out faces (issue 19, target 3)."""
import numpy as np
import pytest
import torch


def _row(target, cur, change, pred, idx):
    change = np.asarray(change, float)
    sign = 1.0
    if cur is not None and target[0] in "AS" and not target.startswith("Sk"):
        sign = 1.0 if int(target.split("_")[1]) > cur else -1.0
    return {"target": target, "cur": cur, "n": len(change), "ok": int(np.sum(sign * change > 0)),
            "change": [change], "pred": [pred], "idx": [np.asarray(idx)]}


def test_the_bar_on_age_sex_and_other_codes():
    from faceedit.measure.acceptance import verdicts

    n = 10
    pred = {"age": np.full(n, 40.0), "gender": np.linspace(0, 1, n), "Blond_Hair": np.zeros(n),
            "Double_Chin": np.zeros(n)}
    base = {"gender": np.zeros(n)}  # every face read as male before the edit
    after = dict(pred, gender=np.r_[np.ones(8), np.zeros(2)])  # 8 of 10 read female after
    rows = {
        "A_2_fr_0": _row("A_2", 0, np.full(n, 12.0), pred, range(n)),  # +12 years: accepted
        "A_2_fr_1": _row("A_2", 1, np.full(n, 5.0), pred, range(n)),  # +5 years: rejected
        "A_0_fr_2": _row("A_0", 2, np.full(n, -11.0), pred, range(n)),  # -11 years towards young: accepted
        "Se_1_fr_0": _row("Se_1", 0, np.ones(n), after, range(n)),  # 80 % flipped: accepted
        "Hc_1": _row("Hc_1", 0, np.r_[np.ones(7), -np.ones(3)], pred, range(n)),  # 70 %: rejected
        "D_1_fr_0": _row("D_1", 0, np.ones(n), pred, range(n)),  # reads Double_Chin, not judged below
    }
    found = verdicts(rows, base, ["age", "gender", "Blond_Hair"], judge="v")
    assert found["A_2_fr_0"].accepted and found["A_0_fr_2"].accepted
    assert found["A_2_fr_1"].verdict == "rejected (+5.0 years the intended way)"
    assert found["Se_1_fr_0"].accepted and found["Se_1_fr_0"].success_judge == pytest.approx(0.8)
    assert not found["Hc_1"].accepted and found["Hc_1"].judged and found["Hc_1"].success_judge == pytest.approx(0.7)
    assert found["D_1_fr_0"].verdict == "not judged (Double_Chin)" and not found["D_1_fr_0"].judged
    assert found["A_2_fr_0"].mean_change_judge == pytest.approx(12.0)


def test_accept_translations_reads_the_judge_on_the_selected_translation(tmp_path):
    from faceedit.measure.acceptance import accept_translations, record_verdicts
    from faceedit.edit.directions import sample_w, synthesize
    from faceedit.measure.edits import flatten_predictions
    from faceedit.models.attributes import AttributePredictor
    from faceedit.models.stylegan2 import Generator
    from faceedit.edit.translations import VALUE_CODES, Translation, TranslationStore

    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16, model_id="tiny").eval()
    judge = AttributePredictor(input_size=16, width=4, blocks=(1, 1)).eval()
    torch.manual_seed(1)
    fitting = AttributePredictor(input_size=16, width=4, blocks=(1, 1)).eval()
    n = 12
    W = np.repeat(sample_w(G, n, seed=3)[:, None], G.n_latent, axis=1)
    groups = {code: np.full(n, np.nan) for code in (*VALUE_CODES, "Be", "N", "Pn", "Bp", "Bn", "Ch")}
    groups["A"] = np.r_[np.zeros(6), np.ones(6)]  # young, middle-aged
    store = TranslationStore(tmp_path, "tiny")
    delta = np.random.default_rng(0).normal(size=(G.n_latent, G.style_dim)).astype(np.float32)
    store.save(Translation("A_2", delta, {"model_id": "tiny"}))
    store.save(Translation("A_2_fr_0", -delta, {"model_id": "tiny"}))  # the specific one wins for young faces
    found = accept_translations(G, None, judge, None, groups, store, fitting=fitting, latents=W)
    # only A_2 targets have faces with a known age; no cursor translation exists
    assert set(found) == {"A_2", "A_2_fr_0"} and found["A_2_fr_0"].faces == 6 and found["A_2"].faces == 6
    base = flatten_predictions(judge.predict(synthesize(G, W)))
    after = flatten_predictions(judge.predict(synthesize(G, W[:6] - delta)))
    years = float((after["age"] - base["age"][:6]).mean())
    assert found["A_2_fr_0"].mean_change_judge == pytest.approx(years, rel=1e-4, abs=1e-4)
    assert found["A_2_fr_0"].verdict == ("accepted" if years >= 10 else f"rejected ({years:+.1f} years the intended way)")
    fit_after = flatten_predictions(fitting.predict(synthesize(G, W[:6] - delta)))
    fit_base = flatten_predictions(fitting.predict(synthesize(G, W[:6])))
    assert found["A_2_fr_0"].success_fitting == pytest.approx(float(np.mean(fit_after["age"] > fit_base["age"])))
    assert record_verdicts(store, found) == ["A_2", "A_2_fr_0"]
    assert store.get("A_2_fr_0").meta["validation"]["verdict"] == found["A_2_fr_0"].verdict
    np.testing.assert_array_equal(store.get("A_2_fr_0").delta, -delta)


def test_sex_edits_are_judged_on_adults_only():
    from faceedit.measure.acceptance import acceptance_groups
    from faceedit.train.data import CELEBA_ATTRIBUTES

    n = 5
    labels = {name: np.full(n, np.nan) for name in CELEBA_ATTRIBUTES}
    labels.update(age=np.array([np.nan, 8.0, 14.9, 15.0, 60.0]), female=np.array([1.0, 0, 1, 0, 1]),
                  race=np.full(n, np.nan))
    g = acceptance_groups(labels)
    # CelebA (no age label) and UTKFace faces from 15 years keep their sex; children are left out
    np.testing.assert_array_equal(np.isnan(g["Se"]), [False, True, True, False, False])
    assert g["Se"][0] == 1 and g["Se"][3] == 0
    assert g["A"][4] == 2  # age edits are not restricted (a 60-year-old is old)

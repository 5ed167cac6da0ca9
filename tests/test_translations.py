"""Naming convention, selection (24/25 targets), store round trips, apply modes, recipes, errors."""
import itertools
import json

import numpy as np
import pytest

from faceedit.errors import DataError, InvalidInput, InvalidTranslationName, ModelMismatch
from faceedit.edit.translations import (
    BALD,
    CURSOR_CODES,
    Recipe,
    RecipeStep,
    Translation,
    TranslationStore,
    apply,
    candidate_names,
    layer_mask,
    level_of,
    parse_name,
    parse_reference_labels,
    required_targets,
    select,
)
from faceedit.types import Latent

N_LATENT, DIM = 6, 8
CURSORS = {f"{c}_{e}" for c in CURSOR_CODES for e in ("min", "max")}


def _t(name, seed=0, model_id="m1", **meta):
    rng = np.random.default_rng(seed)
    return Translation(name, rng.normal(size=(N_LATENT, DIM)).astype(np.float32), {"model_id": model_id, **meta})


# ------------------------------------------------------------------ names


@pytest.mark.parametrize(
    "name,kind,code,value,old",
    [
        ("Be_min", "cursor", "Be", "min", None),
        ("Ch_max", "cursor", "Ch", "max", None),
        ("Hc_0", "value", "Hc", 0, None),
        ("Sk_2", "value", "Sk", 2, None),
        ("A_0_fr_1", "from", "A", 0, 1),
        ("Hc_1_fr_4", "from", "Hc", 1, 4),
        ("Hs_0_fr_2", "from", "Hs", 0, 2),
        ("bald", "bald", None, None, None),
    ],
)
def test_parse_valid_names(name, kind, code, value, old):
    p = parse_name(name)
    assert (p.kind, p.code, p.value, p.from_value) == (kind, code, value, old)


def test_from_name_target_is_generic():
    assert parse_name("A_0_fr_1").target == "A_0"
    assert parse_name("Be_min").target == "Be_min"


@pytest.mark.parametrize(
    "name,words",
    [
        ("Hc_4", "bald"),  # bald has its own name
        ("Hs_2", "bald"),
        ("A_3", "one of [0, 1, 2]"),
        ("Se_2", "one of [0, 1]"),
        ("Xy_1", "unknown code"),
        ("Be_1", "cursor"),
        ("Be_min_fr_1", "cursor"),
        ("A_1_fr_1", "must change"),
        ("Se_1_fr_5", "'from' value"),
        ("A_x", "not a number"),
        ("A", "takes"),
        ("", "empty"),
        ("smile", "unknown code"),
    ],
)
def test_parse_invalid_names_name_the_rule(name, words):
    with pytest.raises(InvalidTranslationName, match=words.replace("[", r"\[").replace("]", r"\]")):
        parse_name(name)


def test_free_names_only_when_allowed():
    assert parse_name("smile", allow_free=True).kind == "free"
    with pytest.raises(InvalidTranslationName):
        parse_name("A_9", allow_free=True)  # a known code must still follow the rules


def test_reference_labels():
    labels = parse_reference_labels("/x/y/1_1_0_0_1_0_4_1_2.png")
    assert labels == {"Sk": 1, "A": 1, "Se": 0, "C": 0, "P": 1, "B": 0, "Hc": 4, "D": 1, "Hs": 2}
    for bad, words in [
        ("1_1_0_0_1_0_4_1", "9 values"),
        ("1_1_0_0_1_0_4_1_2_0", "9 values"),
        ("3_1_0_0_1_0_0_1_0", "Sk must be one of"),
        ("1_1_0_0_1_0_4_1_0", "bald"),  # Hc 4 without Hs 2
        ("1_1_0_0_1_0_1_1_2", "bald"),  # Hs 2 without Hc 4
        ("1_a_0_0_1_0_1_1_0", "not a number"),
    ]:
        with pytest.raises(InvalidTranslationName, match=words):
            parse_reference_labels(bad)


# ------------------------------------------------------------------ required targets


def _expected(labels):
    out = set()
    for code, values in [("Sk", 3), ("A", 3), ("Se", 2), ("B", 2), ("D", 2)]:
        out |= {f"{code}_{v}" for v in range(values) if v != labels[code]}
    out |= CURSORS
    if labels["Hc"] == 4:
        out |= {"Hc_0", "Hc_1", "Hc_2", "Hc_3", "Hs_0", "Hs_1"}
    else:
        out |= {f"Hc_{v}" for v in range(4) if v != labels["Hc"]}
        out |= {f"Hs_{v}" for v in range(2) if v != labels["Hs"]}
        out.add("bald")
    return out


def test_required_targets_every_label_combination():
    n = 0
    for sk, a, se, c, p, b, hc, d in itertools.product(range(3), range(3), range(2), range(2), range(2),
                                                        range(2), range(5), range(2)):
        for hs in ([2] if hc == 4 else [0, 1]):
            name = f"{sk}_{a}_{se}_{c}_{p}_{b}_{hc}_{d}_{hs}"
            targets = required_targets(name)
            assert len(targets) == len(set(targets))
            assert set(targets) == _expected(parse_reference_labels(name)), name
            assert len(targets) == (25 if hc == 4 else 24)
            n += 1
    assert n == 3 * 3 * 2 * 2 * 2 * 2 * 2 * (4 * 2 + 1)


def test_official_set_size():
    # the 72 reference names of the challenge contain 3 bald faces: 69 * 24 + 3 * 25 = 1731
    assert 69 * 24 + 3 * 25 == 1731
    assert len(required_targets("2_1_0_1_0_0_4_1_2")) == 25
    assert len(required_targets("0_0_0_0_0_1_1_0_0")) == 24


def test_candidate_names_specific_first():
    labels = parse_reference_labels("0_1_0_0_0_0_4_0_2")
    assert candidate_names("A_2", labels) == ["A_2_fr_1", "A_2"]
    assert candidate_names("Hc_0", labels) == ["Hc_0_fr_4", "Hc_0"]
    assert candidate_names("Hs_1", labels) == ["Hs_1_fr_2", "Hs_1"]
    assert candidate_names("Be_max", labels) == ["Be_max"]
    assert candidate_names("bald", labels) == ["bald"]


# ------------------------------------------------------------------ store and selection


def test_translation_round_trip(tmp_path):
    t = _t("A_2", seed=3, method="svm", attribute="age", default_strength=1.5, layers=[0, 1, 2])
    t.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["A_2.json", "A_2.npy"]
    raw = np.load(tmp_path / "A_2.npy")
    assert raw.dtype == np.float32 and raw.shape == (N_LATENT, DIM)
    side = json.loads((tmp_path / "A_2.json").read_text())
    assert side["model_id"] == "m1" and side["method"] == "svm" and side["shape"] == [N_LATENT, DIM]
    back = Translation.load(tmp_path / "A_2.json")
    np.testing.assert_array_equal(back.delta, t.delta)
    assert back.default_strength == 1.5 and back.meta["layers"] == [0, 1, 2]


def test_store_errors(tmp_path):
    store = TranslationStore(tmp_path, "m1")
    with pytest.raises(DataError, match="no translation"):
        store.get("A_0")
    (tmp_path / "A_0.npy").write_bytes(b"not numpy")
    with pytest.raises(DataError, match="not a readable"):
        store.get("A_0")
    np.save(tmp_path / "A_1.npy", np.zeros((2, 3, DIM), np.float32))  # neither layout
    with pytest.raises(DataError, match=r"A_1.npy: a translation must be \(n_latent, style_dim\), \(1, n_latent"):
        store.get("A_1")
    with pytest.raises(ModelMismatch):
        store.save(_t("A_2", model_id="other"))
    problems = store.check()
    assert any("A_0" in p for p in problems) and any("A_1" in p for p in problems)


def test_invalid_name_on_creation():
    with pytest.raises(InvalidTranslationName):
        Translation("Hc_4", np.zeros((N_LATENT, DIM)))
    with pytest.raises(InvalidInput, match="n_latent"):
        Translation("A_0", np.zeros((2, N_LATENT, DIM)))
    with pytest.raises(InvalidInput, match="NaN"):
        Translation("A_0", np.full((N_LATENT, DIM), np.nan))


def test_select_priority(tmp_path):
    defaults = TranslationStore(tmp_path / "defaults", "m1")
    user = TranslationStore(tmp_path / "user", "m1")
    names = ["Sk_0", "Sk_1", "Sk_2", "A_0", "A_1", "A_2", "Se_0", "Se_1", "B_0", "B_1", "D_0", "D_1",
             "Hc_0", "Hc_1", "Hc_2", "Hc_3", "Hs_0", "Hs_1", BALD, *sorted(CURSORS)]
    for i, n in enumerate(names):
        defaults.save(_t(n, seed=i))
    defaults.save(_t("A_2_fr_1", seed=100))      # conditional default
    defaults.save(_t("Hc_0_fr_4", seed=101))     # from bald
    user.save(_t("Sk_2", seed=200))              # user generic overrides the default
    user.save(_t("A_0_fr_1", seed=201))          # user conditional
    # non-bald face: A=1, Sk=0, Hc=1, Hs=0
    sel = select("0_1_0_0_0_0_1_0_0", [defaults, user], "m1", strict=True)
    assert len(sel) == 24 and set(sel) == _expected(parse_reference_labels("0_1_0_0_0_0_1_0_0"))
    assert sel["A_2"].name == "A_2_fr_1"
    assert sel["A_0"].name == "A_0_fr_1"
    np.testing.assert_array_equal(sel["A_0"].delta, _t("x", seed=201).delta)
    np.testing.assert_array_equal(sel["Sk_2"].delta, _t("x", seed=200).delta)  # user wins
    assert sel["Hc_0"].name == "Hc_0" and sel[BALD].name == BALD
    # bald face
    sel = select("0_0_0_0_0_0_4_0_2", [defaults, user], "m1", strict=True)
    assert len(sel) == 25 and BALD not in sel
    assert sel["Hc_0"].name == "Hc_0_fr_4" and sel["Hc_1"].name == "Hc_1"
    assert sel["A_2"].name == "A_2"  # A=0 here: the A_2_fr_1 does not apply
    # missing ones
    (defaults.folder / "Be_min.npy").unlink()
    assert select("0_0_0_0_0_0_4_0_2", [defaults, user], "m1")["Be_min"] is None
    with pytest.raises(DataError, match="Be_min"):
        select("0_0_0_0_0_0_4_0_2", [defaults, user], "m1", strict=True)


# ------------------------------------------------------------------ apply


def test_apply_shift_weighted_and_layers():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(N_LATENT, DIM)).astype(np.float32)
    a, b = _t("A_0", seed=1), _t("Se_1", seed=2, default_strength=2.0)
    lat = Latent(w, "m1")
    out = apply(lat, a, strength=0.5)
    assert isinstance(out, Latent) and out.model_id == "m1"
    np.testing.assert_allclose(out.w, w + 0.5 * a.delta, rtol=1e-6)
    np.testing.assert_allclose(apply(w, b), w + 2.0 * b.delta, rtol=1e-6)  # default strength
    np.testing.assert_allclose(apply(w, [(a, 1.0), (b, -0.5)], strength=2.0),
                               w + 2.0 * a.delta - 1.0 * b.delta, rtol=1e-5, atol=1e-6)
    out = apply(w, a, strength=1.0, layers="1-2")
    np.testing.assert_array_equal(out[[0, 3, 4, 5]], w[[0, 3, 4, 5]])
    np.testing.assert_allclose(out[1:3], w[1:3] + a.delta[1:3], rtol=1e-6)


def test_apply_set_level():
    rng = np.random.default_rng(1)
    w = rng.normal(size=(N_LATENT, DIM)).astype(np.float32)
    t = _t("A_2", seed=5, mode="set", level=3.0)
    out = apply(w, t)
    assert level_of(out, t) == pytest.approx(3.0, abs=1e-4)
    out2 = apply(w, t, strength=-1.0)
    assert level_of(out2, t) == pytest.approx(-1.0, abs=1e-4)
    # only the direction's component changed
    diff = (out2 - w).ravel()
    u = t.direction().ravel()
    np.testing.assert_allclose(diff, np.dot(diff, u) * u, atol=1e-5)
    with pytest.raises(InvalidInput, match="level"):
        apply(w, _t("A_1"), mode="set")


def test_apply_refuses_other_model():
    w = Latent(np.zeros((N_LATENT, DIM)), "m2")
    with pytest.raises(ModelMismatch, match="m1"):
        apply(w, _t("A_0"))
    with pytest.raises(ModelMismatch, match="shape"):
        apply(Latent(np.zeros((N_LATENT + 1, DIM)), "m1"), _t("A_0"))


def test_layer_mask_forms():
    assert layer_mask(None, 4).tolist() == [1, 1, 1, 1]
    assert layer_mask("0-1", 4).tolist() == [1, 1, 0, 0]
    assert layer_mask("2:", 4).tolist() == [0, 0, 1, 1]
    assert layer_mask([0, 3], 4).tolist() == [1, 0, 0, 1]
    assert layer_mask(np.array([True, False, True, False]), 4).tolist() == [1, 0, 1, 0]
    with pytest.raises(InvalidInput):
        layer_mask([7], 4)
    with pytest.raises(InvalidInput):
        layer_mask("3-1", 4)


# ------------------------------------------------------------------ recipes


def test_recipe_round_trip_and_apply(tmp_path):
    store = TranslationStore(tmp_path / "tr", "m1")
    a, b = _t("A_2", seed=1), _t("smile", seed=2)
    store.save(a)
    store.save(b)
    direction = np.random.default_rng(3).normal(size=DIM).astype(np.float32)
    np.save(tmp_path / "dir.npy", direction)
    recipe = Recipe([
        RecipeStep(translation="A_2", strength=0.5),
        RecipeStep(translation="smile", strength=1.0, layers=[0, 1]),
        RecipeStep(direction=str(tmp_path / "dir.npy"), strength=2.0),
    ])
    recipe.save(tmp_path / "r.json")
    back = Recipe.load(tmp_path / "r.json")
    assert back.to_dict() == recipe.to_dict()
    w = np.zeros((N_LATENT, DIM), np.float32)
    out = back.apply(Latent(w, "m1"), [store]).w
    expected = 0.5 * a.delta + b.delta * np.array([1, 1, 0, 0, 0, 0], np.float32)[:, None] + 2.0 * direction[None]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(InvalidInput):
        RecipeStep()
    with pytest.raises(InvalidInput, match="unknown keys"):
        Recipe.from_dict({"steps": [{"translation": "A_2", "strenght": 1}]})
    with pytest.raises(DataError, match="A_0"):
        Recipe([RecipeStep(translation="A_0")]).apply(w, [store])


# ------------------------------------------------------------------ CLI


def test_cli_list_show_check_apply(tmp_path, capsys):
    from faceedit.cli import main

    folder = tmp_path / "m1"
    store = TranslationStore(folder, "m1")
    store.save(_t("A_2", seed=1, method="ridge", attribute="age"))
    store.save(_t("Be_max", seed=2))
    assert main(["translations", "list", "--folder", str(folder), "--model-id", "m1"]) == 0
    out = capsys.readouterr().out
    assert "A_2" in out and "ridge" in out and "2 translations" in out and "validator" not in out
    # the independent validator's verdicts (sidecar `validation`) are listed with a summary
    t = store.get("A_2")
    t.meta["validation"] = {"verdict": "rejected (+5.5 years the intended way)"}
    store.save(t)
    assert main(["translations", "list", "--folder", str(folder), "--model-id", "m1"]) == 0
    out = capsys.readouterr().out
    assert "validator: rejected (+5.5 years the intended way)" in out
    assert "0 accepted, 1 rejected, 0 not judged, 1 not read" in out
    assert main(["translations", "show", "A_2", "--folder", str(folder), "--model-id", "m1"]) == 0
    out = capsys.readouterr().out
    assert '"attribute": "age"' in out and "produces: A_2" in out
    # check: incomplete folder and a broken name are reported, exit code 1
    (folder / "Hs_2.npy").write_bytes(b"junk")
    assert main(["translations", "check", "--folder", str(folder), "--model-id", "m1"]) == 1
    out = capsys.readouterr().out
    assert "problem: 'Hs_2'" in out and "missing" in out and "Sk_0" in out and "Hc_0_fr_4" in out
    # apply: two translations with weights on some layers
    w = np.random.default_rng(0).normal(size=(N_LATENT, DIM)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    assert main(["translations", "apply", str(tmp_path / "w.npy"), "A_2", "Be_max", "--weights", "1,-0.5",
                 "--strength", "2", "--layers", "0-2", "--out", str(tmp_path / "o.npy"), "--folder", str(folder),
                 "--model-id", "m1"]) == 0
    got = np.load(tmp_path / "o.npy")
    mask = np.array([1, 1, 1, 0, 0, 0], np.float32)[:, None]
    expected = w + 2 * (_t("x", seed=1).delta - 0.5 * _t("x", seed=2).delta) * mask
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    # errors are one line and exit code 1
    assert main(["translations", "apply", str(tmp_path / "w.npy"), "N_min", "--out", str(tmp_path / "p.npy"),
                 "--folder", str(folder), "--model-id", "m1"]) == 1
    assert "no translation 'N_min'" in capsys.readouterr().err
    assert not (tmp_path / "p.npy").exists()
    store.save(_t("Ch_max", seed=3, model_id="m1"))
    other = TranslationStore(tmp_path / "m2", "m2")
    other.save(_t("Ch_max", seed=3, model_id="m2"))
    assert main(["translations", "apply", str(tmp_path / "w.npy"), "Ch_max", "--out", str(tmp_path / "p.npy"),
                 "--folder", str(tmp_path / "m2"), "--model-id", "m1"]) == 1
    assert "belongs to model 'm2'" in capsys.readouterr().err

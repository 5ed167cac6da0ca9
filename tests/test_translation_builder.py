"""TranslationBuilder: render-score label source, co-moving conditioning, layer masks, pairwise hair colour
directions, ordinal `_fr_` steps (synthetic latents with planted directions; tiny seeded models)."""
import numpy as np
import pytest
import torch

from faceedit.edit.directions import coordinates, unit
from faceedit.edit.targets import OWN_OUTPUTS
from faceedit.edit.builder import TranslationBuilder, _Edit

pytestmark = pytest.mark.usefixtures("one_thread")

N_LATENT, DIM = 3, 8


def _latents(n=800, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, N_LATENT, DIM)).astype(np.float32), rng


def _cos(a, b):
    return float(unit(a).ravel() @ unit(b).ravel())


def _quiet(**cfg):
    return {"min_group": 5, "condition_top": 0, "calibrate": False, "render_labels": [], **cfg}


def _with_scores(builder, scores, rows):
    """Predictor readings of the rendered rows, as :meth:`use_renders` leaves them."""
    builder.rendered = np.asarray(rows)
    for k, v in scores.items():
        col = np.full(len(builder.X), np.nan)
        col[rows] = v
        builder.scores[k] = col


def test_render_weight_blends_real_and_render_directions():
    X, rng = _latents()
    flat = X.reshape(len(X), -1)
    u_real, u_render = unit(rng.normal(size=(N_LATENT, DIM))), unit(rng.normal(size=(N_LATENT, DIM)))
    real = (flat @ u_real.ravel() > 0).astype(float)  # the Big_Lips label of the photos
    rows = np.arange(0, len(X), 2)
    read = 1 / (1 + np.exp(-3 * flat[rows] @ u_render.ravel()))  # what the predictor reads on the renders
    cos = {}
    for w in (0.0, 0.5, 1.0):
        b = TranslationBuilder(X, {"Big_Lips": real}, "m", _quiet(render_weight=w))
        _with_scores(b, {"Big_Lips": read}, rows)
        d, _ = b._plain("Bp", real)
        cos[w] = (_cos(d, u_real), _cos(d, u_render))
    assert cos[0.0][0] > 0.9 and abs(cos[0.0][1]) < 0.3  # real labels only
    assert cos[1.0][1] > 0.9 and abs(cos[1.0][0]) < 0.3  # renders only
    assert cos[0.5][0] > 0.5 and cos[0.5][1] > 0.5  # both
    # without renders the weight changes nothing
    no_renders = TranslationBuilder(X, {"Big_Lips": real}, "m", _quiet(render_weight=1.0))._plain("Bp", real)[0]
    assert _cos(no_renders, u_real) == pytest.approx(cos[0.0][0], abs=1e-6)


class _FixedCoMoving(TranslationBuilder):
    """The co-moving outputs in a fixed order (the measurement itself is tested with real models below)."""

    order: list = []

    def co_moving(self, key, direction, k):
        return self.order[:k]


def test_conditioning_on_co_moving_outputs_skips_those_that_take_the_edit_away():
    X, rng = _latents()
    flat = X.reshape(len(X), -1)
    u = unit(rng.normal(size=(N_LATENT, DIM)))
    near = unit(u + 0.3 * unit(rng.normal(size=u.shape)))  # almost the edit itself
    far1, far2 = unit(rng.normal(size=u.shape)), unit(rng.normal(size=u.shape))
    y = (flat @ u.ravel() + 0.5 * flat @ far1.ravel() > 0).astype(float)  # Bangs, entangled with far1
    rows = np.arange(len(X))
    scores = {name: 1 / (1 + np.exp(-3 * flat @ v.ravel())) for name, v in
              (("Smiling", near), ("Eyeglasses", far1), ("Male", far2))}
    b = _FixedCoMoving(X, {"Bangs": y}, "m", _quiet(condition_top=2, condition_min_cos=0.8, render_weight=0.0))
    b.order = ["Smiling", "Eyeglasses", "Male", "Young"]
    _with_scores(b, scores, rows)
    e = b._edit("B", y, y, "Bangs")
    assert e.conditioned_on == ["~Eyeglasses", "~Male"]  # Smiling would leave cos < 0.8 with the plain edit
    for name in ("Eyeglasses", "Male"):
        assert abs(_cos(e.direction, b._output_direction(name))) < 1e-4
    assert _cos(e.direction, u) > 0.8
    plain = b._plain("B", y)[0]
    assert _cos(plain, far1) > _cos(e.direction, far1) + 0.2  # the entangled part is gone
    # conditional=false: the plain direction, nothing removed
    b.cfg["conditional"] = False
    e = b._edit("B", y, y, "Bangs")
    assert e.conditioned_on == [] and _cos(e.direction, plain) > 0.9999


def test_layers_restrict_the_edit_to_its_rows():
    X, rng = _latents()
    flat = X.reshape(len(X), -1)
    u = unit(rng.normal(size=(N_LATENT, DIM)))
    y = (flat @ u.ravel() > 0).astype(float)
    b = TranslationBuilder(X, {"Bangs": y, "Male": (flat[:, 0] > 0).astype(float)}, "m",
                           _quiet(layers={"B": "1-2", "D": "all"}, render_weight=0.0))
    b._plain("Se", b.labels["Male"])
    e = b._edit("B", y, y, "Bangs", condition=("Se",))
    assert np.all(e.direction[0] == 0) and np.linalg.norm(e.direction[1:]) == pytest.approx(1, abs=1e-5)
    masked = u.copy()
    masked[0] = 0
    assert _cos(e.direction, masked) > 0.9
    assert abs(float(e.direction.ravel() @ (b.plain["Se"][0] * np.array([0, 1, 1])[:, None]).ravel())) < 1e-5
    assert b._edit("D", y, y, "Double_Chin").direction[0].any()  # codes not listed keep all rows


def _hair_latents(n=900, seed=1):
    """Four hair colour clusters; brown and blond differ along a direction the one-vs-rest fits blur."""
    X, rng = _latents(n, seed)
    colour = rng.integers(0, 4, n)
    centres = rng.normal(size=(4, N_LATENT, DIM)).astype(np.float32) * 1.5
    X = X + centres[colour]
    names = ["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]
    labels = {name: (colour == v).astype(float) for v, name in enumerate(names)}
    labels.update({"Bald": np.zeros(n), "Straight_Hair": np.ones(n), "Wavy_Hair": np.zeros(n)})
    return X, colour, centres, labels


def test_pairwise_hair_colour_from_translations_follow_the_two_groups():
    X, colour, centres, labels = _hair_latents()
    b = TranslationBuilder(X, labels, "m", _quiet(render_weight=0.0, conditional=False))
    b.groups = {"Hc": np.where(np.isin(colour, [0, 1, 2, 3]), colour, np.nan).astype(float)}
    hc = b.groups["Hc"]
    for a in range(4):
        for c in range(a + 1, 4):
            y = np.where(hc == c, 1.0, np.where(hc == a, 0.0, np.nan))
            b._edit(f"Hc_{a}-{c}", y, hc, "pair")
    for v in range(4):
        y = (hc == v).astype(float)
        b._edit(f"Hc_{v}", y, hc, "one")
    from faceedit.edit.translations import VALUE_CODES

    pairs = lambda new, old: b.edits[f"Hc_{min(new, old)}-{max(new, old)}"]  # noqa: E731
    made = {t.name: t for t in b._value_translations("Hc", VALUE_CODES["Hc"], lambda v: b.edits[f"Hc_{v}"], pairs)}
    blond_to_brown = X[colour == 2].mean(0) - X[colour == 1].mean(0)
    assert _cos(made["Hc_2_fr_1"].delta, blond_to_brown) > 0.9
    assert _cos(made["Hc_2_fr_1"].delta, blond_to_brown) > _cos(b.edits["Hc_2"].direction, blond_to_brown)
    np.testing.assert_allclose(made["Hc_2_fr_1"].delta, -made["Hc_1_fr_2"].delta, rtol=1e-5, atol=1e-6)
    # the step moves the blond group's mean level onto the brown group's (times boost)
    e = pairs(2, 1)
    c = coordinates(X, e.direction)
    moved = coordinates(X[colour == 1] + made["Hc_2_fr_1"].delta, e.direction).mean()
    assert moved - c[colour == 1].mean() == pytest.approx(b.cfg["boost"] * (e.levels[2] - e.levels[1]), rel=1e-3)


def test_ordinal_from_step_keeps_its_sign_when_levels_overlap():
    b = TranslationBuilder(np.zeros((4, N_LATENT, DIM), np.float32), {"x": np.zeros(4)}, "m", _quiet())
    d = unit(np.ones((N_LATENT, DIM)))
    e = _Edit(d, {0: 0.0, 1: 2.0, 2: 1.9}, "ridge", "skin tone")  # medium and dark overlap: 1 is above 2
    up = b._delta(e, e.levels[1], e.levels[2], order=1)  # Sk_2_fr_1 must still darken
    assert float(up.ravel() @ d.ravel()) == pytest.approx(b.cfg["boost"] * 1.0, rel=1e-5)  # mean spacing (2 - 0) / 2
    down = b._delta(e, e.levels[2], e.levels[0], order=-1)  # a proper step is kept as it is
    assert float(down.ravel() @ d.ravel()) == pytest.approx(b.cfg["boost"] * -1.9, rel=1e-5)
    assert float(b._delta(e, e.levels[1], e.levels[2]).ravel() @ d.ravel()) < 0  # order 0: levels as they are


def test_use_renders_and_co_moving_with_tiny_models():
    from faceedit.edit.directions import sample_w
    from faceedit.measure.edits import flatten_predictions
    from faceedit.models.attributes import AttributePredictor
    from faceedit.models.stylegan2 import Generator
    from faceedit.synthesis import synthesize

    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16, model_id="tiny").eval()
    P = AttributePredictor(input_size=16, width=4, blocks=(1, 1)).eval()
    W = np.repeat(sample_w(G, 24, seed=4)[:, None], G.n_latent, axis=1)
    b = TranslationBuilder(W, {"Bangs": np.arange(24) % 2.0}, "tiny", _quiet(condition_faces=6))
    scores = b.use_renders(G, P, n=10)
    rows = b.rendered
    assert len(rows) == 10 and np.isfinite(scores["Bangs"]).sum() == 10
    read = flatten_predictions(P.predict(synthesize(G, W[rows])))
    np.testing.assert_allclose(scores["Smiling"][rows], read["Smiling"], rtol=1e-5)
    d = unit(np.random.default_rng(0).normal(size=W.shape[1:]))
    top = b.co_moving("B", d, 3)
    # the same measurement by hand: mean |change| in standard deviations, own outputs left out
    step = np.float32(2 * coordinates(W, d).std()) * d
    pred = flatten_predictions(P.predict(synthesize(G, W[rows[:6]] + step)))
    change = {o: np.mean(np.abs(v - scores[o][rows[:6]])) / (np.nanstd(scores[o]) + 1e-6)
              for o, v in pred.items() if o not in OWN_OUTPUTS["B"]}
    assert top == sorted(change, key=lambda o: -change[o])[:3] and "Bangs" not in top


def test_partial_conditioning_removes_what_the_cosine_budget_allows():
    X, rng = _latents()
    flat = X.reshape(len(X), -1)
    u = unit(rng.normal(size=(N_LATENT, DIM)))
    near = unit(u + 0.3 * unit(rng.normal(size=u.shape)))  # almost the edit itself: full removal too costly
    far1, far2 = unit(rng.normal(size=u.shape)), unit(rng.normal(size=u.shape))
    y = (flat @ u.ravel() + 0.5 * flat @ far1.ravel() > 0).astype(float)
    scores = {name: 1 / (1 + np.exp(-3 * flat @ v.ravel())) for name, v in
              (("Smiling", near), ("Eyeglasses", far1), ("Male", far2))}
    b = _FixedCoMoving(X, {"Bangs": y}, "m", _quiet(condition_top=3, condition_min_cos=0.8, render_weight=0.0))
    b.order = ["Smiling", "Eyeglasses", "Male"]
    _with_scores(b, scores, np.arange(len(X)))
    e = b._edit("B", y, y, "Bangs")
    plain = b._plain("B", y)[0]
    # full removals first (in co-moving order), then the skipped one in part
    assert e.conditioned_on[:2] == ["~Eyeglasses", "~Male"]
    name, share = e.conditioned_on[2].split("*")
    assert name == "~Smiling" and 0.05 <= float(share) < 1.0
    # the share used exactly the cosine budget, and the edit still points the plain way
    assert _cos(e.direction, plain) == pytest.approx(0.8, abs=1e-4)
    assert abs(_cos(e.direction, b._output_direction("Smiling"))) < abs(_cos(plain, b._output_direction("Smiling"))) - 0.1
    for name in ("Eyeglasses", "Male"):  # the partial step keeps the full removals
        assert abs(_cos(e.direction, b._output_direction(name))) < 1e-4
    # condition_partial=false: the costly output is skipped, as before
    b.cfg["condition_partial"] = False
    assert b._edit("B", y, y, "Bangs").conditioned_on == ["~Eyeglasses", "~Male"]


def test_sex_edits_calibrate_on_faces_read_as_the_other_sex():
    n = 200
    X, rng = _latents(n)
    female_label = (np.arange(n) % 2).astype(float)
    b = TranslationBuilder(X, {"female": female_label}, "m", _quiet())
    b.groups = {"Se": female_label}
    order = rng.permutation(n)
    # without renders: the label group
    idx, cur = b._calibration_faces("Se_1_fr_0", order, 40)
    assert len(idx) == 40 and np.all(female_label[idx] == 0) and np.all(cur == 0)
    # with renders: only the faces of that group the predictor reads as male (gender = P(female) <= 0.5)
    read = rng.uniform(size=n)
    _with_scores(b, {"gender": read}, np.arange(n))
    idx, _ = b._calibration_faces("Se_1_fr_0", order, 40)
    expected = [i for i in order if female_label[i] == 0 and read[i] <= 0.5][:40]
    assert list(idx) == expected and np.all(read[idx] <= 0.5)
    idx, _ = b._calibration_faces("Se_0", order, 1000)  # generic to-male: faces of group 1 read as female
    assert len(idx) > 0 and np.all((female_label[idx] == 1) & (read[idx] > 0.5))


def test_a_hair_colour_pair_may_have_rows_of_its_own():
    X, rng = _latents()
    flat = X.reshape(len(X), -1)
    y = (flat @ unit(rng.normal(size=(N_LATENT, DIM))).ravel() > 0).astype(float)
    b = TranslationBuilder(X, {}, "m", _quiet(layers={"Hc": "all", "Hc_2-3": "1-2"}, render_weight=0.0))
    pair = b._edit("Hc_2-3", y, y, "Gray_Hair vs Brown_Hair")
    other = b._edit("Hc_0-1", y, y, "Blond_Hair vs Black_Hair")
    assert np.all(pair.direction[0] == 0) and pair.direction[1:].any() and pair.layers == "1-2"
    assert other.direction[0].any() and other.layers is None  # the other pairs keep Hc's rows
    t = b._translation("Hc_3_fr_2", pair, pair.direction, {})
    assert t.meta["layers"] == "1-2"

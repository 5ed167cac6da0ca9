"""Build the default translation set of a model from labelled, encoded real faces.

Input: W+ codes of real faces (from the encoder, :func:`faceedit.edit.directions.encode_images`) and their
labels (CelebA attributes, UTKFace age / gender / race; NaN = unknown).  For every code of the naming
convention (:mod:`faceedit.edit.translations`) a supervised finder gives a unit direction, and the mean
coordinate of each label group along it ("levels") calibrates the strength:

- ``{c}_{new}_fr_{old}``: ``boost * (level[new] - level[old])`` along the direction (hair colour: along a
  direction fitted between the two colour groups, ``pairwise``);
- ``{c}_{new}``: from the mean level of all faces not at ``new``;
- ``{c}_min`` / ``{c}_max``: from the attribute-absent to the attribute-present level and back;
- ``bald`` and the from-bald hair translations ``Hc_v_fr_4`` / ``Hs_v_fr_2``.

With a generator and the attribute predictor (:meth:`TranslationBuilder.read_renders`), the builder also
reads the renders of ``render_samples`` encoded faces (label source b): every direction is blended with the
one fitted on the predictor's score (``render_weight``; ``render_labels`` can instead replace label columns
by that reading), and each edit is conditioned (made orthogonal) on the Se / A / Eyeglasses directions
and on the directions of the ``condition_top`` predictor outputs that move most under its unconditioned
edit (``~Output`` in the sidecar's ``conditioned_on``); one whose full removal would leave less than
``condition_min_cos`` of the edit is removed in part (``condition_partial``, ``~Output*share``).
``layers`` restricts a code's edits (or those towards one value, ``{c}_{v}``, or a hair colour pair) to some
W+ rows.  Finally each translation's strength is calibrated on training renders until the predictor agrees
(``calibrate``; the age edits may go further within a bounded W+ step, ``calibration_extra``); with several
``condition_min_cos`` values each translation keeps the conditioning whose calibrated edit is least entangled
on its calibration faces (``build_calibrated``).

The levels are kept in each sidecar (``levels``), so "set to level" works with
``apply(latent, t, strength=t.meta["levels"][v], mode="set")``.

How labels map to codes and how an edit is measured: :mod:`faceedit.edit.targets`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .calibration import Calibration, code_of
from .directions import coordinates, is_binary, make_finder, orthogonalize, unit
from .targets import (
    AGE_GROUPS,
    BINARY_CODES,
    CURSOR_ATTRIBUTES,
    HAIR_COLOURS,
    HAIR_SHAPES,
    ORDINAL_CODES,
    OWN_OUTPUTS,
    _col,
    code_groups,
    labels_from_facedata,
    target_measure,
)
from ..errors import DataError, InvalidInput
from .translations import BALD, BALD_VALUES, CURSOR_CODES, VALUE_CODES, Translation


BUILD_DEFAULTS: dict[str, Any] = {
    "method": "logistic",  # finder for the binary attributes (svm, logistic, mean)
    "C": 0.05,  # regularisation of svm / logistic
    "ridge_alpha": 100.0,
    "boost": 1.5,  # strength multiplier over the group-level difference
    "conditional": True,  # condition the edits on other attribute directions
    # also condition each edit on the directions of the k predictor outputs that move most (in standard
    # deviations) under its unconditioned edit, measured on renders (needs G + predictor; 0: off)
    "condition_top": 3,
    "condition_faces": 48,  # renders used to find those co-moving outputs
    # least cosine with the plain edit that conditioning on co-moving outputs leaves; with several values (and
    # calibration), every translation is made with each and keeps the one whose calibrated edit moves the
    # outputs most entangled with the calibrated plain edit least (build_calibrated; sidecar "conditioning")
    "condition_min_cos": [0.9, 0.95, 0.98],
    # ... among the values whose calibrated success reaches calibration_rate or is within this of the best one
    "condition_success_margin": 0.05,
    # an output whose full removal would go below condition_min_cos is removed in part (the largest share
    # that keeps the cosine) instead of skipped
    "condition_partial": True,
    # weight of the direction fitted on the predictor's reading of the renders (label source b) against
    # the one fitted on the real labels (a); 0 = real labels only (needs G + predictor)
    "render_weight": 0.5,
    # W+ rows each code's edit may touch (layer_mask syntax; the deltas are zero elsewhere); the edits towards
    # one value {c}_{v} (Se_1: Se_1 and every Se_1_fr_*) and a hair colour pair Hc_{a}-{b} (the direction of
    # Hc_{b}_fr_{a} / Hc_{a}_fr_{b}) may have rows of their own (None: the code's).
    # Model-specific: the built-in 64 px set uses layers.B="3-5" (bangs move the predictor's Bangs more and
    # its other outputs less than on all rows), layers.Hs="2-7" (hair shape changes the hair colour, nose and
    # skin reading less), layers.Hc_2-3="4-9" (brown <-> grey; on all rows it also ages the face) and
    # layers.Se_1="2-9" (to female: its conditional edit is then less entangled than its plain one, which on
    # all rows it is not; to male keeps all rows, on 2-9 it flips too few faces); see translations/README.md
    "layers": {**{code: "all" for code in (*VALUE_CODES, *CURSOR_CODES, BALD)},
               **{f"{code}_{v}": None for code, values in VALUE_CODES.items() for v in values},
               **{f"Hc_{a}-{b}": None for a in HAIR_COLOURS for b in HAIR_COLOURS if a < b}},
    "pairwise": True,  # Hc_{new}_fr_{old}: a direction fitted between the two colour groups
    "min_group": 20,  # smallest label group used for a level
    "calibrate": True,  # scale each translation until the attribute predictor agrees (needs G + predictor)
    "calibration_rate": 0.95,  # fraction of calibration faces that must move the intended way
    "calibration_faces": 64,
    "calibration_multipliers": [1.0, 1.5, 2.0, 3.0, 4.0, 6.0],  # strengths tried, in order
    # larger multipliers tried for these codes when the ladder above falls short, while the success still
    # grows and the edit's W+ step stays under calibration_max_step (the built-in model draws a narrow range
    # of ages: its age edits need more strength than the others)
    "calibration_extra": {"A": [8.0, 11.0, 16.0, 22.0, 30.0, 40.0]},
    # the largest W+ step of a translation, as a share of the median W+ distance between two training faces of
    # different people: 0.5 = half way to another person (a geometric bound fixed beforehand: identity is
    # *measured* with dlib's descriptor, never used to pick a strength)
    "calibration_max_step": 0.5,
    # ... and while the predicted sex flips on at most this share of the faces (stronger "older" edits of the
    # built-in model turn the predictor's reading of about half the faces male)
    "calibration_max_sex_flips": 0.2,
    # label columns replaced by the predictor's reading of the renders (needs G + predictor), e.g.
    # ["female", "age"]: then those directions are fitted on the renders only, and render_weight does not
    # apply to Se / A.  Off by default: blending (render_weight) moves the predictor's age and sex as
    # much with real labels kept (measured on the built-in model)
    "render_labels": [],
    "render_samples": 6000,  # training faces rendered and read by the predictor
}


# ----------------------------------------------------------------------------------------------------
# building
# ----------------------------------------------------------------------------------------------------


@dataclass
class _Edit:
    """One attribute direction with its group levels."""

    direction: np.ndarray
    levels: dict[int, float]
    method: str
    attribute: str
    conditioned_on: list[str] = field(default_factory=list)
    score: float = float("nan")
    layers: str | None = None  # the W+ rows it touches (layer_mask syntax); None: all


class TranslationBuilder(Calibration):
    """Fit the attribute directions on encoded faces and make every translation of the convention.

    ``latents`` ``(N, n_latent, style_dim)``; ``labels`` from :func:`labels_from_facedata` (or any dict of
    the same columns).  :meth:`use_renders` (optional) adds the attribute predictor's reading of the
    generator's renders as a second label source and enables the co-moving conditioning; :meth:`build`
    returns the translations; :meth:`report` the fit details.
    """

    def __init__(self, latents: np.ndarray, labels: Mapping[str, np.ndarray], model_id: str,
                 config: Mapping[str, Any] | None = None, created_by: str = "faceedit directions build-defaults",
                 progress: Callable[[str], None] | None = None):
        self.X = np.asarray(latents, dtype=np.float32)
        if self.X.ndim != 3:
            raise DataError(f"latents must be (N, n_latent, style_dim); got {self.X.shape}")
        self.labels = {k: np.asarray(v, dtype=np.float64) for k, v in labels.items()}
        self.real_labels = dict(self.labels)  # levels and calibration groups (relabelling changes self.labels)
        bad = [k for k, v in self.labels.items() if v.shape[0] != len(self.X)]
        if bad:
            raise DataError(f"label columns {bad} do not have {len(self.X)} rows")
        self.model_id = model_id
        self.cfg = {**BUILD_DEFAULTS, **(config or {})}
        self.created_by = created_by
        self.progress = progress or (lambda msg: None)
        self.edits: dict[str, _Edit] = {}
        self.plain: dict[str, tuple[np.ndarray, float]] = {}
        self.fits: dict[tuple[str, str], tuple[np.ndarray, float]] = {}
        self.generator = self.predictor = None
        self.scores: dict[str, np.ndarray] = {}  # predictor outputs on the rendered rows (NaN elsewhere)
        self.rendered = np.zeros(0, dtype=np.int64)
        self.min_cos = self._min_cos_values()[0]  # the condition_min_cos value fit() uses
        self.calibrated_on: dict[str, np.ndarray] = {}  # training rows each translation was calibrated on
        self.selection: dict[str, dict[str, Any]] = {}  # build_calibrated's choice per translation
        self.plain_calibrated: dict[str, Translation] = {}  # calibrated_plain's translations (cache)
        self._person_distance: float | None = None  # person_distance() (cache)

    # -------------------------------------------------------------------------------------- renders
    def use_renders(self, generator: Any, predictor: Any, n: int | None = None, seed: int = 0) -> dict[str, np.ndarray]:
        """Render ``n`` (default ``render_samples``) of the latents and keep the attribute predictor's
        reading of them (label source b, InterFaceGAN-style: what the model actually draws).  Later fits
        use it (``render_weight``, ``condition_top``, :meth:`relabel_from_renders`).  Returns the scores."""
        from ..measure.edits import flatten_predictions
        from ..synthesis import synthesize

        n = min(len(self.X), n or self.cfg["render_samples"])
        self.generator, self.predictor = generator, predictor
        rows = np.sort(np.random.default_rng(seed).permutation(len(self.X))[:n])
        if not np.array_equal(rows, self.rendered):
            self.progress(f"read {len(rows)} renders with the attribute predictor")
            pred = flatten_predictions(predictor.predict(synthesize(generator, self.X[rows])))
            self.scores = {}
            for k, v in pred.items():
                col = np.full(len(self.X), np.nan)
                col[rows] = v
                self.scores[k] = col
            self.rendered = rows
            self._forget_fits()
        return self.scores

    def _forget_fits(self) -> None:
        """Drop every fitted direction and edit (their labels or render scores changed)."""
        self.plain.clear()
        self.fits.clear()
        self.edits.clear()
        self.plain_calibrated.clear()

    def _render_score(self, key: str) -> np.ndarray | None:
        """The predictor's score of ``key``'s attribute on the rendered rows (NaN elsewhere; None without
        renders).  Pair keys ``Hc_a-b`` score colour b minus colour a."""
        code = code_of(key)
        if not self.scores or code not in OWN_OUTPUTS:
            return None
        if "-" in key:
            a, b = (int(v) for v in key.split("_", 1)[1].split("-"))
            return self.scores[HAIR_COLOURS[b]] - self.scores[HAIR_COLOURS[a]]
        if key in CURSOR_ATTRIBUTES:
            target, current = f"{key}_max", None
        elif key == BALD or key.startswith("Hc_"):
            target, current = key, None
        else:
            target, current = f"{key}_1", 0
        fn, sign = target_measure(target, current)
        return sign * np.asarray(fn(self.scores), dtype=np.float64)

    # -------------------------------------------------------------------------------------- fitting
    def _fit(self, key: str, y: np.ndarray, method: str | None = None) -> tuple[np.ndarray, float]:
        """One finder fit on the labelled rows of ``y`` (cached by key and method until the labels change)."""
        method = method or self.cfg["method"]
        if (key, method) in self.fits:
            return self.fits[key, method]
        keep = np.isfinite(y)
        if keep.sum() < 2 * self.cfg["min_group"]:
            raise DataError(f"{key}: only {int(keep.sum())} labelled faces")
        kwargs = {"alpha": self.cfg["ridge_alpha"]} if method == "ridge" else (
            {"C": self.cfg["C"]} if method in ("svm", "logistic") else {})
        self.progress(f"fit {key} ({method}, {int(keep.sum())} faces)")
        finder = make_finder(method, **kwargs).fit(self.X[keep], y[keep])
        self.fits[key, method] = (finder.direction_, float(finder.score_))
        return self.fits[key, method]

    def _levels(self, direction: np.ndarray, groups: np.ndarray) -> dict[int, float]:
        c = coordinates(self.X, direction)
        out = {}
        for g in np.unique(groups[np.isfinite(groups)]):
            sel = groups == g
            if sel.sum() >= self.cfg["min_group"]:
                out[int(g)] = float(c[sel].mean())
        return out

    def _plain(self, key: str, y: np.ndarray, method: str | None = None) -> tuple[np.ndarray, float]:
        """The unconditioned direction of ``key`` (fitted once) and its training score: fitted on the real
        labels ``y`` and, with renders and ``render_weight`` > 0, blended with the direction fitted on the
        predictor's reading of the renders (continuous scores: top vs bottom quartile)."""
        if key not in self.plain:
            direction, score = self._fit(key, y, method)
            w = float(self.cfg["render_weight"])
            render = self._render_score(key) if w > 0 else None
            relabelled = {"A": "age", "Se": "female"}.get(key) in self.cfg["render_labels"]
            if render is not None and not relabelled:
                d_render, _ = self._fit(f"{key} (renders)", render, method)
                direction = unit((1 - w) * direction + w * d_render)
            self.plain[key] = (direction, score)
        return self.plain[key]

    def _output_direction(self, output: str) -> np.ndarray:
        """The direction of one predictor output, fitted on its reading of the renders (cached)."""
        key = f"~{output}"
        if key not in self.plain:
            self.plain[key] = self._fit(key, self.scores[output], "ridge" if output == "age" else None)
        return self.plain[key][0]

    def _layers(self, key: str) -> str | None:
        """The ``layers`` entry of edit ``key`` (a hair colour pair's own, else its code's)."""
        own = self.cfg["layers"].get(key)
        return own if own is not None else self.cfg["layers"].get(code_of(key))

    def _mask(self, key: str) -> np.ndarray:
        """The W+ row mask ``(n_latent, 1)`` of edit ``key`` from the ``layers`` config."""
        from .translations import layer_mask

        return layer_mask(self._layers(key), self.X.shape[1])[:, None]

    def co_moving(self, key: str, direction: np.ndarray, k: int) -> list[str]:
        """The ``k`` predictor outputs (not ``key``'s own) that change most, in standard deviations of
        their scores, when the rendered faces move 2 standard deviations along ``direction``."""
        from ..measure.edits import flatten_predictions
        from ..synthesis import synthesize

        rows = self.rendered[: self.cfg["condition_faces"]]
        step = np.float32(2 * coordinates(self.X, direction).std()) * direction
        pred = flatten_predictions(self.predictor.predict(synthesize(self.generator, self.X[rows] + step)))
        own = OWN_OUTPUTS[code_of(key)]
        change = {o: float(np.mean(np.abs(v - self.scores[o][rows])) / (np.nanstd(self.scores[o]) + 1e-6))
                  for o, v in pred.items() if o not in own}
        return sorted(change, key=lambda o: -change[o])[:k]

    def _edit(self, key: str, y: np.ndarray, groups: np.ndarray, attribute: str, method: str | None = None,
              condition: Sequence[str] = (), plain_key: str | None = None) -> _Edit:
        """The plain direction of ``plain_key`` (default ``key``), restricted to the ``layers`` of ``key`` and
        (``conditional``) made orthogonal to the plain directions named in ``condition`` and to those of its
        co-moving predictor outputs (:meth:`_condition_on_outputs`)."""
        plain_key = plain_key or key
        direction, score = self._plain(plain_key, y, method)
        mask = self._mask(key)
        used: list[str] = []
        if self.cfg["conditional"]:
            used = [c for c in condition if c in self.plain and c != plain_key]
            others = [self.plain[c][0] * mask for c in used]
            plain = unit(direction * mask)
            direction = orthogonalize(plain, others)
            if int(self.cfg["condition_top"]) and self.scores:
                direction, outputs = self._condition_on_outputs(key, plain, direction, others)
                used += outputs
            direction = unit(direction * mask)  # exact zeros outside the rows (the projections leave ~1e-17)
        elif not mask.all():
            direction = unit(direction * mask)
        edit = _Edit(direction, self._levels(direction, groups), method or self.cfg["method"], attribute,
                     used, score, None if mask.all() else self._layers(key))
        self.edits[key] = edit
        return edit

    def _condition_on_outputs(self, key: str, plain: np.ndarray, start: np.ndarray,
                              fixed: list[np.ndarray]) -> tuple[np.ndarray, list[str]]:
        """Remove from ``start`` (``plain`` made orthogonal to ``fixed``) its components along the directions
        of the ``condition_top`` predictor outputs that co-move most with the plain edit (out of twice as
        many candidates): first, greedily, every output whose full removal keeps at least
        ``condition_min_cos`` of the plain edit; then (``condition_partial``) the skipped ones in part, each
        by the largest share that keeps that cosine (named ``~Output*share``).  Returns the unit direction
        and the names of what was removed."""
        mask = self._mask(key)
        k, min_cos = int(self.cfg["condition_top"]), float(self.min_cos)
        d, basis, names, taken = start.astype(np.float64), list(fixed), [], set()
        candidates = self.co_moving(key, plain, 2 * k)
        for partial in (False, True) if self.cfg["condition_partial"] else (False,):
            for o in [c for c in candidates if c not in taken]:
                if len(names) == k:
                    break
                try:
                    n = orthogonalize(self._output_direction(o) * mask, basis).astype(np.float64)
                except InvalidInput:  # the output's direction lies in what was already removed
                    continue
                c = float(np.sum(d * n))

                def cos_after(share: float) -> float:
                    v = d - share * c * n
                    return float(np.sum(v * plain) / np.linalg.norm(v))

                share = 1.0
                if cos_after(1.0) < min_cos:
                    if not partial:
                        continue
                    lo, hi = 0.0, 1.0  # the cosine falls as the removed share grows
                    for _ in range(30):
                        mid = (lo + hi) / 2
                        lo, hi = (mid, hi) if cos_after(mid) >= min_cos else (lo, mid)
                    share = lo
                    if share < 0.05:
                        continue
                d = d - share * c * n
                basis.append(n.astype(np.float32))
                taken.add(o)
                names.append(f"~{o}" if share == 1.0 else f"~{o}*{share:.2f}")
        return unit(d), names

    def fit(self) -> "TranslationBuilder":
        """Fit every direction; the plain Se, A and Eyeglasses directions are what the others are
        conditioned on (plus, with renders, each edit's own co-moving outputs).  The directions are fitted
        on the (possibly relabelled) labels; the levels come from the faces' real label groups."""
        lab, n = self.labels, len(self.X)
        groups = {c: code_groups(self.real_labels, c) for c in (*VALUE_CODES, *CURSOR_CODES)}
        female = code_groups(lab, "Se")
        age = _col(lab, "age", n).copy()
        age[age < AGE_GROUPS[0][1]] = np.nan  # children out of the age fit
        self._plain("Se", female)
        self._plain("A", age, "ridge")
        if np.isfinite(_col(lab, "Eyeglasses", n)).sum() >= 2 * self.cfg["min_group"]:
            self._plain("Eyeglasses", _col(lab, "Eyeglasses", n))
        hs = groups["Hs"]
        value_edits = {  # code: (labels, attribute, method, conditioned on)
            "A": (age, "age", "ridge", ("Se", "Eyeglasses")),
            "Se": (female, "female", None, ("A", "Eyeglasses")),
            "Sk": (groups["Sk"], "skin tone", "ridge", ("A", "Se")),
            **{code: (groups[code], attr, None, ("Se", "A")) for code, attr in BINARY_CODES.items()},
            "Hs": (np.where(np.isin(hs, list(HAIR_SHAPES)), hs, np.nan), "Wavy_Hair", None, ("Se",)),
        }
        for code, (y, attr, method, condition) in value_edits.items():
            self._edit(code, y, groups[code], attr, method, condition)
            for v in VALUE_CODES[code]:  # the targets with rows of their own share the code's plain direction
                if self.cfg["layers"].get(f"{code}_{v}") is not None:
                    self._edit(f"{code}_{v}", y, groups[code], attr, method, condition, plain_key=code)
        bald = _col(lab, "Bald", n)
        self._edit(BALD, bald, bald, "Bald", condition=("Eyeglasses",))
        hc = groups["Hc"]
        for v, attr in HAIR_COLOURS.items():
            y = np.where(np.isin(hc, list(HAIR_COLOURS)), (hc == v).astype(float), np.nan)
            self._edit(f"Hc_{v}", y, hc, attr, condition=("Se", "Eyeglasses"))
        if self.cfg["pairwise"]:
            for a in HAIR_COLOURS:
                for b in HAIR_COLOURS:
                    if a < b:
                        y = np.where(hc == b, 1.0, np.where(hc == a, 0.0, np.nan))
                        self._edit(f"Hc_{a}-{b}", y, hc, f"{HAIR_COLOURS[b]} vs {HAIR_COLOURS[a]}",
                                   condition=("Se", "Eyeglasses"))
        for code, attr in CURSOR_ATTRIBUTES.items():
            self._edit(code, groups[code], groups[code], attr, condition=("Se", "A"))
        self.groups = groups
        return self

    def _min_cos_values(self) -> list[float]:
        """``condition_min_cos`` as a list (one number or several)."""
        v = self.cfg["condition_min_cos"]
        values = [float(x) for x in (v if isinstance(v, (list, tuple)) else [v])]
        if not values:
            raise DataError("condition_min_cos needs at least one value")
        return values

    # -------------------------------------------------------------------------------------- making
    def _delta(self, edit: _Edit, old: float, new: float, order: int = 0) -> np.ndarray:
        """``boost`` times the level difference along the direction.  ``order`` (+1 / -1, ordinal codes):
        the sign the move must have; a difference of the other sign or under half the mean spacing of
        the levels (groups that overlap along the direction) becomes that spacing."""
        step = new - old
        if order and len(edit.levels) > 1:
            levels = sorted(edit.levels.values())
            spacing = (levels[-1] - levels[0]) / (len(levels) - 1)
            if order * step < spacing / 2:
                step = order * spacing
        return (np.float32(self.cfg["boost"] * step) * edit.direction).astype(np.float32)

    def _translation(self, name: str, edit: _Edit, delta: np.ndarray, meta: Mapping[str, Any]) -> Translation:
        info = {
            "model_id": self.model_id, "method": edit.method, "attribute": edit.attribute,
            "layers": edit.layers,
            "default_strength": 1.0, "mode": "shift", "conditioned_on": edit.conditioned_on,
            "levels": {str(k): v for k, v in edit.levels.items()}, "train_score": edit.score,
            "boost": self.cfg["boost"], "created_by": self.created_by, **meta,
        }
        return Translation(name, delta, info)

    def _target_edit(self, code: str, value: int) -> _Edit:
        """The edit of the translations towards ``value`` of ``code``: ``{code}_{value}``'s own (hair colours;
        a target with rows of its own) or the code's."""
        return self.edits.get(f"{code}_{value}", self.edits.get(code))

    def _rest_level(self, edit: _Edit, groups: np.ndarray, value: int, values: Sequence[int]) -> float:
        """Mean level of the faces at another of ``values`` than ``value`` (source of a generic ``{c}_{v}``)."""
        sel = np.isin(groups, [v for v in values if v != value])
        return float(coordinates(self.X[sel], edit.direction).mean())

    def build(self) -> list[Translation]:
        """Every translation of the convention (generic, ``_fr_``, bald, from-bald, cursors)."""
        if not self.edits:
            self.fit()
        out: list[Translation] = []
        for code in ("Sk", "A", "Se", "B", "D", "Hs"):
            out += self._value_translations(code, VALUE_CODES[code], lambda v, c=code: self._target_edit(c, v))
        pairs = (lambda new, old: self.edits[f"Hc_{min(new, old)}-{max(new, old)}"]) if self.cfg["pairwise"] else None
        out += self._value_translations("Hc", VALUE_CODES["Hc"], lambda v: self.edits[f"Hc_{v}"], pairs)
        bald = self.edits[BALD]
        if 0 in bald.levels and 1 in bald.levels:
            out.append(self._translation(BALD, bald, self._delta(bald, bald.levels[0], bald.levels[1]),
                                         {"target": BALD}))
            unbald = self._delta(bald, bald.levels[1], bald.levels[0])
            for code in ("Hc", "Hs"):
                for v in VALUE_CODES[code]:
                    edit = self._target_edit(code, v)
                    if v not in edit.levels:
                        continue
                    rest = self._rest_level(edit, self.groups[code], v, VALUE_CODES[code])
                    delta = unbald + self._delta(edit, rest, edit.levels[v])
                    meta = {"target": f"{code}_{v}", "from": BALD_VALUES[code], "parts": [BALD, f"{code}_{v}"]}
                    out.append(self._translation(f"{code}_{v}_fr_{BALD_VALUES[code]}", edit, delta, meta))
        for code in CURSOR_CODES:
            edit = self.edits[code]
            if 0 in edit.levels and 1 in edit.levels:
                lo, hi = edit.levels[0], edit.levels[1]
                out.append(self._translation(f"{code}_max", edit, self._delta(edit, lo, hi), {"target": f"{code}_max"}))
                out.append(self._translation(f"{code}_min", edit, self._delta(edit, hi, lo), {"target": f"{code}_min"}))
        return out

    def _value_translations(self, code: str, values: Sequence[int], edit_of: Callable[[int], _Edit],
                            pair_of: Callable[[int, int], _Edit] | None = None) -> list[Translation]:
        """``{c}_{v}`` (from the other values' mean level) and every ``{c}_{v}_fr_{u}`` (along
        ``pair_of(v, u)`` when given, else along ``edit_of(v)``)."""
        out = []
        for new in values:
            edit = edit_of(new)
            if new not in edit.levels:
                continue
            rest = self._rest_level(edit, self.groups[code], new, values)
            out.append(self._translation(f"{code}_{new}", edit, self._delta(edit, rest, edit.levels[new]),
                                         {"target": f"{code}_{new}"}))
            for old in values:
                pair = pair_of(new, old) if pair_of and old != new else edit
                if old != new and old in pair.levels and new in pair.levels:
                    order = (1 if new > old else -1) if code in ORDINAL_CODES else 0
                    out.append(self._translation(f"{code}_{new}_fr_{old}", pair,
                                                 self._delta(pair, pair.levels[old], pair.levels[new], order),
                                                 {"target": f"{code}_{new}", "from": old}))
        return out

    def read_renders(self, generator: Any, predictor: Any) -> dict[str, float]:
        """The build-defaults recipe for label source (b): :meth:`use_renders` on ``render_samples`` faces,
        then :meth:`relabel_from_renders` of the ``render_labels`` columns; returns their agreement."""
        self.use_renders(generator, predictor)
        outputs = {"female": "gender", "age": "age"}
        columns = {c: outputs.get(c, c) for c in self.cfg["render_labels"]}
        return self.relabel_from_renders(generator, predictor, columns, self.cfg["render_samples"]) if columns else {}

    def relabel_from_renders(self, generator: Any, predictor: Any, columns: Mapping[str, str],
                             n: int = 4000, seed: int = 0) -> dict[str, float]:
        """Replace label columns by the attribute predictor's reading of the generator's renders of ``n``
        of the latents (InterFaceGAN-style labels: what the model actually draws; the rows not rendered
        become unknown).  ``columns`` maps a label column to a predictor output (``{"female": "gender",
        "age": "age"}``); binary columns are thresholded at 0.5.  Returns, per column, the agreement of
        the new labels with the old ones where both exist (binary) or their correlation (continuous).
        """
        self.use_renders(generator, predictor, n, seed)
        rows = self.rendered
        self.progress(f"relabel {', '.join(columns)} from {len(rows)} renders")
        pred = {k: v[rows] for k, v in self.scores.items()}
        agreement = {}
        for column, output in columns.items():
            old = self.labels.get(column, np.full(len(self.X), np.nan))
            binary = is_binary(old) if np.isfinite(old).any() else output != "age"
            new_vals = (pred[output] > 0.5).astype(np.float64) if binary else pred[output].astype(np.float64)
            both = np.isfinite(old[rows])
            if both.sum() > 2:
                agreement[column] = float(np.mean((old[rows][both] > 0.5) == (new_vals[both] > 0.5))) if binary \
                    else float(np.corrcoef(old[rows][both], new_vals[both])[0, 1])
            col = np.full(len(self.X), np.nan)
            col[rows] = new_vals
            self.labels[column] = col
        self._forget_fits()
        return agreement

    def report(self) -> dict[str, Any]:
        """Per direction: method, training score, levels, conditioning; and the cosine matrix."""
        from .directions import cosine_matrix

        names, M = cosine_matrix({k: e.direction for k, e in self.edits.items()})
        return {
            "edits": {k: {"method": e.method, "attribute": e.attribute, "train_score": e.score,
                          "levels": e.levels, "conditioned_on": e.conditioned_on} for k, e in self.edits.items()},
            "cosine": {"names": names, "matrix": M.round(3).tolist()},
        }


def training_subset(data: Any, limit: int | None = None) -> Any:
    """The training split of a FaceData, evenly thinned to at most ``limit`` faces (the same rows for
    ``build-defaults`` and the benchmark, so that a latents cache fits both)."""
    index = np.flatnonzero(~data.val)
    if limit and limit < len(index):  # evenly over the whole split (files are sorted, e.g. UTKFace by age)
        index = index[np.linspace(0, len(index) - 1, limit).round().astype(int)]
    return data.subset(index)


def build_default_set(
    encoder: Any,
    data: Any,
    out_dir: Any,
    model_id: str,
    config: Mapping[str, Any] | None = None,
    latents: np.ndarray | None = None,
    progress: Callable[[str], None] | None = None,
    generator: Any = None,
    predictor: Any = None,
) -> dict[str, Any]:
    """Encode the training faces of ``data`` (a FaceData; pass ``latents`` to skip encoding), build every
    translation, calibrate the strengths when a ``generator`` and an attribute ``predictor`` are given
    (:meth:`TranslationBuilder.calibrate`), write them to ``out_dir`` (a :class:`TranslationStore` folder)
    and ``build_report.json``.

    Returns the report (fit details, cosine matrix, names written).
    """
    from pathlib import Path

    from .directions import encode_images
    from ..io import save_json
    from .translations import TranslationStore

    train = training_subset(data)
    if latents is None:
        latents = encode_images(encoder, train.images)
    if len(latents) != len(train):
        raise DataError(f"{len(latents)} latents for {len(train)} training faces")
    builder = TranslationBuilder(latents, labels_from_facedata(train), model_id, config, progress=progress)
    relabel = builder.read_renders(generator, predictor) if generator is not None and predictor is not None else {}
    calibration = {}
    if generator is not None and predictor is not None and builder.cfg["calibrate"]:
        translations, calibration = builder.build_calibrated(generator, predictor)
    else:
        translations = builder.build()
    store = TranslationStore(Path(out_dir), model_id)
    for t in translations:
        store.save(t)
    report = {"model_id": model_id, "n_faces": int(len(latents)), "config": builder.cfg, **builder.report(),
              "render_label_agreement": relabel, "calibration": calibration, "conditioning": builder.selection,
              "written": sorted(t.name for t in translations)}
    save_json(Path(out_dir) / "build_report.json", report)
    return report

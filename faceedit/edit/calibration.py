"""Strength calibration of built translations: the part of :class:`~faceedit.edit.builder.TranslationBuilder`
that renders edits with the generator and reads them with the *fitting* attribute predictor.

Each translation is scaled by the smallest multiplier whose edit reaches its target on enough of the training
faces it is meant for (:meth:`Calibration.calibrate`); with several conditioning strengths, each translation keeps
the one whose calibrated edit moves the other predictor outputs least (:meth:`Calibration.build_calibrated`).
No identity network and no validator is read here: dlib's descriptor and the independent validator only
*measure* the result (:mod:`faceedit.measure.acceptance`).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .targets import HAIR_COLOURS, OWN_OUTPUTS, edit_reached
from .translations import VALUE_CODES, Translation

#: how many of the outputs most moved by a plain edit measure its entanglement (selection and benchmark)
ENTANGLEMENT_TOP = 3


def code_of(key: str) -> str:
    """The naming-convention code of an edit key or translation name (``Hc_1-3`` → ``Hc``, ``bald`` → ``bald``)."""
    return key.split("_")[0]


class Calibration:
    """Calibration methods mixed into :class:`~faceedit.edit.builder.TranslationBuilder`; they use its
    latents ``X``, label ``groups``, render ``scores``, settings ``cfg``, ``fit()`` / ``build()`` and the
    generator / predictor it was given (:meth:`~faceedit.edit.builder.TranslationBuilder.use_renders`)."""

    def _calibration_faces(self, name: str, order: np.ndarray, faces: int) -> tuple[np.ndarray, np.ndarray | None]:
        """The training rows (first ``faces`` in ``order``) a translation is calibrated on and their current
        value of the code (None for cursors and ``bald``): the faces the edit is meant for.  A sex edit uses,
        when the renders were read (:meth:`use_renders`), only faces whose render the predictor reads as the
        other sex: a face already read as the target sex would count as a success without any edit."""
        from .translations import parse_name

        p = parse_name(name)
        if p.kind == "cursor":
            return order[:faces], None
        if p.kind == "bald":
            return order[np.isin(self.groups["Hc"][order], list(HAIR_COLOURS))][:faces], None
        g = self.groups[p.code][order]
        sel = g == p.from_value if p.kind == "from" else np.isin(g, [v for v in VALUE_CODES[p.code] if v != p.value])
        if p.code == "Se" and self.scores:
            female = self.scores["gender"][order]
            sel &= np.isfinite(female) & ((female > 0.5) != bool(int(p.value)))
        idx = order[sel][:faces]
        return idx, self.groups[p.code][idx]

    def person_distance(self, pairs: int = 4000, seed: int = 0) -> float:
        """The median W+ distance (Frobenius) between the latents of two random training faces of different
        people (rows of different label groups are not told apart: random pairs are almost always two
        people); the unit of ``calibration_max_step``."""
        if self._person_distance is None:
            rng = np.random.default_rng(seed)
            n = len(self.X)
            a, b = rng.integers(0, n, pairs), rng.integers(0, n, pairs)
            keep = a != b
            d = np.linalg.norm((self.X[a[keep]] - self.X[b[keep]]).reshape(int(keep.sum()), -1), axis=1)
            self._person_distance = float(np.median(d))
        return self._person_distance

    def calibrate(self, translations: Sequence[Translation], generator: Any, predictor: Any,
                  multipliers: Sequence[float] | None = None, rate: float | None = None, faces: int | None = None,
                  seed: int = 0) -> dict[str, dict[str, float]]:
        """Scale each translation by the smallest multiplier whose edit reaches its target
        (:func:`edit_reached`, attribute predictor on generated renders) on ``rate`` of up to ``faces``
        training faces that need it (:meth:`_calibration_faces`), else by the multiplier with the best rate
        (the first one when none reaches the target on any face).
        ``multipliers``, ``rate`` and ``faces`` default to ``calibration_multipliers``, ``calibration_rate``
        and ``calibration_faces``.  Codes listed in ``calibration_extra`` then try larger multipliers while
        the rate still grows, the W+ step stays under ``calibration_max_step`` of the distance between two
        people (:meth:`person_distance`) and the predicted sex of at most ``calibration_max_sex_flips`` of the
        faces flips.  No identity network is read: dlib's descriptor only measures the result.

        Modifies the deltas in place (sidecar ``calibration``); returns name → {multiplier, success, ...}.
        """
        from tqdm import tqdm

        from ..measure.edits import flatten_predictions
        from ..synthesis import synthesize

        multipliers = list(multipliers or self.cfg["calibration_multipliers"])
        rate = self.cfg["calibration_rate"] if rate is None else rate
        faces = faces or self.cfg["calibration_faces"]
        order = np.random.default_rng(seed).permutation(len(self.X))
        chosen = {t.name: self._calibration_faces(t.name, order, faces) for t in translations}
        self.calibrated_on.update({name: idx for name, (idx, _) in chosen.items()})
        pool = np.unique(np.concatenate([i for i, _ in chosen.values()] or [np.zeros(0, int)]))
        self.progress(f"calibrate {len(translations)} translations on {len(pool)} faces")
        renders = synthesize(generator, self.X[pool])
        base_all = flatten_predictions(predictor.predict(renders))
        where = {int(i): k for k, i in enumerate(pool)}

        def success(t: Translation, idx: np.ndarray, cur: np.ndarray | None, base: dict,
                    m: float) -> tuple[float, dict[str, np.ndarray]]:
            pred = flatten_predictions(predictor.predict(synthesize(generator, self.X[idx] + np.float32(m) * t.delta)))
            ok = np.zeros(len(idx), bool)
            for c in ([None] if cur is None else np.unique(cur)):
                sel = np.ones(len(idx), bool) if c is None else cur == c
                ok[sel] = edit_reached(t.parsed.target, None if c is None else int(c), base, pred)[sel]
            return float(ok.mean()), pred

        result: dict[str, dict[str, float]] = {}
        for t in tqdm(translations, desc="calibrate", unit="translation"):
            idx, cur = chosen[t.name]
            if len(idx) < 4:
                continue
            rows = np.array([where[int(i)] for i in idx])
            base = {k: v[rows] for k, v in base_all.items()}
            best = (multipliers[0], 0.0)  # no multiplier helps at all: do not amplify
            for m in multipliers:
                rate_m, _ = success(t, idx, cur, base, m)
                if rate_m > best[1] or rate_m >= rate:
                    best = (m, rate_m)
                if rate_m >= rate:
                    break
            info: dict[str, Any] = {}
            extra = [m for m in self.cfg["calibration_extra"].get(code_of(t.name), []) if m > multipliers[-1]]
            if cur is not None and len(np.unique(np.sign(cur - int(t.parsed.value)))) > 1:
                extra = []  # a middle value (A_1) moves faces from both sides: no one stronger shift serves both
            if best[1] < rate and best[0] == multipliers[-1] and extra:
                max_step = float(self.cfg["calibration_max_step"]) * self.person_distance()
                norm = float(np.linalg.norm(t.delta))
                for m in extra:
                    if m * norm > max_step:
                        break
                    rate_m, pred = success(t, idx, cur, base, m)
                    flips = float(np.mean((pred["gender"] > 0.5) != (base["gender"] > 0.5)))
                    if flips > self.cfg["calibration_max_sex_flips"] or rate_m <= best[1]:
                        break
                    best, info = (m, rate_m), {"step": m * norm / self.person_distance(), "sex_flips": flips}
                    if rate_m >= rate:
                        break
            t.delta = (t.delta * np.float32(best[0])).astype(np.float32)
            t.meta["calibration"] = {"multiplier": best[0], "success": best[1], "faces": int(len(idx)),
                                     "rate": rate, **info}
            result[t.name] = t.meta["calibration"]
        return result

    def build_calibrated(self, generator: Any, predictor: Any,
                         names: Sequence[str] | None = None) -> tuple[list[Translation], dict[str, dict[str, Any]]]:
        """:meth:`build` then :meth:`calibrate` (only ``names`` when given); returns the translations and the
        calibration.  With conditioning, renders (:meth:`use_renders`) and several ``condition_min_cos``
        values, each translation is made and calibrated once per value and keeps the one whose edit moves
        least, on its calibration faces, the :data:`ENTANGLEMENT_TOP` predictor outputs (not its own) that
        the calibrated plain edit moves most, among the values that reach ``calibration_rate`` or come within
        ``condition_success_margin`` of the best success: a conditioning that costs so much strength that the
        edit ends up more entangled gives way to a lighter one.  The choice goes in the sidecar (``conditioning``) and
        :attr:`selection`."""
        def made() -> list[Translation]:
            return [t for t in self.fit().build() if names is None or t.name in names]

        values = self._min_cos_values()
        if not self.cfg["conditional"] or len(values) == 1 or not self.scores:
            self.min_cos = values[0]
            translations = made()
            return translations, self.calibrate(translations, generator, predictor)
        plain = self.calibrated_plain(generator, predictor, names)
        variants = {}
        for v in values:
            self.min_cos = v
            variants[v] = {t.name: t for t in made()}
            self.calibrate(list(variants[v].values()), generator, predictor)
            if v == values[0]:
                first_edits = dict(self.edits)
        self.min_cos, self.edits = values[0], first_edits  # report() describes the first value's edits
        rate = self.cfg["calibration_rate"]
        out: list[Translation] = []
        for t_plain in plain:
            name = t_plain.name
            cands = {v: variants[v][name] for v in values}
            if len(self.calibrated_on.get(name, ())) < 4:  # too few faces to calibrate or compare on
                out.append(cands[values[0]])
                continue
            moves = self._output_moves(name, [t_plain.delta] + [c.delta for c in cands.values()])
            top = sorted(moves[0], key=lambda o: -moves[0][o])[:ENTANGLEMENT_TOP]
            score = {v: float(np.mean([m[o] for o in top])) for v, m in zip(values, moves[1:])}
            success = {v: cands[v].meta.get("calibration", {}).get("success", 0.0) for v in values}
            bar = min(rate, max(success.values()) - float(self.cfg["condition_success_margin"]))
            best = min((v for v in values if success[v] >= bar), key=lambda v: score[v])
            t = cands[best]
            t.meta["conditioning"] = {"min_cos": best, "outputs": top, "plain": float(np.mean([moves[0][o] for o in top])),
                                      "tried": {str(v): score[v] for v in values},
                                      "success": {str(v): success[v] for v in values}}
            self.selection[name] = t.meta["conditioning"]
            out.append(t)
        return out, {t.name: t.meta["calibration"] for t in out if "calibration" in t.meta}

    def calibrated_plain(self, generator: Any, predictor: Any,
                         names: Sequence[str] | None = None) -> list[Translation]:
        """The unconditioned translations (only ``names`` when given), calibrated: the reference
        :meth:`build_calibrated` compares the conditioned ones with (cached until the fits change)."""
        missing = None if names is None else [n for n in names if n not in self.plain_calibrated]
        if missing is None or missing:
            conditional = self.cfg["conditional"]
            self.cfg["conditional"] = False
            try:
                made = [t for t in self.fit().build() if missing is None or t.name in missing]
                self.calibrate(made, generator, predictor)
            finally:
                self.cfg["conditional"] = conditional
            self.plain_calibrated.update({t.name: t for t in made})
        return [t for name, t in self.plain_calibrated.items() if names is None or name in names]

    def _output_moves(self, name: str, deltas: Sequence[np.ndarray]) -> list[dict[str, float]]:
        """For each delta, the mean |change| of every predictor output not of ``name``'s code on the faces
        ``name`` was calibrated on, in standard deviations of that output over the rendered faces."""
        from ..measure.edits import flatten_predictions
        from ..synthesis import synthesize

        idx = self.calibrated_on[name]
        base = flatten_predictions(self.predictor.predict(synthesize(self.generator, self.X[idx])))
        own = OWN_OUTPUTS[code_of(name)]
        out = []
        for delta in deltas:
            pred = flatten_predictions(self.predictor.predict(synthesize(self.generator, self.X[idx] + delta)))
            out.append({o: float(np.mean(np.abs(v - base[o])) / (np.nanstd(self.scores[o]) + 1e-6))
                        for o, v in pred.items() if o not in own})
        return out

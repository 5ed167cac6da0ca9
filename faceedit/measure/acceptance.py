"""Accept or reject translations on an independent model's reading of held-out faces (issue 19, target 3).

The translations are fitted and calibrated with the attribute predictor, so that predictor cannot also say
whether they work.  Here every translation a challenge target would select is applied to encoded held-out
faces whose current value of the code is known, the edited renders are read by a *judge* (the validator,
:mod:`faceedit.models.validator`; the fitting predictor is read beside it for comparison only), and the
issue's bar decides: sex edits flip >= 80 % of the faces read as the other sex, age edits move >= 10 years
the intended way on average, every other code moves its attribute the intended way on >= 80 %.  A
translation whose measure reads an output the judge may not judge (``judge.judged()``) is "not judged".

:func:`accept_translations` returns one :class:`Verdict` per translation; :func:`record_verdicts` writes
them into the sidecars (``validation``) so that the editor, the pipeline and the model card can say which
shipped edits an independent model agrees with.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from .edits import flatten_predictions
from ..synthesis import synthesize
from ..edit.targets import AGE_EDIT_YEARS, target_measure
from ..edit.translations import BALD, BALD_VALUES, CURSOR_CODES, VALUE_CODES, TranslationStore, candidate_names

#: the share of faces an edit must move the intended way (sex: flip) to be accepted
ACCEPT_RATE = 0.8

Job = tuple[str, "int | None", np.ndarray]


@dataclass
class Verdict:
    """One translation's reading by the judge (and by the fitting predictor, when given)."""

    name: str
    target: str
    faces: int
    success_judge: float  # share moved the intended way (sex edits: share flipped)
    mean_change_judge: float  # mean change of the target's measure (age: years)
    verdict: str  # "accepted", "rejected (...)" or "not judged (...)"
    success_fitting: float = float("nan")
    judge: str = ""

    @property
    def accepted(self) -> bool:
        return self.verdict == "accepted"

    @property
    def judged(self) -> bool:
        return not self.verdict.startswith("not judged")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def spread(idx: np.ndarray, k: int) -> np.ndarray:
    """At most ``k`` of ``idx``, evenly spread (held-out files are sorted by source and name)."""
    return idx if len(idx) <= k else idx[np.linspace(0, len(idx) - 1, k).round().astype(int)]


def acceptance_groups(labels: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Each code's current value per held-out face (:func:`~faceedit.edit.targets.code_groups`), with
    sex edits judged on adults only (label age >= :data:`~faceedit.train.attributes.ADULT_AGE` or unknown, i.e.
    CelebA): the population they are made for, and the one the validator's gender bar is measured on."""
    from ..train.attributes import ADULT_AGE
    from ..edit.targets import code_groups

    groups = {c: code_groups(labels, c) for c in (*VALUE_CODES, *CURSOR_CODES)}
    age = np.asarray(labels.get("age", np.full(len(groups["Se"]), np.nan)), dtype=np.float64)
    groups["Se"] = np.where(age < ADULT_AGE, np.nan, groups["Se"])  # NaN age compares False: kept
    return groups


def challenge_jobs(groups: Mapping[str, np.ndarray], n: int) -> list[Job]:
    """(target, current value or None, face indices) for every target the challenge asks for, on faces whose
    current value of the code (``groups[code]``) is known; cursors and ``bald`` use every face."""
    jobs: list[Job] = []
    for code, values in VALUE_CODES.items():
        g = groups[code]
        currents = list(values) + ([BALD_VALUES[code]] if code in BALD_VALUES else [])
        for cur in currents:
            idx = np.flatnonzero(g == cur)
            if len(idx):
                jobs += [(f"{code}_{new}", cur, idx) for new in values if new != cur]
    notbald = np.flatnonzero(np.isin(groups["Hc"], list(VALUE_CODES["Hc"])))
    if len(notbald):
        jobs.append((BALD, None, notbald))
    jobs += [(f"{code}_{end}", None, np.arange(n)) for code in CURSOR_CODES for end in ("min", "max")]
    return jobs


def read_edits(generator: Any, reader: Any, latents: np.ndarray, base: Mapping[str, np.ndarray],
               jobs: Sequence[Job], store: TranslationStore, max_faces: int) -> dict[str, dict[str, Any]]:
    """Apply the translation each job selects (the challenge's selection rules) and read the renders with
    ``reader``; per translation name: target, current value, faces, successes, changes, predictions, rows."""
    rows: dict[str, dict[str, Any]] = {}
    for target, cur, idx in jobs:
        idx = spread(idx, max_faces)
        names = candidate_names(target, {target.split("_")[0]: cur}) if cur is not None else [target]
        name = next((nm for nm in names if nm in store), None)
        if name is None:
            continue
        pred = flatten_predictions(reader.predict(synthesize(generator, latents[idx] + store.get(name).delta)))
        fn, sign = target_measure(target, cur)
        change = np.asarray(fn(pred)) - np.asarray(fn({k: v[idx] for k, v in base.items()}))
        row = rows.setdefault(name, {"target": target, "cur": cur, "n": 0, "ok": 0, "change": [], "pred": [],
                                     "idx": []})
        row["n"] += len(idx)
        row["ok"] += int(np.sum(sign * change > 0))
        row["change"].append(change)
        row["pred"].append(pred)
        row["idx"].append(idx)
    return rows


class _Reads(dict):
    """Predictions that remember which outputs were read (what a target's measure depends on)."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return super().__getitem__(key)


def outputs_read(target: str, cur: int | None, pred: Mapping[str, np.ndarray]) -> set[str]:
    """The ``predict()`` outputs (``race`` for its columns) the measure of ``target`` reads."""
    fn, _ = target_measure(target, cur)
    reads = _Reads(pred)
    fn(reads)
    return {"race" if k.startswith("race_") else k for k in reads.read}


def verdicts(rows_judge: Mapping[str, dict], base_judge: Mapping[str, np.ndarray], judged: Sequence[str],
             rows_fitting: Mapping[str, dict] | None = None, judge: str = "") -> dict[str, Verdict]:
    """The issue's bar on the judge's reading (:func:`read_edits` rows), per translation."""
    out: dict[str, Verdict] = {}
    for name in sorted(rows_judge):
        r = rows_judge[name]
        target, code = r["target"], r["target"].split("_")[0]
        change = np.concatenate(r["change"])
        rate = r["ok"] / max(1, r["n"])
        if code == "Se":  # flips among the faces read as the other sex before the edit
            idx = np.concatenate(r["idx"])
            after = np.concatenate([p["gender"] for p in r["pred"]])
            new = bool(int(target.split("_")[1]))
            was_other = (base_judge["gender"][idx] > 0.5) != new
            rate = float(((after > 0.5) == new)[was_other].mean()) if was_other.any() else float("nan")
        missing = outputs_read(target, r["cur"], r["pred"][0]) - set(judged)
        if missing:
            verdict = "not judged (" + ", ".join(sorted(missing)) + ")"
        elif code == "A":
            moved = target_measure(target, r["cur"])[1] * float(change.mean())
            verdict = "accepted" if moved >= AGE_EDIT_YEARS else f"rejected ({moved:+.1f} years the intended way)"
        else:
            verdict = "accepted" if rate >= ACCEPT_RATE else f"rejected ({100 * rate:.0f} % < {100 * ACCEPT_RATE:.0f} %)"
        f = (rows_fitting or {}).get(name)
        out[name] = Verdict(name, target, int(r["n"]), float(rate), float(change.mean()), verdict,
                            f["ok"] / max(1, f["n"]) if f else float("nan"), judge)
    return out


def accept_translations(generator: Any, encoder: Any, judge: Any, images: np.ndarray,
                        groups: Mapping[str, np.ndarray], store: TranslationStore, max_faces: int = 200,
                        fitting: Any = None, latents: np.ndarray | None = None) -> dict[str, Verdict]:
    """Encode the held-out ``images`` (or take their ``latents``), apply every translation a challenge
    target selects from ``store`` and return the judge's verdicts; ``fitting`` (the fitting predictor) is
    read beside it for comparison only.  ``groups``: each code's current value per face (NaN unknown)."""
    from ..edit.directions import encode_images

    W = encode_images(encoder, images, progress=False) if latents is None else latents
    renders = synthesize(generator, W)
    jobs = challenge_jobs(groups, len(W))
    base = flatten_predictions(judge.predict(renders))
    rows = read_edits(generator, judge, W, base, jobs, store, max_faces)
    rows_fit = None
    if fitting is not None:
        base_fit = flatten_predictions(fitting.predict(renders))
        rows_fit = read_edits(generator, fitting, W, base_fit, jobs, store, max_faces)
    judged = judge.judged() if hasattr(judge, "judged") else list(base)
    name = str(getattr(judge, "meta", {}).get("model_id", "") or type(judge).__name__)
    return verdicts(rows, base, judged, rows_fit, name)


def record_verdicts(store: TranslationStore, found: Mapping[str, Verdict]) -> list[str]:
    """Write each verdict into its translation's sidecar (``validation``); returns the names written."""
    written = []
    for name, v in found.items():
        if name in store:
            t = store.get(name)
            t.meta["validation"] = {k: val for k, val in v.to_dict().items() if k != "name"}
            store.save(t)
            written.append(name)
    return written

"""What each challenge code means in labels and in an attribute reader's outputs.

The one place that maps the naming convention (:mod:`faceedit.edit.naming`) to data: which label column or group a
face has for each code (:func:`labels_from_facedata`, :func:`code_groups`), which predictor outputs belong to a
code (:data:`OWN_OUTPUTS`), how an edit towards a target is measured (:func:`target_measure`) and when it has
reached it (:func:`edit_reached`).  The translation builder fits and calibrates with these, and
:mod:`faceedit.measure.acceptance` judges with the same measures on another model's reading.

Label → code mapping (documented choices): Sk 0 light (UTKFace White, CelebA Pale_Skin), 1 medium
(Indian, Others), 2 dark (Black); Asian faces are left out of the skin-tone fit.  A 0 < 30 years, 1 30-54,
2 >= 55 (children under 16 left out).  Se 0 male, 1 female.  Hc 0 Black_Hair, 1 Blond_Hair, 2 Brown_Hair,
3 Gray_Hair (faces with exactly one colour).  Hs 0 Straight_Hair, 1 Wavy_Hair (exactly one).
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

import numpy as np

from ..errors import DataError
from .naming import BALD, BALD_VALUES

#: CelebA attribute of each cursor code
CURSOR_ATTRIBUTES: dict[str, str] = {
    "Be": "Bags_Under_Eyes", "N": "Narrow_Eyes", "Pn": "Pointy_Nose", "Bp": "Big_Lips", "Bn": "Big_Nose",
    "Ch": "Chubby",
}
#: CelebA attribute of each hair colour value
HAIR_COLOURS: dict[int, str] = {0: "Black_Hair", 1: "Blond_Hair", 2: "Brown_Hair", 3: "Gray_Hair"}
#: CelebA attribute of each hair shape value
HAIR_SHAPES: dict[int, str] = {0: "Straight_Hair", 1: "Wavy_Hair"}
#: skin tone of each UTKFace race (None: left out)
RACE_SKIN: dict[int, int | None] = {0: 0, 1: 2, 2: None, 3: 1, 4: 1}
#: age groups: (value, lowest age, highest age exclusive)
AGE_GROUPS: tuple[tuple[int, float, float], ...] = ((0, 16, 30), (1, 30, 55), (2, 55, 200))
#: codes whose values are ordered along their direction (skin tone light → dark, age young → old)
ORDINAL_CODES = ("Sk", "A")
#: binary value codes and their CelebA attribute (1 = attribute present)
BINARY_CODES: dict[str, str] = {"B": "Bangs", "D": "Double_Chin"}

#: predictor outputs that belong to each code's own attribute (never counted or removed as entanglement)
OWN_OUTPUTS: dict[str, list[str]] = {
    "A": ["age", "Young"], "Se": ["gender", "Male"],
    "Sk": ["race_0", "race_1", "race_2", "race_3", "race_4", "Pale_Skin"],
    "Hc": list(HAIR_COLOURS.values()), "Hs": ["Wavy_Hair", "Straight_Hair"], "B": ["Bangs"], "D": ["Double_Chin"],
    BALD: ["Bald", "Receding_Hairline"], **{c: [a] for c, a in CURSOR_ATTRIBUTES.items()},
}


def labels_from_facedata(data: Any) -> dict[str, np.ndarray]:
    """Label columns of a :class:`faceedit.train.data.FaceData` (float, NaN = unknown): the 40 CelebA
    attributes by name, ``age``, ``female`` (UTKFace gender or 1 - CelebA Male) and ``race``."""
    from ..train.data import CELEBA_ATTRIBUTES

    out = {name: data.attrs[:, i].astype(np.float64) for i, name in enumerate(CELEBA_ATTRIBUTES)}
    out["age"] = data.age.astype(np.float64)
    female = data.gender.astype(np.float64)
    male = out["Male"]
    out["female"] = np.where(np.isfinite(female), female, 1.0 - male)
    out["race"] = np.where(data.race >= 0, data.race, np.nan).astype(np.float64)
    return out


def _col(labels: Mapping[str, np.ndarray], name: str, n: int) -> np.ndarray:
    v = labels.get(name)
    return np.full(n, np.nan) if v is None else np.asarray(v, dtype=np.float64)


def code_groups(labels: Mapping[str, np.ndarray], code: str) -> np.ndarray:
    """The value of ``code`` for each face (NaN = unknown); Hc/Hs include the bald value (4 / 2)."""
    n = len(next(iter(labels.values())))
    g = np.full(n, np.nan)
    if code == "Sk":
        race = _col(labels, "race", n)
        for r, sk in RACE_SKIN.items():
            if sk is not None:
                g[race == r] = sk
        g[_col(labels, "Pale_Skin", n) == 1] = 0
    elif code == "A":
        age = _col(labels, "age", n)
        for value, lo, hi in AGE_GROUPS:
            g[(age >= lo) & (age < hi)] = value
    elif code == "Se":
        g = _col(labels, "female", n).copy()
    elif code in BINARY_CODES:
        g = _col(labels, BINARY_CODES[code], n).copy()
    elif code in ("Hc", "Hs"):
        table = HAIR_COLOURS if code == "Hc" else HAIR_SHAPES
        cols = np.stack([_col(labels, a, n) for a in table.values()], axis=1)
        one = np.nansum(cols == 1, axis=1) == 1
        g[one] = np.array(list(table))[np.argmax(cols[one] == 1, axis=1)]
        g[_col(labels, "Bald", n) == 1] = BALD_VALUES[code]
    elif code in CURSOR_ATTRIBUTES:
        g = _col(labels, CURSOR_ATTRIBUTES[code], n).copy()
    else:
        raise DataError(f"no label mapping for code {code!r}")
    return g


#: skin tone score of each UTKFace race when measuring edits (Asian in the middle of light and medium)
RACE_SKIN_SCORE: dict[int, float] = {0: 0.0, 1: 2.0, 2: 0.5, 3: 1.0, 4: 1.0}


def target_measure(target: str, current: int | None = None) -> tuple[Callable[[Mapping[str, np.ndarray]], np.ndarray], float]:
    """How to check an edit with the attribute predictor: ``(score function of the (flattened) predictions,
    intended sign)``.  ``current`` is the face's value of the code (needed for ``{c}_{v}`` targets)."""
    from .translations import parse_name

    p = parse_name(target)
    if p.kind == "bald":
        return (lambda pr: pr["Bald"]), 1.0
    if p.kind == "cursor":
        attr = CURSOR_ATTRIBUTES[p.code]
        return (lambda pr, a=attr: pr[a]), (1.0 if p.value == "max" else -1.0)
    code, new = p.code, int(p.value)
    if code == "Hc":  # towards the new colour, whatever the old one
        return (lambda pr, a=HAIR_COLOURS[new]: pr[a]), 1.0
    if current is None:
        raise DataError(f"{target}: the face's current {code} value is needed to know the intended direction")
    if code == "Hs" and current == BALD_VALUES["Hs"]:  # from bald: more hair of that shape
        return (lambda pr, a=HAIR_SHAPES[new]: pr[a]), 1.0
    sign = 1.0 if new > current else -1.0
    if code == "Sk":
        return (lambda pr: sum(w * pr[f"race_{r}"] for r, w in RACE_SKIN_SCORE.items())), sign
    if code == "A":
        return (lambda pr: pr["age"]), sign
    if code == "Se":
        return (lambda pr: pr["gender"]), sign
    if code == "Hs":
        return (lambda pr: pr["Wavy_Hair"] - pr["Straight_Hair"]), sign
    return (lambda pr, a=BINARY_CODES[code]: pr[a]), sign


#: an age edit must move the predicted age by at least this many years (the issue's bar)
AGE_EDIT_YEARS = 10.0


def edit_reached(target: str, current: int | None, base: Mapping[str, np.ndarray],
                 edited: Mapping[str, np.ndarray]) -> np.ndarray:
    """Per face, whether an edit did what the calibration asks: a sex edit flips the predicted gender, an
    age edit moves the predicted age by :data:`AGE_EDIT_YEARS` the right way, any other edit moves its
    attribute score the intended way (:func:`target_measure`)."""
    code = target.split("_")[0]
    if code == "Se":
        female = edited["gender"] > 0.5
        return female if target.endswith("_1") else ~female
    fn, sign = target_measure(target, current)
    change = sign * (np.asarray(fn(edited)) - np.asarray(fn(base)))
    return change >= AGE_EDIT_YEARS if code == "A" else change > 0

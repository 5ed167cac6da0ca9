"""The Ceteris Paribus Face Challenge naming convention: translation names, reference labels, targets.

Naming convention::

    {c}_{min|max}       cursor  c in Be N Pn Bp Bn Ch          e.g. Be_min
    {c}_{v}             to value v (generic)                   e.g. Hc_0, A_2
    {c}_{new}_fr_{old}  from one value (overrides the generic)  e.g. A_0_fr_1, Hc_1_fr_4
    bald                make the face bald

Value codes: Sk skin tone 0-2, A age 0-2, Se sex 0-1, B bangs 0-1, Hc hair colour 0 black 1 blond
2 brown 3 gray, D double chin 0-1, Hs hair shape 0 straight 1 curly.  In reference labels (file names
``Sk_A_Se_C_P_B_Hc_D_Hs.png``, e.g. ``1_1_0_0_1_0_4_1_2.png``) ``Hc`` 4 and ``Hs`` 2 mean bald, and C and P
are indicative only.  gan-face-editing saves the bald translation as ``Hc_4`` (:data:`FILE_ALIASES`).

Targets (:func:`required_targets`): a non-bald face gets 24 (every other value of Sk, A, Se, B, D; the 12
cursors; the 3 other hair colours; the other hair shape; ``bald``), a bald face 25 (the same without
``bald``, with all four ``Hc_v`` and both ``Hs_v``); :func:`candidate_names` lists the translation names
that can produce a target, best first.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from ..errors import InvalidTranslationName

# ----------------------------------------------------------------------------------------------------
# the naming convention
# ----------------------------------------------------------------------------------------------------

#: value codes -> the values a translation may go TO
VALUE_CODES: dict[str, tuple[int, ...]] = {
    "Sk": (0, 1, 2),
    "A": (0, 1, 2),
    "Se": (0, 1),
    "B": (0, 1),
    "Hc": (0, 1, 2, 3),
    "D": (0, 1),
    "Hs": (0, 1),
}
#: cursor codes (only ``_min`` / ``_max``)
CURSOR_CODES: tuple[str, ...] = ("Be", "N", "Pn", "Bp", "Bn", "Ch")
#: the name of the bald translation
BALD = "bald"
#: the bald value of Hc and Hs in reference labels (and as the ``old`` value of ``_fr_`` names)
BALD_VALUES: dict[str, int] = {"Hc": 4, "Hs": 2}
#: order of the labels in a reference file name
REFERENCE_ORDER: tuple[str, ...] = ("Sk", "A", "Se", "C", "P", "B", "Hc", "D", "Hs")
#: values allowed in reference labels
REFERENCE_VALUES: dict[str, tuple[int, ...]] = {
    **VALUE_CODES,
    "Hc": (0, 1, 2, 3, 4),
    "Hs": (0, 1, 2),
    "C": (0, 1),
    "P": (0, 1),
}
#: human names of the codes (for messages, menus and sidecars)
CODE_NAMES: dict[str, str] = {
    "Sk": "skin tone", "A": "age", "Se": "sex", "B": "bangs", "Hc": "hair colour", "D": "double chin",
    "Hs": "hair shape", "Be": "bags under eyes", "N": "narrow eyes", "Pn": "pointy nose", "Bp": "big lips",
    "Bn": "big nose", "Ch": "chubby",
}
# order of the targets of one face
_TARGET_ORDER: tuple[str, ...] = ("Sk", "A", "Se", "B", "D", "Hc", "Hs")

_RULES = (
    "names are '{c}_min'/'{c}_max' for a cursor c in " + ", ".join(CURSOR_CODES)
    + "; '{c}_{v}' or '{c}_{new}_fr_{old}' for c in " + ", ".join(VALUE_CODES) + "; or 'bald'"
)


@dataclass(frozen=True)
class TranslationName:
    """A parsed translation name.

    ``kind`` is ``"cursor"`` (``value`` is ``"min"``/``"max"``), ``"value"`` (generic ``{c}_{v}``),
    ``"from"`` (``{c}_{new}_fr_{old}``, ``from_value`` set), ``"bald"`` or ``"free"`` (a name outside the
    convention, only with ``allow_free``).
    """

    name: str
    kind: str
    code: str | None = None
    value: int | str | None = None
    from_value: int | None = None

    @property
    def target(self) -> str:
        """The output name this translation produces (``A_0_fr_1`` -> ``A_0``)."""
        if self.kind == "from":
            return f"{self.code}_{self.value}"
        return self.name


def _int_token(token: str, name: str, what: str) -> int:
    if not token.isdigit():
        raise InvalidTranslationName(f"{name!r}: {what} {token!r} is not a number ({_RULES})")
    return int(token)


def parse_name(name: str, allow_free: bool = False) -> TranslationName:
    """Parse and validate a translation name; errors name the rule that is broken.

    A name whose first ``_``-token is not a known code is a *free* name when ``allow_free`` is true
    (any ``[A-Za-z0-9_-]`` name), else an error.
    """
    if not isinstance(name, str) or not name:
        raise InvalidTranslationName(f"empty translation name ({_RULES})")
    if name == BALD:
        return TranslationName(name, "bald")
    tokens = name.split("_")
    code = tokens[0]
    if code not in VALUE_CODES and code not in CURSOR_CODES:
        if allow_free and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]*", name):
            return TranslationName(name, "free")
        known = ", ".join([*VALUE_CODES, *CURSOR_CODES, BALD])
        raise InvalidTranslationName(f"{name!r}: unknown code {code!r} (known codes: {known}; {_RULES})")
    if code in CURSOR_CODES:
        if len(tokens) != 2 or tokens[1] not in ("min", "max"):
            raise InvalidTranslationName(
                f"{name!r}: {code} ({CODE_NAMES[code]}) is a cursor: only '{code}_min' and '{code}_max' "
                "exist (cursors have no values and no '_fr_' variants)"
            )
        return TranslationName(name, "cursor", code, tokens[1])
    allowed = VALUE_CODES[code]
    if len(tokens) == 2:
        value = _int_token(tokens[1], name, "value")
        _check_target_value(name, code, value)
        return TranslationName(name, "value", code, value)
    if len(tokens) == 4 and tokens[2] == "fr":
        value = _int_token(tokens[1], name, "value")
        old = _int_token(tokens[3], name, "'from' value")
        _check_target_value(name, code, value)
        if old not in REFERENCE_VALUES[code]:
            raise InvalidTranslationName(
                f"{name!r}: {code} ({CODE_NAMES[code]}) 'from' value must be one of "
                f"{list(REFERENCE_VALUES[code])}; got {old}"
            )
        if old == value:
            raise InvalidTranslationName(f"{name!r}: a '_fr_' translation must change the value ({value} -> {old})")
        return TranslationName(name, "from", code, value, old)
    raise InvalidTranslationName(
        f"{name!r}: {code} ({CODE_NAMES[code]}) takes '{code}_{{v}}' or '{code}_{{new}}_fr_{{old}}' with v in "
        f"{list(allowed)}"
    )


def _check_target_value(name: str, code: str, value: int) -> None:
    if value in VALUE_CODES[code]:
        return
    hint = ""
    if BALD_VALUES.get(code) == value:
        hint = f" ({code} {value} means bald: use the name '{BALD}')"
    raise InvalidTranslationName(
        f"{name!r}: {code} ({CODE_NAMES[code]}) value must be one of {list(VALUE_CODES[code])}; got {value}{hint}"
    )


def parse_reference_labels(name: str | os.PathLike) -> dict[str, int]:
    """Labels of a reference face from its file name ``Sk_A_Se_C_P_B_Hc_D_Hs[.png]``.

    ``"1_1_0_0_1_0_4_1_2.png"`` -> ``{"Sk": 1, "A": 1, "Se": 0, "C": 0, "P": 1, "B": 0, "Hc": 4, "D": 1,
    "Hs": 2}``.  A path is accepted (its stem is used).  Hc 4 (bald) and Hs 2 (bald) must go together.
    """
    stem = Path(name).name
    for ext in (".png", ".jpg", ".jpeg", ".npy", ".webp"):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    tokens = stem.split("_")
    order = "_".join(REFERENCE_ORDER)
    if len(tokens) != len(REFERENCE_ORDER):
        raise InvalidTranslationName(
            f"{stem!r}: a reference name has {len(REFERENCE_ORDER)} values {order}; got {len(tokens)}"
        )
    labels: dict[str, int] = {}
    for code, token in zip(REFERENCE_ORDER, tokens):
        if not token.isdigit():
            raise InvalidTranslationName(f"{stem!r}: value of {code} is {token!r}, not a number ({order})")
        labels[code] = int(token)
    return validate_labels(labels, source=stem)


def validate_labels(labels: Mapping[str, int], source: str = "labels") -> dict[str, int]:
    """Check a label dict (``Sk, A, Se, B, Hc, D, Hs`` required; ``C, P`` optional); return a clean copy."""
    out: dict[str, int] = {}
    for code in REFERENCE_ORDER:
        if code not in labels:
            if code in ("C", "P"):
                continue
            raise InvalidTranslationName(f"{source}: missing label {code} ({CODE_NAMES.get(code, code)})")
        try:
            value = int(labels[code])
        except (TypeError, ValueError):
            raise InvalidTranslationName(f"{source}: label {code} is {labels[code]!r}, not a number") from None
        if value not in REFERENCE_VALUES[code]:
            raise InvalidTranslationName(
                f"{source}: label {code} must be one of {list(REFERENCE_VALUES[code])}; got {value}"
            )
        out[code] = value
    if (out["Hc"] == BALD_VALUES["Hc"]) != (out["Hs"] == BALD_VALUES["Hs"]):
        raise InvalidTranslationName(
            f"{source}: a bald face has Hc {BALD_VALUES['Hc']} and Hs {BALD_VALUES['Hs']} together; "
            f"got Hc {out['Hc']} and Hs {out['Hs']}"
        )
    return out


def is_bald(labels: Mapping[str, int]) -> bool:
    """True for a bald reference face (Hc 4 / Hs 2)."""
    return int(labels["Hc"]) == BALD_VALUES["Hc"]


def required_targets(labels: Mapping[str, int] | str | os.PathLike) -> list[str]:
    """The exact list of output names a reference face needs (24 for a non-bald face, 25 for a bald one).

    ``labels`` is a label dict or a reference file name.
    """
    labels = parse_reference_labels(labels) if isinstance(labels, (str, os.PathLike)) else validate_labels(labels)
    targets = [
        f"{code}_{v}" for code in _TARGET_ORDER for v in VALUE_CODES[code] if v != labels[code]
    ]
    if not is_bald(labels):
        targets.append(BALD)
    targets += [f"{code}_{end}" for code in CURSOR_CODES for end in ("min", "max")]
    return targets


def candidate_names(target: str, labels: Mapping[str, int]) -> list[str]:
    """Translation names that can produce ``target`` for a face with ``labels``, best first."""
    parsed = parse_name(target)
    if parsed.kind == "from":
        raise InvalidTranslationName(f"{target!r} is a translation name, not a target (drop '_fr_{parsed.from_value}')")
    if parsed.kind == "value":
        return [f"{target}_fr_{int(labels[parsed.code])}", target]
    return [target]


#: file names other projects give a translation -> our name (gan-face-editing saves ``bald`` as ``Hc_4``)
FILE_ALIASES: dict[str, str] = {"Hc_4": BALD}


def name_of_file(stem: str) -> str:
    """The translation name a file stem stands for (``Hc_4`` -> ``bald``; other stems unchanged)."""
    return FILE_ALIASES.get(stem, stem)

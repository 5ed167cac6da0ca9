"""Named translations in W+: the naming convention, the store, selection by labels, apply modes, recipes.

A *translation* is a W+ delta ``(n_latent, style_dim)`` float32 (saved as ``<name>.npy``, the
gan-face-editing layout) plus a JSON sidecar ``<name>.json`` (model id/hash, method, attribute, layers,
default strength, created-by).  Translations of a model live in ``translations/<model-id>/``.

Naming convention (Ceteris Paribus Face Challenge)::

    {c}_{min|max}       cursor  c in Be N Pn Bp Bn Ch          e.g. Be_min
    {c}_{v}             to value v (generic)                   e.g. Hc_0, A_2
    {c}_{new}_fr_{old}  from one value (overrides the generic)  e.g. A_0_fr_1, Hc_1_fr_4
    bald                make the face bald

Value codes: Sk skin tone 0-2, A age 0-2, Se sex 0-1, B bangs 0-1, Hc hair colour 0 black 1 blond
2 brown 3 gray, D double chin 0-1, Hs hair shape 0 straight 1 curly.  In reference labels (file names
``Sk_A_Se_C_P_B_Hc_D_Hs.png``, e.g. ``1_1_0_0_1_0_4_1_2.png``) ``Hc`` 4 and ``Hs`` 2 mean bald, and C and P
are indicative only.

Selection (:func:`required_targets`, :func:`select`): a non-bald face gets 24 targets (every other value
of Sk, A, Se, B, D; the 12 cursors; the 3 other hair colours; the other hair shape; ``bald``), a bald
face 25 (the same without ``bald``, with all four ``Hc_v`` and both ``Hs_v``).  For each target the
translation comes from the highest-priority folder that has one; inside a folder ``{t}_fr_{current}``
overrides ``{t}``.
"""
from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from .errors import DataError, InvalidInput, InvalidTranslationName, ModelMismatch
from .io import load_json, save_json, save_npy
from .types import Latent

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


# ----------------------------------------------------------------------------------------------------
# translations and their files
# ----------------------------------------------------------------------------------------------------


@dataclass
class Translation:
    """A named W+ delta ``(n_latent, style_dim)`` float32 and its metadata.

    ``meta`` keys used by faceedit: ``model_id``, ``model_hash``, ``method``, ``attribute``, ``layers``,
    ``default_strength`` (float, default 1), ``mode`` (``"shift"`` default or ``"set"``), ``levels``
    (``{value: coordinate}`` for set-level), ``level`` (the coordinate this translation sets), ``created_by``.
    """

    name: str
    delta: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.delta = np.asarray(self.delta, dtype=np.float32)
        if self.delta.ndim != 2:
            raise InvalidInput(
                f"translation {self.name!r}: delta must be (n_latent, style_dim); got shape {self.delta.shape}"
            )
        if not np.all(np.isfinite(self.delta)):
            raise InvalidInput(f"translation {self.name!r}: delta has NaN or infinite values")
        parse_name(self.name, allow_free=True)

    @property
    def model_id(self) -> str | None:
        """The id of the model this translation belongs to (None when unknown)."""
        return self.meta.get("model_id")

    @property
    def default_strength(self) -> float:
        return float(self.meta.get("default_strength", 1.0))

    @property
    def parsed(self) -> TranslationName:
        return parse_name(self.name, allow_free=True)

    def check_model(self, model_id: str, shape: tuple[int, int] | None = None) -> None:
        """Refuse a translation of another model (id or W+ shape)."""
        if self.model_id is not None and model_id is not None and self.model_id != model_id:
            raise ModelMismatch(f"translation {self.name!r} belongs to model {self.model_id!r}, not {model_id!r}")
        if shape is not None and tuple(self.delta.shape) != tuple(shape):
            raise ModelMismatch(
                f"translation {self.name!r} has shape {self.delta.shape}; the latent is {tuple(shape)}"
            )

    def direction(self) -> np.ndarray:
        """The unit vector of the delta (flattened W+ norm 1), same shape as ``delta``."""
        norm = float(np.linalg.norm(self.delta))
        if norm == 0:
            raise InvalidInput(f"translation {self.name!r} is zero")
        return self.delta / norm

    def save(self, folder: str | os.PathLike) -> Path:
        """Write ``<folder>/<name>.npy`` and ``<name>.json`` (atomically); return the ``.npy`` path."""
        folder = Path(folder)
        npy = folder / f"{self.name}.npy"
        meta = dict(self.meta)
        meta.setdefault("name", self.name)
        meta["shape"] = list(self.delta.shape)
        save_npy(npy, self.delta)
        save_json(folder / f"{self.name}.json", meta)
        return npy

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Translation":
        """Read ``<name>.npy`` (+ ``<name>.json`` when present); ``path`` may name either file."""
        path = Path(path)
        npy = path.with_suffix(".npy")
        if not npy.is_file():
            raise DataError(f"{npy}: translation file not found")
        try:
            delta = np.load(npy, allow_pickle=False)
        except Exception as e:  # corrupt or truncated file
            raise DataError(f"{npy}: not a readable .npy array ({e})") from None
        if delta.ndim == 1:  # a bare W direction: one row per layer
            raise DataError(f"{npy}: a translation is (n_latent, style_dim); got a vector of {delta.shape}")
        sidecar = npy.with_suffix(".json")
        meta: dict[str, Any] = {}
        if sidecar.is_file():
            try:
                meta = dict(load_json(sidecar))
            except (ValueError, TypeError) as e:
                raise DataError(f"{sidecar}: invalid JSON sidecar ({e})") from None
        try:
            return cls(npy.stem, delta, meta)
        except InvalidInput as e:
            raise DataError(f"{npy}: {e}") from None

    @classmethod
    def from_direction(
        cls,
        name: str,
        direction: np.ndarray,
        n_latent: int,
        layers: Any = None,
        scale: float = 1.0,
        meta: Mapping[str, Any] | None = None,
    ) -> "Translation":
        """A translation from a W direction ``(style_dim,)`` or W+ direction, ``scale`` times, on ``layers``."""
        direction = np.asarray(direction, dtype=np.float32)
        if direction.ndim == 1:
            direction = np.repeat(direction[None], n_latent, axis=0)
        mask = layer_mask(layers, n_latent)
        delta = direction * mask[:, None] * np.float32(scale)
        info = dict(meta or {})
        info.setdefault("layers", _layers_list(mask))
        return cls(name, delta, info)


def layer_mask(layers: Any, n_latent: int) -> np.ndarray:
    """A float32 0/1 mask of ``n_latent`` rows from None (all), a list of indices, ``"a-b"``/``"a:b"``
    (inclusive / python slice), a ``slice`` or a boolean/0-1 array."""
    if layers is None or (isinstance(layers, str) and layers in ("", "all")):
        return np.ones(n_latent, dtype=np.float32)
    mask = np.zeros(n_latent, dtype=np.float32)
    if isinstance(layers, slice):
        mask[layers] = 1
        return mask
    if isinstance(layers, str):
        for part in layers.split(","):
            part = part.strip()
            m = re.fullmatch(r"(\d*)\s*([-:])\s*(\d*)", part)
            try:
                if m:
                    lo = int(m.group(1)) if m.group(1) else 0
                    if m.group(2) == "-":
                        hi = int(m.group(3)) + 1 if m.group(3) else n_latent
                    else:
                        hi = int(m.group(3)) if m.group(3) else n_latent
                    if lo >= n_latent or hi <= lo:
                        raise ValueError
                    mask[lo:hi] = 1
                else:
                    mask[_check_index(int(part), n_latent)] = 1
            except ValueError:
                raise InvalidInput(f"bad layer range {part!r} for {n_latent} layers") from None
        return mask
    arr = np.asarray(layers)
    if arr.dtype == bool or arr.dtype.kind == "f":  # a per-row mask (floats may be soft weights)
        if arr.shape != (n_latent,):
            raise InvalidInput(f"layer mask must have {n_latent} entries; got {arr.shape}")
        return arr.astype(np.float32)
    for i in np.atleast_1d(arr).astype(int).tolist():
        mask[_check_index(i, n_latent)] = 1
    return mask


def _check_index(i: int, n: int) -> int:
    if not -n <= i < n:
        raise InvalidInput(f"layer {i} out of range for {n} layers")
    return i


def _layers_list(mask: np.ndarray) -> list[int] | None:
    idx = np.flatnonzero(mask).tolist()
    return None if len(idx) == mask.size else idx


def default_translations_dir() -> Path:
    """``$FACEEDIT_TRANSLATIONS`` or the ``translations/`` data folder at the project root."""
    env = os.environ.get("FACEEDIT_TRANSLATIONS")
    return Path(env) if env else Path(__file__).resolve().parent.parent / "translations"


def model_hash(state_dict: Mapping[str, Any]) -> str:
    """A short content hash of a model's tensors (for the ``model_hash`` sidecar key)."""
    h = hashlib.sha1()
    for key in sorted(state_dict):
        value = state_dict[key]
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        h.update(key.encode())
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()[:16]


class TranslationStore:
    """A folder of translations ``<name>.npy`` + ``<name>.json`` (one model per folder)."""

    def __init__(self, folder: str | os.PathLike, model_id: str | None = None):
        self.folder = Path(folder)
        self.model_id = model_id

    @classmethod
    def default(cls, model_id: str) -> "TranslationStore":
        """The shipped translations of a model: ``translations/<model-id>/``."""
        return cls(default_translations_dir() / model_id, model_id)

    def names(self) -> list[str]:
        """Sorted names of the translations in the folder (files that break the convention are skipped)."""
        if not self.folder.is_dir():
            return []
        out = []
        for p in sorted(self.folder.glob("*.npy")):
            if p.name.startswith("."):
                continue  # a temporary file of an interrupted write
            try:
                parse_name(p.stem, allow_free=True)
            except InvalidTranslationName:
                continue
            out.append(p.stem)
        return out

    def __contains__(self, name: str) -> bool:
        return (self.folder / f"{name}.npy").is_file()

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self.names())

    def get(self, name: str) -> Translation:
        """Load one translation (checks its model when the store has a model id)."""
        if name not in self:
            raise DataError(f"no translation {name!r} in {self.folder}")
        t = Translation.load(self.folder / f"{name}.npy")
        if self.model_id is not None:
            t.check_model(self.model_id)
        return t

    def save(self, translation: Translation) -> Path:
        """Add or replace a translation (its model must match the store's)."""
        parse_name(translation.name, allow_free=True)
        if self.model_id is not None:
            translation.check_model(self.model_id)
            translation.meta.setdefault("model_id", self.model_id)
        return translation.save(self.folder)

    def load_all(self) -> dict[str, Translation]:
        return {name: self.get(name) for name in self.names()}

    def check(self) -> list[str]:
        """Problems of the folder: names that break the convention, unreadable files, mixed shapes/models."""
        problems: list[str] = []
        if not self.folder.is_dir():
            return [f"{self.folder}: not a folder"]
        shapes: dict[tuple, str] = {}
        for p in sorted(self.folder.glob("*.npy")):
            try:
                parse_name(p.stem, allow_free=True)
                t = Translation.load(p)
            except (InvalidTranslationName, DataError) as e:
                problems.append(str(e))
                continue
            if self.model_id is not None and t.model_id not in (None, self.model_id):
                problems.append(f"{p.name}: belongs to model {t.model_id!r}, not {self.model_id!r}")
            if not p.with_suffix(".json").is_file():
                problems.append(f"{p.name}: no JSON sidecar")
            shapes.setdefault(tuple(t.delta.shape), p.name)
        if len(shapes) > 1:
            problems.append(f"mixed delta shapes: {sorted(shapes)}")
        return problems


StoreLike = Union[TranslationStore, str, os.PathLike]


def _as_store(s: StoreLike, model_id: str | None) -> TranslationStore:
    return s if isinstance(s, TranslationStore) else TranslationStore(s, model_id)


def resolve(
    target: str, labels: Mapping[str, int], stores: Sequence[StoreLike], model_id: str | None = None
) -> Translation | None:
    """The translation that produces ``target`` for a face with ``labels``.

    ``stores`` are in increasing priority (e.g. ``[defaults, user_folder]``): a later store wins; inside a
    store the conditional ``{target}_fr_{current}`` wins over the generic ``{target}``.
    """
    names = candidate_names(target, labels)
    for store in reversed([_as_store(s, model_id) for s in stores]):
        for name in names:
            if name in store:
                return store.get(name)
    return None


def select(
    labels: Mapping[str, int] | str | os.PathLike,
    stores: Sequence[StoreLike],
    model_id: str | None = None,
    strict: bool = False,
) -> dict[str, Translation | None]:
    """For each required target of a face, the translation to apply (None where none exists).

    With ``strict`` a missing translation raises :class:`DataError` naming every missing target.
    """
    labels = parse_reference_labels(labels) if isinstance(labels, (str, os.PathLike)) else validate_labels(labels)
    out = {t: resolve(t, labels, stores, model_id) for t in required_targets(labels)}
    missing = [t for t, tr in out.items() if tr is None]
    if strict and missing:
        raise DataError(f"no translation for {', '.join(missing)}")
    return out


# ----------------------------------------------------------------------------------------------------
# applying translations
# ----------------------------------------------------------------------------------------------------

MODES = ("shift", "set")
TranslationsArg = Union[Translation, Sequence[Union[Translation, tuple[Translation, float]]]]


def _as_weighted(translations: TranslationsArg) -> list[tuple[Translation, float]]:
    if isinstance(translations, Translation):
        return [(translations, 1.0)]
    out = []
    for item in translations:
        if isinstance(item, Translation):
            out.append((item, 1.0))
        else:
            t, w = item
            out.append((t, float(w)))
    if not out:
        raise InvalidInput("no translation to apply")
    return out


def level_of(w: np.ndarray, translation: Translation, layers: Any = None) -> float:
    """The coordinate of a W+ code along the unit direction of ``translation`` (on ``layers``)."""
    w = np.asarray(w, dtype=np.float32)
    mask = layer_mask(layers, w.shape[0])[:, None]
    u = translation.delta * mask
    norm = float(np.linalg.norm(u))
    if norm == 0:
        raise InvalidInput(f"translation {translation.name!r} is zero on the chosen layers")
    return float(np.sum(w * mask * u) / norm)


def apply(
    latent: Latent | np.ndarray,
    translations: TranslationsArg,
    strength: float | None = None,
    mode: str | None = None,
    layers: Any = None,
) -> Latent | np.ndarray:
    """Apply one or several translations to a W+ latent; returns the same type as given.

    - ``mode="shift"`` (default): ``w + strength * sum(weight_i * delta_i)``; ``strength`` None uses each
      translation's ``default_strength``.
    - ``mode="set"``: move ``w`` along each unit direction so that its coordinate (:func:`level_of`)
      becomes ``strength`` (None: the translation's ``level`` meta).  Several translations are set one
      after the other (weights ignored).
    - ``layers``: restrict the change to these W+ rows (see :func:`layer_mask`).

    Raises :class:`ModelMismatch` for a translation of another model or shape.
    """
    weighted = _as_weighted(translations)
    if isinstance(latent, Latent):
        w, model_id = latent.w, latent.model_id
    else:
        w, model_id = np.asarray(latent, dtype=np.float32), None
        if w.ndim != 2:
            raise InvalidInput(f"a W+ latent must be (n_latent, style_dim); got shape {w.shape}")
    for t, _ in weighted:
        t.check_model(model_id, w.shape)
    mask = layer_mask(layers, w.shape[0])[:, None]
    out = w.copy()
    for t, weight in weighted:
        t_mode = mode or t.meta.get("mode", "shift")
        if t_mode not in MODES:
            raise InvalidInput(f"unknown apply mode {t_mode!r} (use one of {', '.join(MODES)})")
        if t_mode == "shift":
            s = t.default_strength if strength is None else float(strength)
            out = out + np.float32(s * weight) * t.delta * mask
        else:
            target = strength if strength is not None else t.meta.get("level")
            if target is None:
                raise InvalidInput(f"translation {t.name!r} has no 'level': give the target level as strength")
            u = t.delta * mask
            u = u / np.linalg.norm(u)
            out = out + np.float32(float(target) - level_of(out, t, layers)) * u
    out = out.astype(np.float32)
    return Latent(out, latent.model_id) if isinstance(latent, Latent) else out


# ----------------------------------------------------------------------------------------------------
# recipes
# ----------------------------------------------------------------------------------------------------


@dataclass
class RecipeStep:
    """One edit: a translation by name (looked up in stores) or a direction file, with its settings."""

    translation: str | None = None
    direction: str | None = None  # path of a .npy: (style_dim,) W direction or (n_latent, style_dim)
    strength: float | None = None
    layers: Any = None
    mode: str = "shift"

    def __post_init__(self) -> None:
        if (self.translation is None) == (self.direction is None):
            raise InvalidInput("a recipe step names exactly one of 'translation' or 'direction'")
        if self.mode not in MODES:
            raise InvalidInput(f"recipe step mode {self.mode!r}: use one of {', '.join(MODES)}")
        if self.translation is not None:
            parse_name(self.translation, allow_free=True)

    def to_dict(self) -> dict[str, Any]:
        d = {"translation": self.translation, "direction": self.direction, "strength": self.strength,
             "layers": self.layers, "mode": self.mode}
        return {k: v for k, v in d.items() if v is not None}


@dataclass
class Recipe:
    """An ordered list of edits, saved as JSON ``{"steps": [...]}``."""

    steps: list[RecipeStep] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> "Recipe":
        raw = data.get("steps") if isinstance(data, Mapping) else data
        if not isinstance(raw, Sequence) or isinstance(raw, (str, bytes)):
            raise InvalidInput("a recipe is a list of steps or {'steps': [...]}")
        steps = []
        known = {"translation", "direction", "strength", "layers", "mode"}
        for i, s in enumerate(raw):
            if not isinstance(s, Mapping) or set(s) - known:
                bad = sorted(set(s) - known) if isinstance(s, Mapping) else s
                raise InvalidInput(f"recipe step {i}: unknown keys {bad} (known: {sorted(known)})")
            steps.append(RecipeStep(**s))
        return cls(steps)

    def to_dict(self) -> dict[str, Any]:
        return {"steps": [s.to_dict() for s in self.steps]}

    def save(self, path: str | os.PathLike) -> None:
        save_json(path, self.to_dict())

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Recipe":
        try:
            data = load_json(path)
        except FileNotFoundError:
            raise InvalidInput(f"{path}: recipe file not found") from None
        except ValueError as e:
            raise InvalidInput(f"{path}: invalid recipe JSON ({e})") from None
        return cls.from_dict(data)

    def apply(self, latent: Latent | np.ndarray, stores: Iterable[StoreLike] = ()) -> Latent | np.ndarray:
        """Apply every step in order; translations come from the last store that has them."""
        stores = list(stores)
        model_id = latent.model_id if isinstance(latent, Latent) else None
        n_latent = (latent.w if isinstance(latent, Latent) else np.asarray(latent)).shape[0]
        for step in self.steps:
            if step.translation is not None:
                t = None
                for s in reversed([_as_store(s, model_id) for s in stores]):
                    if step.translation in s:
                        t = s.get(step.translation)
                        break
                if t is None:
                    raise DataError(f"recipe: no translation {step.translation!r} in the given folders")
            else:
                try:
                    vec = np.load(step.direction, allow_pickle=False)
                except (OSError, ValueError) as e:
                    raise DataError(f"recipe: cannot read direction {step.direction!r} ({e})") from None
                t = Translation.from_direction("direction", vec, n_latent, meta={"model_id": model_id})
            latent = apply(latent, t, step.strength, step.mode, step.layers)
        return latent

"""Named translations in W+: the store, selection by labels, apply modes, recipes.

A *translation* is a W+ delta plus an optional JSON sidecar ``<name>.json`` (model id/hash, method,
attribute, layers, default strength, created-by).  The delta is saved as ``<name>.npy`` in any layout of
:mod:`faceedit.edit.layouts`: ``(n_latent, style_dim)`` (ours), ``(1, n_latent, style_dim)`` (gan-face-editing) or
one W row ``(style_dim,)`` / ``(1, style_dim)`` applied to every row.  Without a sidecar a translation shifts
with strength 1 and its model is unknown: it is checked only by shape against the generator in use (with a
warning).  Translations of a model live in ``translations/<model-id>/``.

The naming convention (``{c}_{v}``, ``{c}_{new}_fr_{old}``, cursors, ``bald``) lives in
:mod:`faceedit.edit.naming` and is re-exported here; a file ``Hc_4.npy`` (gan-face-editing's name) is read as
``bald``.

Selection (:func:`select`, :func:`resolve`): for each target of a face (:func:`required_targets`) the
translation comes from the highest-priority folder that has one (folders in increasing priority); inside a
folder ``{t}_fr_{current}`` overrides ``{t}``.
"""
from __future__ import annotations

import hashlib
import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence, Union

import numpy as np

from ..errors import DataError, InvalidInput, InvalidTranslationName, ModelMismatch
from ..io import load_json, save_json, save_npy
from .layouts import expected_shapes, read_rows, to_rows
from .naming import (
    BALD,
    BALD_VALUES,
    CODE_NAMES,
    CURSOR_CODES,
    FILE_ALIASES,
    REFERENCE_ORDER,
    REFERENCE_VALUES,
    VALUE_CODES,
    TranslationName,
    candidate_names,
    is_bald,
    name_of_file,
    parse_name,
    parse_reference_labels,
    required_targets,
    validate_labels,
)
from ..types import Latent

__all__ = [
    "BALD", "BALD_VALUES", "CODE_NAMES", "CURSOR_CODES", "FILE_ALIASES", "MODES", "REFERENCE_ORDER",
    "REFERENCE_VALUES", "VALUE_CODES", "Recipe", "RecipeStep", "StoreLike", "Translation", "TranslationName",
    "TranslationStore", "apply", "candidate_names", "default_translations_dir", "is_bald", "layer_mask",
    "level_of", "model_hash", "name_of_file", "parse_name", "parse_reference_labels", "read_sidecar",
    "required_targets", "resolve", "select", "validate_labels",
]

# ----------------------------------------------------------------------------------------------------
# translations and their files
# ----------------------------------------------------------------------------------------------------


@dataclass
class Translation:
    """A named W+ delta and its metadata.

    ``delta`` is ``(n_latent, style_dim)`` float32, or ``(1, style_dim)`` for one W row applied to every row
    (any layout of :mod:`faceedit.edit.layouts` is accepted and normalised).  ``meta`` keys used by faceedit:
    ``model_id``, ``model_hash``, ``method``, ``attribute``, ``layers``, ``default_strength`` (float,
    default 1), ``mode`` (``"shift"`` default or ``"set"``), ``levels`` (``{value: coordinate}`` for
    set-level), ``level`` (the coordinate this translation sets), ``created_by``, ``source`` (where an
    imported translation came from).  ``path`` is the file it was read from (for messages).
    """

    name: str
    delta: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.delta = to_rows(self.delta, str(self.path or f"translation {self.name!r}"), "translation")
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

    @property
    def label(self) -> str:
        """The file of this translation when it was read from one, else its name (for messages)."""
        return str(self.path) if self.path is not None else f"translation {self.name!r}"

    def check_model(self, model_id: str | None, shape: tuple[int, int] | None = None) -> None:
        """Refuse a translation of another model (id, or a W+ shape it cannot be applied to; one W row fits
        any model of the same ``style_dim``)."""
        if self.model_id is not None and model_id is not None and self.model_id != model_id:
            raise ModelMismatch(f"{self.label} belongs to model {self.model_id!r}, not {model_id!r}")
        if shape is not None:
            n, d = (int(v) for v in shape)
            if self.delta.shape[1] != d or self.delta.shape[0] not in (1, n):
                raise ModelMismatch(f"{self.label} has shape {self.delta.shape}; the latent is {(n, d)}, so a "
                                    f"translation must be {expected_shapes((n, d))}")

    def fit(self, shape: tuple[int, int]) -> "Translation":
        """This translation checked against a model's W+ ``shape``, one W row broadcast to every row."""
        self.check_model(None, shape)
        if self.delta.shape == tuple(shape):
            return self
        return Translation(self.name, np.repeat(self.delta, int(shape[0]), axis=0), dict(self.meta), self.path)

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
    def load(cls, path: str | os.PathLike, shape: tuple[int, int] | None = None) -> "Translation":
        """Read ``<stem>.npy`` (any layout of :mod:`faceedit.edit.layouts`) + ``<stem>.json`` when present;
        ``path`` may name either file.  The name is the stem (``Hc_4`` reads as ``bald``).  With ``shape``
        the delta is checked against (and broadcast to) that W+ shape."""
        path = Path(path)
        npy = path.with_suffix(".npy")
        if not npy.is_file():
            raise DataError(f"{npy}: translation file not found")
        try:
            delta = read_rows(npy, "translation", shape)
        except InvalidInput as e:
            raise DataError(str(e)) from None
        meta = read_sidecar(npy)
        try:
            return cls(name_of_file(npy.stem), delta, meta, npy)
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
        """A translation from a direction in any layout of :mod:`faceedit.edit.layouts` (one W row is put on every
        row), ``scale`` times, on ``layers``."""
        direction = to_rows(direction, f"direction {name!r}", "direction")
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


def read_sidecar(npy: Path) -> dict[str, Any]:
    """The JSON sidecar of a translation file (``{}`` when there is none)."""
    sidecar = npy.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        meta = load_json(sidecar)
    except (ValueError, TypeError) as e:
        raise DataError(f"{sidecar}: invalid JSON sidecar ({e})") from None
    if not isinstance(meta, dict):
        raise DataError(f"{sidecar}: a sidecar is a JSON object; got {type(meta).__name__}")
    return meta


def default_translations_dir() -> Path:
    """``$FACEEDIT_TRANSLATIONS`` or the ``translations/`` data folder at the project root."""
    env = os.environ.get("FACEEDIT_TRANSLATIONS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "translations"


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
    """A folder of translations ``<name>.npy`` (+ optional ``<name>.json``), one model per folder.

    ``shape`` (the W+ shape of the generator in use), when given, is checked on every translation read and
    one W row is broadcast to it.  A file ``Hc_4.npy`` (gan-face-editing's bald) serves ``bald`` unless the
    folder also has ``bald.npy``.  Translations without a sidecar (model unknown) are used with a warning,
    once per folder.
    """

    def __init__(self, folder: str | os.PathLike, model_id: str | None = None,
                 shape: tuple[int, int] | None = None):
        self.folder = Path(folder)
        self.model_id = model_id
        self.shape = tuple(int(v) for v in shape) if shape is not None else None
        self._warned = False

    @classmethod
    def default(cls, model_id: str, shape: tuple[int, int] | None = None) -> "TranslationStore":
        """The shipped translations of a model: ``translations/<model-id>/``."""
        return cls(default_translations_dir() / model_id, model_id, shape)

    def _files(self) -> dict[str, Path]:
        """Translation name -> its ``.npy`` (files that break the convention are skipped)."""
        if not self.folder.is_dir():
            return {}
        out: dict[str, Path] = {}
        for p in sorted(self.folder.glob("*.npy")):
            if p.name.startswith("."):
                continue  # a temporary file of an interrupted write
            name = name_of_file(p.stem)
            try:
                parse_name(name, allow_free=True)
            except InvalidTranslationName:
                continue
            if name != p.stem and name in out:
                continue  # our own name wins over an alias
            out[name] = p
        return out

    def path_of(self, name: str) -> Path | None:
        """The file that holds translation ``name`` (None when the folder has none)."""
        own = self.folder / f"{name}.npy"
        if own.is_file():
            return own
        for alias, target in FILE_ALIASES.items():
            if target == name and (self.folder / f"{alias}.npy").is_file():
                return self.folder / f"{alias}.npy"
        return None

    def names(self) -> list[str]:
        """Sorted names of the translations in the folder (``Hc_4.npy`` is listed as ``bald``)."""
        return sorted(self._files())

    def __contains__(self, name: str) -> bool:
        return self.path_of(name) is not None

    def __iter__(self):
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._files())

    def get(self, name: str) -> Translation:
        """Load one translation (checks its model when the store has a model id, its shape when it has one)."""
        path = self.path_of(name)
        if path is None:
            raise DataError(f"no translation {name!r} in {self.folder}")
        t = Translation.load(path, self.shape)
        if self.model_id is not None:
            t.check_model(self.model_id)
        if t.model_id is None and not self._warned:
            self._warned = True
            checked = f"by shape against {self.shape}" if self.shape else "by shape when applied"
            warnings.warn(f"{self.folder}: translations without a JSON sidecar (e.g. {path.name}): their model is "
                          f"unknown, they are checked only {checked}", UserWarning, stacklevel=2)
        return t

    def save(self, translation: Translation) -> Path:
        """Add or replace a translation (its model must match the store's)."""
        parse_name(translation.name, allow_free=True)
        if self.model_id is not None:
            translation.check_model(self.model_id, self.shape)
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
                parse_name(name_of_file(p.stem), allow_free=True)
                t = Translation.load(p, self.shape)
            except (InvalidTranslationName, DataError, ModelMismatch) as e:
                problems.append(str(e))
                continue
            if self.model_id is not None and t.model_id not in (None, self.model_id):
                problems.append(f"{p.name}: belongs to model {t.model_id!r}, not {self.model_id!r}")
            shapes.setdefault(tuple(t.delta.shape), p.name)
        dims = {s[1] for s in shapes}
        full = {s for s in shapes if s[0] > 1}  # one W row fits every W+ shape of its style_dim
        if len(dims) > 1 or len(full) > 1:
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
                    vec = read_rows(step.direction, "direction")
                except InvalidInput as e:
                    raise DataError(f"recipe: {e}") from None
                t = Translation.from_direction("direction", vec, n_latent, meta={"model_id": model_id})
            latent = apply(latent, t, step.strength, step.mode, step.layers)
        return latent

"""Post-processing mixups: keep the edit only where the edit is about, restore the original elsewhere.

A latent edit changes a little everywhere.  Each mixup step computes the region where the edit is
*allowed* for a characteristic (hair for a hair-colour edit, the nose for a nose edit, ...) and restores
the original outside it, through ONE blending primitive, :func:`blend`:

- ``domain``: a fixed region per characteristic of FFHQ-aligned faces (:mod:`faceedit.faces.regions`);
- ``segmentation``: the union of the characteristic's parsing classes in the original and the edited
  image (hats and clothes of the original restored in the top half);
- ``depth``: the union of the foregrounds (nearer 2-means cluster of inverse depth) of both images; the
  original background is restored with an exponential feather.

:class:`Mixer` runs the configured chain for a translation name and returns a :class:`MixResult` with the
image and the masks used::

    mixer = Mixer({"depth": {"feather": 0.04}})
    result = mixer.mix(original, edited, "Hc_1")     # uint8 (H, W, 3) images
    result.image, result.masks["segmentation"], result.dropped
"""
from __future__ import annotations

import copy
import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..config import merge
from ..errors import ConfigError, InvalidInput, NoFaceFound
from .blending import (
    FALLOFFS,
    _as_2d,
    _check_pair,
    blend,
    dilate,
    distance_to_outside,
    feather_alpha,
    fit_mask,
    resize_nearest,
)
from ..faces.regions import REGIONS, rasterize
from ..edit.translations import BALD, CURSOR_CODES, VALUE_CODES, parse_name

Parser = Callable[[np.ndarray], np.ndarray]
DepthEstimator = Callable[[np.ndarray], np.ndarray]

STEPS = ("domain", "segmentation", "depth")

# CelebAMask-HQ classes used below: 4 l_eye, 5 r_eye, 10 nose, 11 mouth, 12 u_lip, 13 l_lip, 16 cloth,
# 17 hair, 18 hat ("all" = every class but 0, the background).
_HAIR = {"classes": [17]}
_NOSE = {"classes": [10]}
_ALL = {"classes": "all"}

#: Mixup settings (merge a partial dict or a TOML file over them with :mod:`faceedit.config`).
#: Feathers and distances are fractions of the image size (the larger side).
DEFAULTS: dict[str, Any] = {
    "steps": list(STEPS),
    # when a step's allowed region is empty: "drop" the edit (the step restores the whole original)
    # or "skip" the step (it changes nothing); either way it is reported in MixResult.dropped
    "on_empty": "drop",
    "domain": {
        "feather": 0.08,
        "falloff": "linear",
        # characteristic code → {"region": name in `regions` [, "feather": f]}; codes not listed: no step
        "codes": {
            "B": {"region": "hair"}, "Hc": {"region": "hair"}, "Hs": {"region": "hair"},
            "bald": {"region": "hair"}, "Be": {"region": "under_eyes"}, "D": {"region": "chin_neck"},
            "N": {"region": "eyes"}, "Bn": {"region": "nose"}, "Pn": {"region": "nose"},
            "Bp": {"region": "mouth"},
        },
        "regions": copy.deepcopy(REGIONS),
    },
    "segmentation": {
        "feather": 0.03,
        "falloff": "linear",
        # restore these classes of the original above `restore_rows` (fraction of the height): hat, cloth
        "restore_classes": [16, 18],
        "restore_rows": 0.5,
        # code → {"classes": [ids or names] or "all" [, "dilate": f, "shift_down": f, "feather": f]};
        # codes not listed (D, bald): no step
        "codes": {
            "B": _HAIR, "Hc": _HAIR, "Hs": _HAIR,
            "Pn": _NOSE, "Bn": _NOSE,
            "N": {"classes": [4, 5], "dilate": 0.02},
            "Be": {"classes": [4, 5], "dilate": 0.03, "shift_down": 0.04},
            "Bp": {"classes": [11, 12, 13], "dilate": 0.01},
            "Sk": _ALL, "A": _ALL, "Se": _ALL, "Ch": _ALL,
        },
    },
    "depth": {
        "feather": 0.05,
        "falloff": "exponential",
        "skip": ["bald", "Se"],  # codes without a depth step
        "max_samples": 65536,  # pixels used to find the 2-means split (a regular subsample)
    },
}

# ---------------------------------------------------------------------------------------------------
# the regions where an edit is allowed


def domain_region(shapes: list, shape: tuple[int, int]) -> np.ndarray:
    """The fixed region (bool ``shape``) of a region description (see :mod:`faceedit.faces.regions`)."""
    return rasterize(shapes, shape)


def segmentation_region(
    labels: list[np.ndarray],
    classes: list[int] | str,
    shape: tuple[int, int],
    dilate_px: float = 0.0,
    shift_down_px: float = 0.0,
) -> np.ndarray:
    """Union over label maps of ``classes`` (``"all"`` = every class but background), dilated, shifted."""
    region = np.zeros(shape, dtype=bool)
    for lab in labels:
        lab = resize_nearest(_check_labels(lab), shape)
        region |= (lab != 0) if classes == "all" else np.isin(lab, np.asarray(classes))
    region = dilate(region, dilate_px)
    shift = int(round(shift_down_px))
    if shift > 0:
        region = np.concatenate([np.zeros((min(shift, shape[0]), shape[1]), bool), region[: shape[0] - shift]])
    return region


def restore_region(labels: np.ndarray, classes: list[int], rows: float, shape: tuple[int, int]) -> np.ndarray:
    """Pixels of ``classes`` in ``labels`` within the top ``rows`` fraction of the image."""
    lab = resize_nearest(_check_labels(labels), shape)
    region = np.isin(lab, np.asarray(classes, dtype=np.int64))
    region[int(round(rows * shape[0])):] = False
    return region


def nearer_foreground(depth: np.ndarray, max_samples: int = 65536) -> np.ndarray:
    """The pixels of the nearer of two clusters of inverse depth (larger = nearer), bool ``(H, W)``.

    The split is the exact 1-D 2-means optimum (the threshold between sorted values that minimises the
    within-cluster sum of squares) over a regular subsample of at most ``max_samples`` pixels; the cluster
    whose mean is larger (nearer) is returned.  A constant map has no background: all pixels are returned.
    """
    depth = _as_2d(depth, "depth")
    if not np.issubdtype(depth.dtype, np.number) or depth.dtype == bool:
        raise InvalidInput(f"depth must be a numeric map; got dtype {depth.dtype}")
    values = depth.astype(np.float64).ravel()
    if not np.isfinite(values).all():
        raise InvalidInput("depth map contains NaN or infinite values")
    stride = max(1, int(np.ceil(values.size / max(2, max_samples))))
    sample = values[::stride]
    offset = sample.mean()
    s = np.sort(sample) - offset  # centred: better conditioned sums of squares
    n = s.size
    if n < 2:
        return np.ones(depth.shape, dtype=bool)
    k = np.arange(1, n)  # candidate splits: the first k sorted values vs the rest
    c1, c2 = np.cumsum(s)[:-1], np.cumsum(s * s)[:-1]
    total1, total2 = c1[-1] + s[-1], c2[-1] + s[-1] ** 2
    sse = (c2 - c1**2 / k) + ((total2 - c2) - (total1 - c1) ** 2 / (n - k))
    sse[s[:-1] == s[1:]] = np.inf  # only split between distinct values
    if not np.isfinite(sse).any():
        return np.ones(depth.shape, dtype=bool)
    best = int(np.argmin(sse))
    threshold = offset + (s[best] + s[best + 1]) / 2.0
    below = depth <= threshold
    means = (values[below.ravel()].mean(), values[~below.ravel()].mean())
    # the foreground is the cluster with the larger mean inverse depth (nearer), whichever that is
    return below if means[0] > means[1] else ~below


def _check_labels(labels: np.ndarray) -> np.ndarray:
    labels = _as_2d(labels, "label map")
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInput(f"a label map must hold integer class ids; got dtype {labels.dtype}")
    return labels


# ---------------------------------------------------------------------------------------------------
# the chain


def characteristic(name: str) -> str | None:
    """The characteristic code of an edit: a translation name (``Hc_1`` → ``Hc``, ``Sk_2_fr_0`` → ``Sk``,
    ``bald`` → ``bald``) or a bare code (``Hc``); ``None`` for a free name outside the convention.

    Names that break the convention (``Hc_9``, ``N_2``) raise
    :class:`~faceedit.errors.InvalidTranslationName` (see :func:`faceedit.edit.translations.parse_name`).
    """
    if name in VALUE_CODES or name in CURSOR_CODES:
        return name
    parsed = parse_name(name, allow_free=True)
    if parsed.kind == "bald":
        return BALD
    return parsed.code  # None for a free name


@dataclass
class MixResult:
    """The mixed image, the allowed region of each step that ran, and what was skipped or dropped."""

    image: np.ndarray
    code: str | None
    masks: dict[str, np.ndarray] = field(default_factory=dict)  # step → bool (H, W), True = edit allowed
    applied: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # "step: reason"
    dropped: list[str] = field(default_factory=list)  # "step: reason" (empty allowed region)
    notes: list[str] = field(default_factory=list)  # "step: ..." (e.g. no face found in the edited image)

    def report(self) -> dict[str, Any]:
        """A JSON-ready summary (no arrays)."""
        return {
            "code": self.code,
            "applied": list(self.applied),
            "skipped": list(self.skipped),
            "dropped": list(self.dropped),
            "notes": list(self.notes),
            "allowed_fraction": {k: round(float(m.mean()), 4) for k, m in self.masks.items()},
        }


@dataclass
class _Cached:
    """Maps of the current original (computed on first use)."""

    key: tuple
    labels: np.ndarray | NoFaceFound | None = None  # NoFaceFound: the map could not be made
    depth: np.ndarray | NoFaceFound | None = None
    foreground: np.ndarray | None = None


# tables whose entries a config replaces or adds whole (instead of merging key by key)
_OPEN_TABLES = (("domain", "codes"), ("domain", "regions"), ("segmentation", "codes"))


def mixer_config(config: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """:data:`DEFAULTS` updated by ``config`` and validated.

    Unknown keys are errors, except entries of ``domain.codes``, ``domain.regions`` and
    ``segmentation.codes``, which are added or replaced whole (an empty entry ``{}`` removes a code's step).
    """
    config = copy.deepcopy(dict(config or {}))
    open_entries = []
    for step, table in _OPEN_TABLES:
        section = config.get(step)
        if isinstance(section, Mapping) and table in section:
            entries = section.pop(table)
            if not isinstance(entries, Mapping):
                raise ConfigError(f"mixups {step}.{table} must be a table; got {entries!r}")
            open_entries.append((step, table, entries))
    cfg = merge(DEFAULTS, config)
    for step, table, entries in open_entries:
        cfg[step][table].update(copy.deepcopy(dict(entries)))
    _check_and_normalise(cfg)
    return cfg


def _check_and_normalise(cfg: dict[str, Any]) -> None:
    """Raise ConfigError on bad settings; class names become ids."""
    bad = [s for s in cfg["steps"] if s not in STEPS]
    if bad:
        raise ConfigError(f"unknown mixup step(s) {bad}; known: {', '.join(STEPS)}")
    if cfg["on_empty"] not in ("drop", "skip"):
        raise ConfigError(f"mixups on_empty must be 'drop' or 'skip'; got {cfg['on_empty']!r}")
    for step in STEPS:
        if cfg[step]["falloff"] not in FALLOFFS:
            raise ConfigError(f"mixups {step}.falloff must be one of {FALLOFFS}; got {cfg[step]['falloff']!r}")
    for code, entry in cfg["domain"]["codes"].items():
        if entry and entry.get("region") not in cfg["domain"]["regions"]:
            raise ConfigError(f"mixups domain code {code!r} names an unknown region {entry.get('region')!r}")
    seg = cfg["segmentation"]
    seg["restore_classes"] = _class_ids(seg["restore_classes"], "segmentation.restore_classes", allow_all=False)
    for code, entry in seg["codes"].items():
        if entry:
            entry["classes"] = _class_ids(entry.get("classes"), f"segmentation code {code!r}")


def _class_ids(classes: Any, where: str, allow_all: bool = True) -> list[int] | str:
    """A list of CelebAMask-HQ class ids (names such as ``"hair"`` are looked up in
    :data:`faceedit.faces.parsing.CLASSES`), or ``"all"``."""
    if allow_all and classes == "all":
        return classes
    if not isinstance(classes, list):
        expected = "a list of class ids or names" + (" or 'all'" if allow_all else "")
        raise ConfigError(f"mixups {where}: classes must be {expected}; got {classes!r}")
    ids = []
    for c in classes:
        if isinstance(c, str):
            from ..faces.parsing import CLASSES

            if c not in CLASSES:
                raise ConfigError(f"mixups {where}: unknown class {c!r} (known: {', '.join(CLASSES)})")
            c = CLASSES.index(c)
        if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < 256:
            raise ConfigError(f"mixups {where}: {c!r} is not a class id (0-255) or name")
        ids.append(c)
    return ids


def _default_backend(module: str, function: str, step: str) -> Callable:
    """``faceedit.<module>.<function>``, or a clear error when that module is not installed."""
    import importlib

    try:
        return getattr(importlib.import_module(f"faceedit.{module}"), function)
    except ImportError as e:
        raise ConfigError(
            f"the {step} mixup needs faceedit.{module}.{function}, which cannot be imported ({e}); pass a "
            f"callable to Mixer or leave {step!r} out of mixups.steps"
        ) from None


class Mixer:
    """Runs the configured mixup chain for translation names; caches parsing and depth of the original.

    ``config``: a partial dict over :data:`DEFAULTS` (see :func:`mixer_config`), e.g. the ``mixups`` table
    of a pipeline config.  ``parser``: ``image -> (H, W)`` CelebAMask-HQ labels (default
    :func:`faceedit.faces.parsing.parse`); ``depth``: ``image -> (H, W)`` inverse depth, larger = nearer
    (default :func:`faceedit.faces.depth.estimate_depth`).  Maps of another size are resized nearest to the image.
    A Mixer holds the maps of one original at a time: use one per thread (e.g. one per reference face).
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        parser: Parser | None = None,
        depth: DepthEstimator | None = None,
    ) -> None:
        self.config = mixer_config(config)
        self._parser = parser
        self._depth = depth
        self._cache: _Cached | None = None
        self._regions: dict[tuple, np.ndarray] = {}

    # -- cached maps of the original ------------------------------------------------------------------

    def prepare(self, original: np.ndarray, labels: np.ndarray | None = None, depth: np.ndarray | None = None) -> None:
        """Remember the original (and, if given, its precomputed label map and depth) for later mixes."""
        cached = self._cached(original)
        if labels is not None:
            cached.labels = _check_labels(labels)
        if depth is not None:
            cached.depth = _as_2d(depth, "depth")
            cached.foreground = None

    def _cached(self, original: np.ndarray) -> _Cached:
        original = np.ascontiguousarray(original)
        key = (original.shape, str(original.dtype), hashlib.blake2b(original.data, digest_size=16).digest())
        if self._cache is None or self._cache.key != key:
            self._cache = _Cached(key)
        return self._cache

    def _parse(self, image: np.ndarray) -> np.ndarray:
        if self._parser is None:
            self._parser = _default_backend("faces.parsing", "parse", "segmentation")
        return _check_labels(self._parser(image))

    def _estimate_depth(self, image: np.ndarray) -> np.ndarray:
        if self._depth is None:
            self._depth = _default_backend("faces.depth", "estimate_depth", "depth")
        return _as_2d(self._depth(image), "depth")

    # -- the chain ------------------------------------------------------------------------------------

    def mix(
        self,
        original: np.ndarray,
        edited: np.ndarray,
        name: str | Sequence[str],
        edited_labels: np.ndarray | None = None,
        edited_depth: np.ndarray | None = None,
    ) -> MixResult:
        """Mix ``edited`` (the edit ``name``: a translation name or a code) back into ``original``.

        Each configured step restores the original outside its allowed region, one after the other, so
        a pixel restored by any step stays original.  Precomputed maps of the edited image may be given.

        ``name`` may be a list of names: an image that combines several edits (one latent delta) may
        change the *union* of their regions; a step that does not restrict one of the edits (no region for
        its code) is skipped, and so is the whole chain when one name is a free name.  The feather of a
        step is the largest of its edits'.
        """
        original, edited = _check_pair(original, edited)
        names = [name] if isinstance(name, str) else list(name)
        if not names:
            raise InvalidInput("mix: no edit name given")
        codes = list(dict.fromkeys(characteristic(n) for n in names))
        result = MixResult(image=edited.copy(), code=None if None in codes else "+".join(codes))
        if result.code is None:
            free = next(n for n in names if characteristic(n) is None)
            result.skipped.append(f"all: {free!r} is not a characteristic code of the naming convention")
            return result
        size = max(original.shape[:2])
        cached = self._cached(original)
        maps = {"labels": edited_labels, "depth": edited_depth, "foreground": None}  # the edited image's, made once
        for step in self.config["steps"]:
            allowed, feathers, whats = None, [], []
            for code in codes:
                if step == "domain":
                    region, feather, what = self._domain(code, original.shape[:2])
                elif step == "segmentation":
                    region, feather, what = self._segmentation(code, original, edited, cached, maps, result)
                else:
                    region, feather, what = self._depth_step(code, original, edited, cached, maps, result)
                if region is None:  # this edit is not restricted by the step: neither is the union
                    allowed = None
                    break
                allowed = region.copy() if allowed is None else allowed | region
                feathers.append(feather)
                whats.append(what)
            if allowed is None:
                result.skipped.append(f"{step}: {what}")
                continue
            what = "; ".join(dict.fromkeys(whats))
            result.masks[step] = allowed
            if not allowed.any():
                result.dropped.append(f"{step}: empty region for {result.code} ({what})")
                if self.config["on_empty"] == "skip":
                    continue
            result.image = blend(original, result.image, ~allowed, max(feathers) * size, self.config[step]["falloff"])
            result.applied.append(step)
        return result

    def _domain(self, code: str, shape: tuple[int, int]):
        """(allowed region or None, feather fraction, description) of the domain step."""
        cfg = self.config["domain"]
        entry = cfg["codes"].get(code)
        if not entry:
            return None, 0.0, f"no region for {code}"
        key = (entry["region"], shape)
        if key not in self._regions:
            region = domain_region(cfg["regions"][entry["region"]], shape)
            region.flags.writeable = False  # shared by every result
            self._regions[key] = region
        return self._regions[key], entry.get("feather", cfg["feather"]), f"region {entry['region']}"

    def _segmentation(self, code, original, edited, cached, maps, result):
        cfg = self.config["segmentation"]
        entry = cfg["codes"].get(code)
        if not entry:
            return None, 0.0, f"no classes for {code}"
        if cached.labels is None:
            cached.labels = _unless_no_face(self._parse, original)
        if isinstance(cached.labels, NoFaceFound):
            return None, 0.0, f"no parsing of the original ({cached.labels})"
        if maps["labels"] is None:
            maps["labels"] = _unless_no_face(self._parse, edited)
            if isinstance(maps["labels"], NoFaceFound):
                result.notes.append(f"segmentation: no parsing of the edited image ({maps['labels']}); the "
                                    "original's only")
        labels = [cached.labels] + ([] if isinstance(maps["labels"], NoFaceFound) else [maps["labels"]])
        shape = original.shape[:2]
        size = max(shape)
        allowed = segmentation_region(
            labels, entry["classes"], shape, entry.get("dilate", 0.0) * size, entry.get("shift_down", 0.0) * size
        )
        if cfg["restore_classes"]:
            allowed &= ~restore_region(cached.labels, cfg["restore_classes"], cfg["restore_rows"], shape)
        return allowed, entry.get("feather", cfg["feather"]), f"classes {entry['classes']}"

    def _depth_step(self, code, original, edited, cached, maps, result):
        cfg = self.config["depth"]
        if code in cfg["skip"]:
            return None, 0.0, f"not used for {code}"
        shape = original.shape[:2]
        if cached.depth is None:
            cached.depth = _unless_no_face(self._estimate_depth, original)
        if isinstance(cached.depth, NoFaceFound):
            return None, 0.0, f"no depth of the original ({cached.depth})"
        if cached.foreground is None or cached.foreground.shape != shape:
            cached.foreground = nearer_foreground(resize_nearest(cached.depth, shape), cfg["max_samples"])
        allowed = cached.foreground.copy()
        if maps["foreground"] is None:
            depth_e = maps["depth"] if maps["depth"] is not None else _unless_no_face(self._estimate_depth, edited)
            if isinstance(depth_e, NoFaceFound):
                result.notes.append(f"depth: no depth of the edited image ({depth_e}); the original's foreground only")
                maps["foreground"] = depth_e
            else:
                maps["foreground"] = nearer_foreground(resize_nearest(_as_2d(depth_e, "depth"), shape),
                                                       cfg["max_samples"])
        if not isinstance(maps["foreground"], NoFaceFound):
            allowed |= maps["foreground"]
        return allowed, cfg["feather"], "foreground of either image"


def _unless_no_face(function: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> np.ndarray | NoFaceFound:
    """``function(image)``, or the NoFaceFound it raised (a parser or depth backend that needs a face)."""
    try:
        return function(image)
    except NoFaceFound as e:
        return e

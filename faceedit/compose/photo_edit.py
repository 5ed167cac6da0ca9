"""Edit the faces of a whole photo in one call: :func:`edit_photo` (and :class:`PhotoEditor` for many photos).

Per face: detect and FFHQ-align at a size chosen from the face's size in the photo (the side of the FFHQ
quad in photo pixels, clamped to 256..1024, so that the photo's own detail is kept), parse the aligned face
once, project it into W+ (cached on disk by aligned-image content, model id and projection settings),
render ``R = G(w)`` and ``E = G(w + d)`` where ``d`` combines every requested edit, carry the change onto
the aligned face (:func:`faceedit.compose.transfer.transfer_edit`; ``edit_mode="replace"`` pastes the render
instead), restrict it with the mixups (the union of the edits' regions), and paste only the change back
into the photo, so that every pixel the edit did not touch stays bit-exact::

    result = edit_photo("photo.jpg", {"A_2": 1.0, "Hc_1": 0.7})
    result.image                      # the whole photo, RGB uint8, original size, upright
    result.maps[0]["alpha"]           # new-content alpha of the first face (also flow, gain, mixup masks)
"""
from __future__ import annotations

import difflib
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence, Union

import numpy as np

from ..errors import DataError, InvalidInput, InvalidTranslationName, NoFaceFound
from ..images import Photo, check_image, read_photo, resize
from ..edit.layouts import read_rows
from .mixups import STEPS
from .paste import paste_change
from .transfer import EDIT_MODES, TransferSettings
from ..edit.translations import Recipe, RecipeStep, Translation, TranslationStore, apply, default_translations_dir
from ..types import Face, Latent

PRESETS = ("fast", "balanced", "faithful")
#: smallest and largest side of the aligned face (photo pixels of the FFHQ quad, clamped)
ALIGNED_MIN, ALIGNED_MAX = 256, 1024

#: what :func:`edit_photo` takes as ``edits``: ``{name or .npy path: strength or None}``, a Recipe, the
#: path of a recipe JSON (or a list of these, combined in order)
Edits = Union[Mapping[str, Union[float, None]], Recipe, str, os.PathLike]


@dataclass(frozen=True)
class EditSettings:
    """How :class:`PhotoEditor` edits a photo.

    ``preset``: projection preset; ``edit_mode``: ``transfer`` (the edit carried onto the photo's pixels)
    or ``replace`` (the render pasted); ``mixups``: the mixup steps run after it (a subset of
    ``domain, segmentation, depth``); ``face``: ``"all"`` or the index of one face (largest first);
    ``cache_dir``: projection cache folder (None: none); ``aligned_min``/``aligned_max``: the clamp of the
    aligned size; ``parser``: face-parsing backend; ``transfer``: the transfer's knobs; ``mixer``: a
    partial mixup config (see :data:`faceedit.compose.mixups.DEFAULTS`; its ``steps`` are ``mixups``); ``device``:
    where the generator, encoder and projection run (``cpu``, ``cuda``, ``mps``, ``auto``).
    """

    preset: str = "fast"
    edit_mode: str = "transfer"
    mixups: tuple[str, ...] = STEPS
    face: str | int = "all"
    cache_dir: Path | None = None
    aligned_min: int = ALIGNED_MIN
    aligned_max: int = ALIGNED_MAX
    parser: str = "landmarks"
    transfer: TransferSettings = field(default_factory=TransferSettings)
    mixer: Mapping[str, Any] | None = None
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.preset not in PRESETS:
            raise InvalidInput(f"unknown preset {self.preset!r}; choose one of {', '.join(PRESETS)}")
        if self.edit_mode not in EDIT_MODES:
            raise InvalidInput(f"unknown edit mode {self.edit_mode!r}; choose one of {', '.join(EDIT_MODES)}")
        object.__setattr__(self, "mixups", tuple(self.mixups))
        bad = [s for s in self.mixups if s not in STEPS]
        if bad or len(set(self.mixups)) != len(self.mixups):
            raise InvalidInput(f"mixups must be distinct steps among {', '.join(STEPS)}; got {list(self.mixups)}")
        if self.face != "all" and (isinstance(self.face, bool) or not isinstance(self.face, (int, np.integer))):
            raise InvalidInput(f"face must be 'all' or an index; got {self.face!r}")
        if not 8 <= self.aligned_min <= self.aligned_max:
            raise InvalidInput(f"aligned sizes must satisfy 8 <= min <= max; got {self.aligned_min}..{self.aligned_max}")
        if self.cache_dir is not None:
            object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        from ..devices import check_device_name

        object.__setattr__(self, "device", check_device_name(self.device))


@dataclass
class FaceEdit:
    """One edited face: the aligned original (with its transform), the edited aligned face (after the
    mixups), the renders ``R``/``E`` at the model's resolution, the projected latent and notes."""

    index: int
    face: Face
    edited: np.ndarray
    reconstruction: np.ndarray
    render: np.ndarray
    latent: Latent
    cached: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class EditResult:
    """The edited photo (RGB uint8, original size, upright), one :class:`FaceEdit` and one dict of maps per
    face (``flow`` (N, N, 2), ``gain`` (N, N, 3), ``alpha`` (N, N) of the transfer, ``mixup_{step}`` bool
    allowed regions; aligned-face pixels), seconds per stage, and the :class:`~faceedit.images.Photo` read
    (None for an array input)."""

    image: np.ndarray
    faces: list[FaceEdit]
    maps: list[dict[str, np.ndarray]]
    timings: dict[str, float] = field(default_factory=dict)
    photo: Photo | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Step:
    """One resolved edit: a checked translation and how to apply it (as a recipe step)."""

    translation: Translation
    strength: float | None
    mode: str = "shift"
    layers: Any = None


def default_cache_dir() -> Path:
    """``$FACEEDIT_HOME/projections`` (default ``~/.cache/faceedit/projections``)."""
    from ..models.weights import faceedit_home

    return faceedit_home() / "projections"


def as_recipe(edits: Edits | Sequence[Edits], known: Sequence[str] = ()) -> Recipe:
    """A :class:`Recipe` of ``edits``: a mapping ``{name or .npy path: strength}`` (None = the translation's
    default strength), a Recipe, a recipe JSON path, or a list of these (their steps in order).  Strengths
    must be numbers; a name that breaks the naming convention raises
    :class:`~faceedit.errors.InvalidTranslationName` listing the close ones among ``known``."""
    if isinstance(edits, Recipe):
        return edits
    if isinstance(edits, (str, os.PathLike)):
        return Recipe.load(edits)
    if isinstance(edits, (list, tuple)):
        recipe = Recipe([step for part in edits for step in as_recipe(part, known).steps])
        if not recipe.steps:
            raise InvalidInput("no edit given")
        return recipe
    if not isinstance(edits, Mapping):
        raise InvalidInput(f"edits must be a mapping name -> strength or a recipe; got {type(edits).__name__}")
    steps = []
    for name, strength in edits.items():
        if strength is not None:
            if isinstance(strength, bool) or not isinstance(strength, (int, float, np.number)):
                raise InvalidInput(f"strength of {name!r} must be a number; got {strength!r}")
            if not np.isfinite(float(strength)):
                raise InvalidInput(f"strength of {name!r} must be finite; got {strength!r}")
            strength = float(strength)
        if _is_path(name):
            steps.append(RecipeStep(direction=str(name), strength=strength))  # a translation file, see _resolve
            continue
        try:
            steps.append(RecipeStep(translation=str(name), strength=strength))
        except InvalidTranslationName as e:
            raise InvalidTranslationName(_unknown(str(name), known, f" ({e})")) from None
    if not steps:
        raise InvalidInput("no edit given")
    return Recipe(steps)


def _unknown(name: str, known: Sequence[str], reason: str = "") -> str:
    """``unknown translation 'X' (reason); did you mean A, B?`` (close names by difflib)."""
    close = difflib.get_close_matches(name, sorted(set(known)), n=6, cutoff=0.5)
    hint = f"; did you mean {', '.join(close)}?" if close else f"; {len(set(known))} translations known"
    return f"unknown translation {name!r}{reason}{hint}"


def _is_path(name: str) -> bool:
    return str(name).lower().endswith(".npy") or os.sep in str(name)


def resolve_recipe(recipe: Recipe, model_id: str, shape: tuple[int, int],
                   stores: Sequence[TranslationStore]) -> list[_Step]:
    """Load and check every step of ``recipe`` now (before any photo is touched).

    Translation names come from the last store that has them; an unknown name raises
    :class:`~faceedit.errors.DataError` listing the close ones; a ``.npy`` that is a saved translation (with
    its JSON sidecar) is loaded as one, any other ``.npy`` is a direction (``(style_dim,)`` or W+).  A
    translation of another model or shape raises :class:`~faceedit.errors.ModelMismatch`.
    """
    steps = []
    for step in recipe.steps:
        if step.translation is not None:
            t = next((s.get(step.translation) for s in reversed(stores) if step.translation in s), None)
            if t is None:
                known = [n for s in stores for n in s.names()]
                raise DataError(_unknown(step.translation, known, f" for model {model_id!r}"))
        else:
            t = _load_translation_file(Path(step.direction), model_id, shape)
        t.check_model(model_id, shape)
        steps.append(_Step(t, step.strength, step.mode, step.layers))
    return steps


def _load_translation_file(path: Path, model_id: str, shape: tuple[int, int]) -> Translation:
    if not path.is_file():
        raise DataError(f"{path}: no such translation file")
    if path.with_suffix(".json").is_file():
        return Translation.load(path, shape)
    try:  # a bare direction in any layout of faceedit.edit.layouts (one W row goes on every row)
        vec = read_rows(path, "direction", shape)
    except InvalidInput as e:
        raise DataError(str(e)) from None
    return Translation.from_direction("direction", vec, shape[0], meta={"model_id": model_id})


def aligned_side(face_side: float, lo: int = ALIGNED_MIN, hi: int = ALIGNED_MAX) -> int:
    """The side of an aligned crop that keeps a face's detail: the face's side in pixels (one aligned pixel
    per photo pixel), rounded to a multiple of 8 and clamped to ``lo..hi``."""
    return int(min(hi, max(lo, 8 * round(face_side / 8))))


def aligned_size(landmarks: np.ndarray, lo: int = ALIGNED_MIN, hi: int = ALIGNED_MAX) -> int:
    """:func:`aligned_side` of a face's FFHQ quad side in the photo (``landmarks``: its 68 points)."""
    from ..faces.alignment import ffhq_quad

    return aligned_side(ffhq_quad(landmarks)[1], lo, hi)


class PhotoEditor:
    """Edits photos with one set of edits and one model: loads the generator, encoder and translations
    once, checks the edits up front, then :meth:`edit` one photo after the other.

    ``generator``: a Generator, a checkpoint path / registry name, or None for the built-in model;
    ``encoder``: ``"auto"`` (the built-in encoder when it was trained for this generator, else none),
    None (start from the mean W), a path or a module; ``translations``: extra folders searched before the
    shipped ``translations/<model-id>/`` (a later folder wins).
    """

    def __init__(self, edits: Edits, generator: Any = None, settings: EditSettings | None = None,
                 encoder: Any = "auto", translations: Sequence[str | os.PathLike] = ()) -> None:
        from ..devices import resolve_device, set_network_device
        from ..models.checkpoints import load_generator

        self.settings = settings or EditSettings()
        self.device = resolve_device(self.settings.device)
        set_network_device(self.device)  # the network parsers / depth of the transfer and the mixups
        self.generator = generator if hasattr(generator, "synthesis") else load_generator(generator)
        self.generator.to(self.device)
        G = self.generator
        self.model_id = G.model_id
        shape = (int(G.n_latent), int(G.style_dim))
        stores = [TranslationStore(default_translations_dir() / G.model_id, G.model_id, shape)]
        stores += [TranslationStore(Path(p), G.model_id, shape) for p in translations]
        known = [n for s in stores for n in s.names()]
        self.steps = resolve_recipe(as_recipe(edits, known), G.model_id, shape, stores)
        self.names = [s.translation.name for s in self.steps]
        from ..projection.project import resolve_encoder

        self.encoder = resolve_encoder(encoder, self.generator)  # another generator's encoder is refused
        self._projector = None

    @property
    def projector(self):
        """The :class:`~faceedit.projection.project.Projector` of the preset (made on first use)."""
        if self._projector is None:
            from ..projection.project import ProjectionSettings, Projector

            settings = ProjectionSettings.from_preset(self.settings.preset)
            self._projector = Projector(self.generator, self.encoder, settings, device=self.device)
        return self._projector

    # -- one photo -------------------------------------------------------------------------------------

    def edit(self, photo: str | os.PathLike | np.ndarray | Photo) -> EditResult:
        """Edit every selected face of ``photo`` (a path, an RGB uint8 array or a :class:`Photo`).

        Raises :class:`~faceedit.errors.NoFaceFound` when the photo has no face and
        :class:`~faceedit.errors.ImageReadError` for an unreadable file.
        """
        from ..faces.alignment import align_face, detect_faces

        timings: dict[str, float] = {}
        clock = _Clock(timings)
        with clock("load"):
            if isinstance(photo, Photo):
                read = photo
            elif isinstance(photo, (str, os.PathLike)):
                read = read_photo(photo)
            else:
                read = None
            rgb = read.rgb if read is not None else check_image(photo, "photo")
        name = str(read.source) if read is not None and read.source else "photo"
        with clock("detect"):
            found = detect_faces(rgb)
        if not found:
            raise NoFaceFound(f"{name}: no face found")
        indices = list(range(len(found)))
        if self.settings.face != "all":
            i = int(self.settings.face)
            if not -len(found) <= i < len(found):
                raise InvalidInput(f"{name}: face index {i} out of range ({len(found)} face(s) found)")
            indices = [i % len(found)]
        out, faces, maps = rgb, [], []
        for i in indices:
            box, landmarks = found[i]
            with clock("align"):
                face = align_face(rgb, landmarks, aligned_size(landmarks, self.settings.aligned_min,
                                                               self.settings.aligned_max))
                face.source = read.source if read is not None else None
                face.meta.update(index=i, box=[float(v) for v in box], faces_found=len(found))
            edit, face_maps = self._edit_face(i, face, clock)
            with clock("paste"):
                out = paste_change(out, edit.edited, face)
            faces.append(edit)
            maps.append(face_maps)
        notes = list(read.notes) if read is not None else []
        return EditResult(out, faces, maps, timings, read, notes)

    def _edit_face(self, index: int, face: Face, clock: "_Clock") -> tuple[FaceEdit, dict[str, np.ndarray]]:
        from ..faces.alignment import transform_points
        from ..synthesis import synthesize

        s = self.settings
        notes: list[str] = []
        lm = transform_points(np.linalg.inv(face.transform), face.landmarks)  # landmarks in the aligned face
        with clock("parse"):
            labels = self._parse(face.image, lm, notes)
        with clock("project"):
            latent, cached = self._project(face.image)
        with clock("render"):
            edited_latent = latent
            for step in self.steps:
                edited_latent = apply(edited_latent, step.translation, step.strength, step.mode, step.layers)
            R, E = synthesize(self.generator, np.stack([latent.w, edited_latent.w]))
        maps: dict[str, np.ndarray] = {}
        n = face.image.shape[0]
        with clock("transfer"):
            if s.edit_mode == "transfer":
                from .transfer import transfer_edit

                result = transfer_edit(face.image, R, E, self.names, labels=labels, settings=s.transfer)
                edited = result.image
                maps.update(flow=result.flow, gain=result.gain, alpha=result.alpha)
                notes += result.notes
            else:
                edited = resize(E, n)
        if s.mixups:
            with clock("mixups"):
                edited = self._mix(face.image, edited, labels, lm, maps, notes)
        return FaceEdit(index, face, edited, R, E, latent, cached, notes), maps

    def _parse(self, image: np.ndarray, landmarks: np.ndarray, notes: list[str]) -> np.ndarray | None:
        from ..faces.parsing import parse

        try:
            if self.settings.parser == "landmarks":
                return parse(image, "landmarks", landmarks=landmarks)
            return parse(image, self.settings.parser)
        except NoFaceFound as e:
            notes.append(f"no parsing of the aligned face ({e})")
            return None

    def _mix(self, original: np.ndarray, edited: np.ndarray, labels: np.ndarray | None, landmarks: np.ndarray,
             maps: dict[str, np.ndarray], notes: list[str]) -> np.ndarray:
        from .mixups import Mixer

        maps_of = _FaceMaps(self.settings.parser, landmarks, detect=self.settings.edit_mode == "replace")
        mixer = Mixer({**dict(self.settings.mixer or {}), "steps": list(self.settings.mixups)},
                      parser=maps_of.labels, depth=maps_of.depth)
        depth = None
        if "depth" in self.settings.mixups and labels is not None:
            from ..faces.depth import estimate_depth

            depth = estimate_depth(original, landmarks=landmarks, labels=labels)
        mixer.prepare(original, labels=labels, depth=depth)
        mixed = mixer.mix(original, edited, self.names)
        maps.update({f"mixup_{step}": mask for step, mask in mixed.masks.items()})
        notes += [f"mixup skipped {x}" for x in mixed.skipped] + [f"mixup dropped {x}" for x in mixed.dropped]
        notes += mixed.notes
        return mixed.image

    def _project(self, aligned: np.ndarray) -> tuple[Latent, bool]:
        """The W+ latent of an aligned face, from the cache when it holds this face for this model and
        these settings."""
        from ..io import save_npy
        from ..projection.project import cache_key

        projector = self.projector
        cache = self.settings.cache_dir
        path = None
        if cache is not None:
            encoder_meta = getattr(self.encoder, "meta", None) if self.encoder is not None else "none"
            extra = {"shape": list(aligned.shape), "encoder": json.dumps(encoder_meta, sort_keys=True, default=str),
                     "perceptual": projector.perceptual_name, "kind": "faceedit.compose.photo_edit"}
            key = cache_key(np.ascontiguousarray(aligned).tobytes(), projector.settings, self.model_id, extra)
            path = cache / _safe(self.model_id) / f"{key}.npy"
            if path.is_file():
                try:
                    w = np.load(path, allow_pickle=False)
                    if w.shape == (self.generator.n_latent, self.generator.style_dim):
                        return Latent(w, self.model_id), True
                except (OSError, ValueError):
                    pass  # a damaged entry is recomputed and replaced
        latent = projector.project(aligned)[0].latent
        if path is not None:
            save_npy(path, latent.w)
        return latent, False


def edit_photo(photo: str | os.PathLike | np.ndarray | Photo, edits: Edits, generator: Any = None, *,
               preset: str = "fast", edit_mode: str = "transfer", mixups: Sequence[str] = STEPS,
               face: str | int = "all", cache_dir: str | os.PathLike | None = None,
               translations: Sequence[str | os.PathLike] = (), settings: EditSettings | None = None) -> EditResult:
    """Edit the faces of one photo; returns an :class:`EditResult` (the whole photo, per-face results, maps).

    ``photo``: a path or an RGB uint8 array; ``edits``: ``{"A_2": 1.0, "Hc_1": 0.7}`` (translation names
    or ``.npy`` files → strength, None = default strength), a :class:`~faceedit.edit.translations.Recipe` or a
    recipe JSON path, combined into one latent edit as a recipe is; ``generator``: a Generator, checkpoint
    path or registry name (None: the built-in model); ``preset``: projection preset; ``edit_mode``:
    ``transfer`` (the edit carried onto the photo's own pixels) or ``replace`` (the render pasted);
    ``mixups``: steps run after it; ``face``: ``"all"`` or one index (largest face first); ``cache_dir``:
    projection cache folder (None: no cache; :func:`default_cache_dir` is the CLI's).  Each face is aligned
    at its FFHQ quad's side in photo pixels, clamped to 256..1024.  ``settings`` replaces the keyword
    options.  For many photos, build one :class:`PhotoEditor` and call its ``edit``.
    """
    if settings is None:
        settings = EditSettings(preset=preset, edit_mode=edit_mode, mixups=tuple(mixups), face=face,
                                cache_dir=Path(cache_dir) if cache_dir is not None else None)
    return PhotoEditor(edits, generator, settings, translations=translations).edit(photo)


class _FaceMaps:
    """Parsing and depth of one aligned face and its edits for the Mixer, each image parsed once and with
    known landmarks: the original's (a transfer moves the face by a pixel or two), or detected again in
    a replaced face (``detect``)."""

    def __init__(self, parser: str, landmarks: np.ndarray, detect: bool) -> None:
        self.parser, self.landmarks, self.detect = parser, landmarks, detect
        self.known: dict[bytes, np.ndarray] = {}

    def _landmarks(self, image: np.ndarray) -> np.ndarray:
        if not self.detect:
            return self.landmarks
        from ..faces.alignment import face_landmarks

        return face_landmarks(image)

    def labels(self, image: np.ndarray) -> np.ndarray:
        from ..faces.parsing import parse

        key = _digest(image)
        if key not in self.known:
            if self.parser == "landmarks":
                self.known[key] = parse(image, "landmarks", landmarks=self._landmarks(image))
            else:
                self.known[key] = parse(image, self.parser)
        return self.known[key]  # type: ignore[return-value]

    def depth(self, image: np.ndarray) -> np.ndarray:
        from ..faces.depth import estimate_depth

        return estimate_depth(image, landmarks=self._landmarks(image), labels=self.labels(image))


def _digest(image: np.ndarray) -> bytes:
    return hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest() + bytes(str(image.shape), "ascii")


def _safe(name: str) -> str:
    """A folder name for a model id."""
    clean = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return clean if clean == name else f"{clean}-{hashlib.sha1(name.encode()).hexdigest()[:8]}"


class _Clock:
    """Adds the seconds of each ``with clock(stage):`` block to ``timings[stage]``."""

    def __init__(self, timings: dict[str, float]) -> None:
        self.timings = timings

    def __call__(self, stage: str) -> "_Stage":
        return _Stage(self.timings, stage)


class _Stage:
    def __init__(self, timings: dict[str, float], stage: str) -> None:
        self.timings, self.stage = timings, stage

    def __enter__(self) -> None:
        self.start = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.timings[self.stage] = self.timings.get(self.stage, 0.0) + time.perf_counter() - self.start

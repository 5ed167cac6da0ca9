"""The editing session: the one adapter between the editor's UI and the faceedit library.

It holds the generator, the current face (photo + aligned face + base latent) and the slider
catalogue, and turns an :class:`~editor.state.EditState` into a latent and images by calling the
library (``translations.apply``, ``Generator.synthesis``, ``Mixer``, ``paste_back``, ...).  Nothing
here touches Qt, so every method can run on a worker thread, and the tests can call it directly to get
the reference output of the window.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from faceedit.errors import FaceEditError, InvalidInput, InvalidTranslationName, ModelMismatch
from faceedit.types import Face, Latent

from .edit_modes import DEFAULT_EDIT_MODE, NO_PHOTO_NOTE, FaceTransfer, check_edit_mode, edit_names, map_overlay
from .overlays import difference_overlay, masks_overlay
from .state import EditState

N_PCA = 8
PCA_SAMPLES = 2000  # sampled W codes when a model ships no PCA stats
TRUNCATION = 0.7  # of the generated start face
# drag-preview quality: "auto" renders small models (<= 128 px) in full and larger ones with the
# sub-generator; "subgenerator" = anycost channel ratio (0.5 up to 256 px, 0.25 above) stopped at 256 px;
# "lowres" = all channels stopped at half the resolution (at most 256 px); "full" = the full render
PREVIEW_QUALITIES = ("auto", "subgenerator", "lowres", "full")
PREVIEW_RESOLUTION = 256
FULL_PREVIEW_MAX_RESOLUTION = 128
MIXUP_WORK_SIDE = 384  # the mixups of a transferred (full-size) face parse and estimate depth at this size

Progress = Callable[[float, str], None]

# dlib (face detection, landmarks, the landmark-based parser used by paste-back and the mixups) is not
# thread-safe, and the render worker and a task (opening a photo) may both need it: one at a time.
DLIB_LOCK = threading.RLock()


@dataclass(frozen=True)
class SliderSpec:
    """One slider: ``key`` (``kind:name``), its label, group box, and strength range."""

    key: str
    label: str
    group: str
    minimum: float = -3.0
    maximum: float = 3.0
    tooltip: str = ""
    conditional: bool = False  # a ``{c}_{new}_fr_{old}`` translation (hidden unless asked for)


@dataclass
class Rendered:
    """The result of one render job (made on the worker thread, shown by the GUI)."""

    edited: np.ndarray  # aligned edited face, after mixups on a full render
    shown: np.ndarray  # what the "edited" view displays (maybe pasted into the photo, maybe overlaid)
    preview: bool
    masks: dict[str, np.ndarray] = field(default_factory=dict)
    mode: str = "replace"  # how the face was made: "transfer" or "replace" (also the fallback of transfer)
    transfer: Any = None  # the faceedit.compose.transfer.TransferResult of a transfer (its maps: overlays)
    note: str = ""  # a line for the status bar (e.g. why transfer fell back to the render)


def _no_progress(fraction: float, message: str = "") -> None:
    return None


class EditSession:
    """Model + face + sliders; maps an edit state to a latent and to images."""

    def __init__(self, generator: Any, translations_root: str | os.PathLike | None = None,
                 encoder: Any = "auto") -> None:
        self.generator = generator
        self.model_id = str(getattr(generator, "model_id", "unknown"))
        from faceedit.edit.translations import default_translations_dir

        self.translations_root = Path(translations_root) if translations_root else default_translations_dir()
        self.face: Face | None = None  # the aligned face (None for a generated start face)
        self.photo: np.ndarray | None = None  # the source photo of ``face``
        self.base: Latent | None = None
        self.original: np.ndarray | None = None  # what the "original" view shows (aligned size)
        self.sliders: list[SliderSpec] = []
        self._translations: dict[str, Any] = {}  # slider key -> faceedit.edit.translations.Translation
        self._pca_components: np.ndarray | None = None  # (k, style_dim)
        self._caches: dict[bool, Any] = {}  # preview? -> the generator's layer cache (SynthesisCache)
        self._mixers: dict[tuple[str, ...], Any] = {}  # enabled mixup steps -> Mixer (caches the original's maps)
        self._projectors: dict[str, Any] = {}  # preset -> faceedit.projection.project.Projector (keeps its loss models)
        self._encoder: Any = False if encoder == "auto" else encoder  # False: the built-in one, looked up once
        self._quick_mask: np.ndarray | None = None  # paste-back region of drag previews (per face)
        self._landmarks: np.ndarray | None = None  # original landmarks / aligned size (per face)
        self.transfer: FaceTransfer | None = None  # the edit transfer of the current photo face (per face)

    # ------------------------------------------------------------------ model and catalogue
    @classmethod
    def open(cls, model: str | os.PathLike | None = None, translations_root: str | os.PathLike | None = None,
             progress: Progress = _no_progress, device: str = "cpu", encoder: Any = "auto") -> "EditSession":
        """Load a generator (None: the built-in default) on ``device`` (``cpu``, ``cuda``, ``mps`` or
        ``auto``, see :func:`faceedit.devices.resolve_device`) and build the slider catalogue.  ``encoder``:
        ``"auto"`` (the built-in one when it was made for this generator), None (projections start from the
        mean W) or a file (e.g. ``rebuild-suite``'s for a new generator; one made for another generator raises
        :class:`~faceedit.errors.ModelMismatch`)."""
        from faceedit.devices import resolve_device, set_network_device
        from faceedit.models.checkpoints import load_generator

        progress(-1, f"loading model {model or '(default)'}")
        generator = load_generator(model)
        generator.eval().to(resolve_device(device))
        set_network_device(resolve_device(device))  # the parsers / depth network of the transfer and mixups
        if encoder not in ("auto", None):
            from faceedit.projection.project import resolve_encoder

            progress(-1, f"loading encoder {encoder}")
            encoder = resolve_encoder(encoder, generator).to(resolve_device(device))
        session = cls(generator, translations_root, encoder)
        session.load_catalogue(progress)
        return session

    @property
    def device(self) -> Any:
        """The :class:`torch.device` the generator (and so every render and projection) runs on."""
        from faceedit.devices import module_device

        return module_device(self.generator)

    @property
    def resolution(self) -> int:
        return int(self.generator.resolution)

    @property
    def n_latent(self) -> int:
        return int(self.generator.n_latent)

    def load_catalogue(self, progress: Progress = _no_progress) -> None:
        """Sliders: one per stored translation (grouped by characteristic) and per PCA component."""
        self.sliders, self._translations = [], {}
        progress(-1, "reading translations")
        for t in self._stored_translations():
            key = f"translation:{t.name}"
            group = self._group_of(t)
            lo, hi = self._strength_range(t)
            self._translations[key] = t
            self.sliders.append(SliderSpec(key, t.name, group, lo, hi, self._describe(t), t.parsed.kind == "from"))
        self.sliders.sort(key=lambda s: (s.group == "Directions", s.group, s.label))
        progress(-1, "principal components")
        self._pca_components = self._pca()
        if self._pca_components is not None:
            for k in range(len(self._pca_components)):
                self.sliders.append(SliderSpec(f"pca:{k}", f"PC {k}", "PCA", -5.0, 5.0,
                                               f"principal component {k} of W, in standard deviations"))

    def add_map_edit(self, delta: np.ndarray) -> str:
        """Register a Map mode edit (its W+ change) as a slider of this session, group "Map edits", strength 0 to
        1.5 (1 = as drawn); returns its key ``map:N``.  It lives in this session only: recipes leave it out."""
        from faceedit.edit.translations import Translation

        n = 1 + sum(1 for s in self.sliders if s.key.startswith("map:"))
        key = f"map:{n}"
        self._translations[key] = Translation(f"map_edit_{n}", np.asarray(delta, np.float32), {"method": "map mode"})
        self.sliders.append(SliderSpec(key, f"Map edit {n}", "Map edits", 0.0, 1.5,
                                       "the change drawn in Edit > Map mode (1 = as drawn); this session only"))
        return key

    def _stored_translations(self) -> list:
        """Every readable translation stored for this model whose delta fits its W+ shape."""
        from faceedit.errors import DataError

        store = self.store()
        out = []
        for name in store.names():
            try:
                t = store.get(name)
            except (DataError, ModelMismatch):
                continue  # a broken or foreign file in the folder: `faceedit translations check` reports it
            if tuple(t.delta.shape) == (self.n_latent, int(self.generator.style_dim)):
                out.append(t)
        return out

    def store(self):
        """The translation folder of this model."""
        from faceedit.edit.translations import TranslationStore

        return TranslationStore(self.translations_root / self.model_id, self.model_id,
                                (self.n_latent, int(self.generator.style_dim)))

    @staticmethod
    def _group_of(t: Any) -> str:
        from faceedit.edit.translations import CODE_NAMES, parse_name

        parsed = parse_name(t.name, allow_free=True)
        if parsed.kind == "free":
            return "Directions"
        if parsed.kind == "bald":
            return "Hair colour"
        return CODE_NAMES.get(parsed.code, parsed.code).capitalize()

    @staticmethod
    def _describe(t: Any) -> str:
        from faceedit.edit.translations import CODE_NAMES

        p = t.parsed
        what = {"cursor": f"{CODE_NAMES.get(p.code, p.code)}: towards {p.value}",
                "value": f"{CODE_NAMES.get(p.code, p.code)}: to value {p.value}",
                "from": f"{CODE_NAMES.get(p.code, p.code)}: to value {p.value}, from {p.from_value}",
                "bald": "make the face bald"}.get(p.kind, "a free translation")
        method = t.meta.get("method")
        verdict = t.meta.get("validation", {}).get("verdict")
        return f"{t.name} — {what}" + (f" ({method})" if method else "") + \
            (f"\nindependent validator, held-out faces: {verdict}" if verdict else "")

    @staticmethod
    def _strength_range(t: Any) -> tuple[float, float]:
        span = max(1.0, 2.0 * abs(t.default_strength))
        return -span, span

    def _pca(self) -> np.ndarray | None:
        """The top PCA components of W, each scaled to one standard deviation ``(k, style_dim)``.

        Read from ``<translations>/<model-id>/pca.npz`` when shipped, else fitted on sampled W."""
        from faceedit.edit.directions import PCAFinder

        stats = self.translations_root / self.model_id / "pca.npz"
        if stats.is_file():
            pca = PCAFinder.load(stats)
        else:
            pca = PCAFinder(N_PCA).fit_generator(self.generator, n_samples=PCA_SAMPLES, seed=0)
        k = min(N_PCA, len(pca.components_))
        comps = pca.components_[:k] * np.sqrt(pca.explained_variance_[:k])[:, None]
        keep = np.isfinite(comps).all(axis=1) & (np.abs(comps).sum(axis=1) > 0)
        return comps[keep].astype(np.float32) if keep.any() else None  # a degenerate W (e.g. seeded weights)

    # ------------------------------------------------------------------ faces
    def generated_latent(self, seed: int = 0) -> Latent:
        """A generated start face: W of a seeded z (truncated towards the mean) on every row."""
        import torch

        from faceedit.models.stylegan2 import seeded_z

        from faceedit.devices import module_device

        z = seeded_z(1, int(self.generator.style_dim), int(seed)).to(module_device(self.generator))
        with torch.inference_mode():
            w = self.generator.mapping(z)
            mean = self.generator.mean_latent(4096)
            w = mean + TRUNCATION * (w - mean)
        return Latent(np.repeat(w.cpu().numpy(), self.n_latent, axis=0), self.model_id)

    def set_face(self, latent: Latent, face: Face | None = None, photo: np.ndarray | None = None,
                 original: np.ndarray | None = None) -> None:
        """Make ``latent`` (of ``face`` in ``photo``, if it came from one) the base of the edit.

        ``original`` is what edits are compared and mixed with: the aligned photo face, or (default)
        the render of ``latent`` — pass it when it was computed on a worker thread."""
        latent.check_model(self.model_id)
        if latent.w.shape != (self.n_latent, int(self.generator.style_dim)):
            raise ModelMismatch(f"latent of shape {latent.w.shape} does not fit this model "
                                f"({self.n_latent}, {self.generator.style_dim})")
        self.base, self.face, self.photo = latent, face, photo
        self._mixers = {}
        self._quick_mask = None
        self._landmarks = None
        if original is None:
            original = face.image if face is not None else self.render(latent.w)
        self.original = original
        if face is not None:  # landmarks from the photo's alignment, else the parser detects them
            landmarks = self.original_landmarks if face.transform is not None and face.landmarks is not None else None
            self.transfer = FaceTransfer(face.image, landmarks, DLIB_LOCK)
        else:
            self.transfer = None

    def detect(self, photo: np.ndarray, progress: Progress = _no_progress) -> list[Face]:
        """Every face in ``photo``, largest first, aligned at its own size in the photo (256..1024 px:
        the transfer keeps the photo's detail; the projection resizes to the model's resolution)."""
        from .edit_modes import align_faces

        progress(-1, "detecting faces")
        return align_faces(photo, DLIB_LOCK)

    def encoder(self) -> Any:
        """The built-in encoder when it is installed and made for this generator, else None (the projection
        then starts from the mean W)."""
        if self._encoder is False:
            from faceedit.models.encoder import load_encoder
            from faceedit.projection.project import check_encoder_pairing

            try:
                encoder = load_encoder(None)
                check_encoder_pairing(encoder, self.generator)
            except (FaceEditError, FileNotFoundError):
                encoder = None
            self._encoder = encoder
        return self._encoder

    def project_face(self, face: Face, preset: str = "fast", progress: Progress = _no_progress) -> Latent:
        """Project an aligned face into W+ with a projection preset (see :func:`presets`)."""
        from faceedit.projection.project import ProjectionSettings, Projector

        progress(-1, "loading the encoder")
        projector = self._projectors.get(preset)
        if projector is None:
            settings = ProjectionSettings.from_preset(preset)  # unknown presets raise InvalidInput
            projector = self._projectors[preset] = Projector(self.generator, self.encoder(), settings,
                                                             device=self.device)
        progress(-1, f"projecting ({preset}, {projector.settings.steps} steps at most)")

        def on_step(done: int, total: int) -> None:  # a cancelled task raises here and stops the optimisation
            progress(done / total, f"projecting ({preset}): step {done}/{total}")

        return projector.project([face.image], on_step=on_step)[0].latent

    def latent_from_file(self, path: str | os.PathLike) -> Latent:
        """A W+ latent saved as ``.npy`` in any layout of :mod:`faceedit.edit.layouts` (``(n_latent, style_dim)``,
        ``(1, n_latent, style_dim)``, or one W row broadcast)."""
        from faceedit.edit.layouts import read_latent

        return Latent(read_latent(path, (self.n_latent, int(self.generator.style_dim))), self.model_id)

    def thumbnail(self, path: str | os.PathLike, size: int) -> np.ndarray:
        """A small picture of an image file (read) or a ``.npy`` latent (rendered by the drag preview)."""
        from faceedit.images import load_image, resize

        if str(path).endswith(".npy"):
            return resize(self.render(self.latent_from_file(path).w, preview=True), size)
        return resize(load_image(path), size)

    # ------------------------------------------------------------------ state → latent → image
    def latent_for(self, state: EditState) -> np.ndarray:
        """The edited W+ ``(n_latent, style_dim)`` for ``state`` (base + every slider's step)."""
        if self.base is None:
            raise InvalidInput("no face loaded")
        from faceedit.edit.translations import Translation, apply

        latent = self.base
        values = state.as_dict()
        steps = [(self._translations[k], v) for k, v in values.items() if k in self._translations]
        if steps:
            latent = apply(latent, steps, strength=1.0, mode="shift")
        pcs = [(int(k.split(":", 1)[1]), v) for k, v in values.items() if k.startswith("pca:")]
        if pcs and self._pca_components is not None:
            layers = slice(*state.pca_layers) if state.pca_layers else None
            comps = [(Translation.from_direction(f"pca_{i}", self._pca_components[i], self.n_latent, layers), v)
                     for i, v in pcs if i < len(self._pca_components)]
            latent = apply(latent, comps, strength=1.0, mode="shift")
        return np.asarray(latent.w, dtype=np.float32)

    def render(self, w: np.ndarray, preview: bool = False, quality: str = "auto") -> np.ndarray:
        """Synthesize W+ ``w`` → RGB uint8 through the layer cache; ``preview`` renders at the drag-preview
        ``quality`` (see :meth:`preview_settings`)."""
        import torch

        from faceedit.devices import module_device
        from faceedit.images import to_image
        from faceedit.models.stylegan2 import SynthesisCache

        cache = self._caches.get(preview)
        if cache is None:
            cache = self._caches[preview] = SynthesisCache(self.generator)
        settings = self.preview_settings(quality) if preview else {}
        with torch.inference_mode():
            w_in = torch.from_numpy(np.asarray(w, np.float32))[None].to(module_device(self.generator))
            x = cache.render(w_in, **settings)
        return to_image(x)[0]

    def preview_settings(self, quality: str = "auto") -> dict[str, Any]:
        """``channel_ratio`` / ``resolution`` arguments of the drag preview (one of :data:`PREVIEW_QUALITIES`).

        A channel-ratio sub-generator looks right only for anycost-trained models; "lowres" suits any
        model (the skip architecture's RGB at a lower resolution)."""
        res = self.resolution
        if quality == "auto":
            quality = "full" if res <= FULL_PREVIEW_MAX_RESOLUTION else "subgenerator"
        if quality == "full":
            return {}
        if quality == "subgenerator":
            return {"channel_ratio": 0.5 if res <= 256 else 0.25, "resolution": min(res, PREVIEW_RESOLUTION)}
        if quality == "lowres":
            return {"resolution": max(8, min(res // 2, PREVIEW_RESOLUTION))}
        raise InvalidInput(f"unknown preview quality {quality!r}; known: {', '.join(PREVIEW_QUALITIES)}")

    def render_state(self, state: EditState, preview: bool = False, in_photo: bool = False,
                     overlay: str = "none", quality: str = "auto", edit_mode: str = DEFAULT_EDIT_MODE) -> Rendered:
        """The whole render job of the worker: latent, synthesis, transfer and mixups (full only), view
        extras.  ``edit_mode`` "transfer" carries the edit onto the photo face (:meth:`final_face`)."""
        from faceedit.images import resize

        masks: dict[str, np.ndarray] = {}
        if preview:
            edited = self.render(self.latent_for(state), preview=True, quality=quality)
            mode, transfer, note, original = "replace", None, "", self.original
        else:
            edited, masks, mode, transfer, note = self.final_face(state, edit_mode)
            original = self.face.image if mode == "transfer" else self.original
        shown = edited
        if preview and edited.shape[0] != self.resolution:
            shown = resize(edited, self.resolution)
        if not preview and overlay != "none":
            shown = self.overlay(shown, overlay, masks, original, transfer)
        if in_photo and self.face is not None and self.photo is not None:
            shown = self.in_photo(shown, quick=preview, original=original if mode == "transfer" else None)
        return Rendered(edited, shown, preview, masks, mode, transfer, note)

    def final_face(self, state: EditState, edit_mode: str = DEFAULT_EDIT_MODE) -> tuple:
        """The full-quality edited face: ``(image, mixup masks, mode used, TransferResult or None, note)``.

        "transfer" (a face with pixels of its own: a photo or an opened aligned face) runs
        :func:`faceedit.compose.transfer.transfer_edit` on the full-resolution original with ``R = G(w)`` (cached per
        face) and ``E``, then the mixups; "replace" (and a face with no photo) mixes the render itself."""
        edited = self.render(self.latent_for(state))
        if check_edit_mode(edit_mode) == "transfer" and self.transfer is not None:
            ft = self.transfer  # this face's, even if another face is set meanwhile
            names = edit_names(state.as_dict())
            reconstruction = ft.reconstruction(lambda: self.render(self.base.w))
            result = ft.run(reconstruction, edited, names)
            image, masks = self.apply_mixups(result.image, state, ft.original)
            notes = [] if np.array_equal(edited, reconstruction) else [f"transfer: {n}" for n in result.notes]
            return image, masks, "transfer", result, "; ".join(notes)
        note = NO_PHOTO_NOTE if edit_mode == "transfer" else ""
        return (*self.apply_mixups(edited, state), "replace", None, note)

    def apply_mixups(self, edited: np.ndarray, state: EditState,
                     original: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Post-process a full render (or a transferred face) with the enabled mixups of every active
        translation, against ``original`` (default: the original at the model's resolution)."""
        name = self.mixup_name(state)
        original = self.original if original is None else original
        if not state.mixups or name is None or original is None:
            return edited, {}
        from faceedit.compose.mixups import STEPS, Mixer

        steps = tuple(s for s in STEPS if s in state.mixups)
        key = (*steps, str(original.shape))  # one mixer (and its cached maps) per original
        mixer = self._mixers.get(key)
        if mixer is None:
            mixer = self._mixers[key] = Mixer({"steps": list(steps)}, **self._known_landmarks(original))
        with DLIB_LOCK:
            result = mixer.mix(original, edited, name)
        return result.image, dict(result.masks)

    def _known_landmarks(self, original: np.ndarray) -> dict[str, Any]:
        """Parser and depth backends for a Mixer of the full-size photo face that use the photo's landmarks
        (a transferred face moves by a pixel or two) instead of detecting them in every edit."""
        if original is self.original or self.face is None or self.face.transform is None:
            return {}
        from faceedit.faces.depth import estimate_depth
        from faceedit.images import resize
        from faceedit.faces.parsing import parse

        def at_work_size(backend: Callable) -> Callable[[np.ndarray], np.ndarray]:
            def run(image: np.ndarray) -> np.ndarray:  # the Mixer resizes the map to the image (nearest)
                side = min(MIXUP_WORK_SIDE, image.shape[0])
                return backend(resize(image, side), landmarks=self.original_landmarks(side))
            return run

        return {"parser": at_work_size(parse), "depth": at_work_size(estimate_depth)}

    @staticmethod
    def mixup_name(state: EditState) -> str | None:
        """The translation whose characteristic drives the mixups: the one with the largest strength.

        (Stacked edits of several characteristics are mixed with the dominant one's regions.)"""
        values = [(abs(v), k.split(":", 1)[1]) for k, v in state.as_dict().items() if k.startswith("translation:")]
        return max(values)[1] if values else None

    def overlay(self, image: np.ndarray, kind: str, masks: dict[str, np.ndarray], original: np.ndarray | None = None,
                transfer: Any = None) -> np.ndarray:
        """Draw an overlay on the edited face: ``parsing``, ``masks`` (mixup), ``difference`` (to ``original``,
        default the model-size one) or a map of the ``transfer`` result (``flow``, ``gain``, ``alpha``; the
        face unchanged when there is none, e.g. in replace mode)."""
        original = self.original if original is None else original
        if kind in ("flow", "gain", "alpha"):
            picture = map_overlay(transfer, kind, image.shape[0])
            return image if picture is None else picture
        if kind == "difference":
            return difference_overlay(image, original)
        if kind == "parsing":
            from faceedit.faces.parsing import overlay, parse

            with DLIB_LOCK:
                return overlay(image, parse(image, landmarks=self.original_landmarks(image.shape[0])))
        if kind == "masks":
            return masks_overlay(image, masks)
        raise InvalidInput(f"unknown overlay {kind!r}")

    def original_landmarks(self, size: int) -> np.ndarray:
        """The 68 landmarks of the original face in aligned pixels at ``size`` (from the photo's alignment,
        else detected once on the original); used to parse edits without detecting again."""
        if self._landmarks is None:
            from faceedit.faces.alignment import face_landmarks, transform_points

            face = self.face
            if face is not None and face.landmarks is not None and face.transform is not None:
                lm, side = transform_points(np.linalg.inv(face.transform), face.landmarks), face.image.shape[0]
            else:
                with DLIB_LOCK:
                    lm, side = face_landmarks(self.original), self.original.shape[0]
            self._landmarks = np.asarray(lm, np.float64) / side
        return self._landmarks * size

    def in_photo(self, aligned: np.ndarray, quick: bool = False, original: np.ndarray | None = None) -> np.ndarray:
        """Paste an aligned (edited) face back into the source photo at the photo's full resolution.

        The full render uses the library's default region (parsed face and hair of the edit); ``quick``
        (drag previews) re-uses the face-and-hair mask of the original face, parsed once per face.  With
        ``original`` (the aligned original of a transferred face, same size) only the change is pasted, over
        the whole aligned square: pixels the edit left alone stay exactly the photo's."""
        from faceedit.compose.paste import paste_back
        from faceedit.images import resize

        size = self.face.image.shape[0]
        if original is not None:
            from faceedit.compose.paste import paste_change
            from faceedit.types import Face

            return paste_change(self.photo, aligned, Face(original, self.face.transform))
        with DLIB_LOCK:
            mask = None
            if quick:
                if self._quick_mask is None:
                    from faceedit.faces.alignment import head_ellipse_mask
                    from faceedit.faces.parsing import face_hair_mask

                    try:
                        self._quick_mask = face_hair_mask(self.face.image, self.original_landmarks(size))
                    except FaceEditError:  # no landmarks found on the aligned face
                        self._quick_mask = head_ellipse_mask(size)
                mask = self._quick_mask
            return paste_back(self.photo, resize(aligned, size), self.face.transform, mask=mask)

    # ------------------------------------------------------------------ saving
    def delta(self, state: EditState) -> np.ndarray:
        """The current edit as a W+ delta ``(n_latent, style_dim)``."""
        return self.latent_for(state) - self.base.w

    def translation_path(self, name: str) -> Path:
        """Where translation ``name`` of this model is stored."""
        return self.translations_root / self.model_id / f"{name}.npy"

    def save_translation(self, name: str, state: EditState) -> Path:
        """Store the current delta as translation ``name`` (``.npy`` + JSON sidecar); return the path."""
        from faceedit.edit.translations import Translation, parse_name

        parse_name(name)  # the challenge convention (raises InvalidTranslationName naming the rule)
        delta = self.delta(state)
        if not np.any(delta):
            raise InvalidInput("the edit is empty: move a slider before saving it as a translation")
        meta = {"method": "editor", "model_id": self.model_id, "created_by": "faceedit editor",
                "editor_state": state.to_json(), "default_strength": 1.0}
        return self.store().save(Translation(name, delta, meta))

    def recipe(self, state: EditState) -> dict[str, Any]:
        """The edit as a recipe dict: ``steps`` (translations, loadable by :class:`faceedit.edit.translations.Recipe`)
        plus the full editor state (PCA sliders, layer range, mixups) under ``editor``."""
        from faceedit.edit.translations import Recipe, RecipeStep

        steps = [RecipeStep(translation=k.split(":", 1)[1], strength=v, mode="shift")
                 for k, v in state.as_dict().items() if k.startswith("translation:")]
        editor = state.to_json()
        editor["values"] = {k: v for k, v in editor["values"].items() if not k.startswith("map:")}  # session-only
        return {**Recipe(steps).to_dict(), "model_id": self.model_id, "editor": editor}

    def state_from_recipe(self, data: Any) -> EditState:
        """An edit state from a recipe dict (the editor's own, or any plain translation recipe)."""
        from faceedit.edit.translations import Recipe

        if isinstance(data, dict) and "editor" in data:
            state = EditState.from_json(data["editor"])
        else:
            state = EditState()
            for step in Recipe.from_dict(data).steps:
                if step.translation is None or step.mode != "shift" or step.layers is not None:
                    raise InvalidInput("the editor loads translation steps in shift mode on all layers only")
                key = f"translation:{step.translation}"
                strength = 1.0 if step.strength is None else step.strength
                state = state.with_value(key, state.value(key) + strength)
        unknown = [k for k in state.as_dict() if k not in {s.key for s in self.sliders}]
        if unknown:
            raise InvalidInput(f"the recipe uses sliders this model does not have: {', '.join(unknown)}")
        return state

    def edited_photo(self, state: EditState, edit_mode: str = DEFAULT_EDIT_MODE) -> np.ndarray:
        """The full-quality edited face pasted into the photo (the aligned face when there is none)."""
        edited, _, mode, _, _ = self.final_face(state, edit_mode)
        if self.face is None or self.photo is None:
            return edited
        return self.in_photo(edited, original=self.face.image if mode == "transfer" else None)


def validate_translation_name(name: str) -> str | None:
    """None when ``name`` follows the challenge naming convention, else the rule it breaks."""
    from faceedit.edit.translations import parse_name

    try:
        parse_name(name)
    except (InvalidTranslationName, ValueError) as e:
        return str(e)
    except FaceEditError as e:
        return str(e)
    return None


def presets() -> list[str]:
    """The projection presets of the library (``fast``, ``balanced``, ``faithful``)."""
    from faceedit.projection.project import PRESETS

    return list(PRESETS)

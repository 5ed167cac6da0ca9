"""The library calls behind each pipeline step (no model math here): load, align, project, translate,
render, transfer, mix, finish, and the reference copies the rules ask for when an edit fails.

:class:`Engine` holds the models and translation stores (main process; created only when there is work
to do, so a fully resumed run loads no model).  :func:`post_process` transfers (``edit.mode =
"transfer"``), mixes, resizes and saves the edits of one reference from a picklable :class:`PostJob`, so
it can run in worker processes (dlib, used by the face parser, is not thread-safe).
"""
from __future__ import annotations

import contextlib
import io
import shutil
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from faceedit.errors import ConfigError, DataError, InvalidInput
from faceedit.images import resize, save_image
from faceedit.io import atomic_path
from faceedit.types import Latent

from .references import Reference
from .report import COPY, EDITED

PLACEHOLDER_GRAY = 127


class ReferenceCopy:
    """What a failed edit is replaced by: the reference image as a ``size``×``size`` RGB PNG.

    A reference that already is a ``size``×``size`` RGB PNG is copied byte for byte; any other readable
    image is converted and resized; a truncated file is decoded as far as it goes; an unreadable one
    becomes a gray image (and the run reports it).
    """

    def __init__(self, path: Path, size: int, compress_level: int = 6):
        self.path, self.size, self.compress_level = Path(path), size, compress_level
        self.byte_copy = _is_png_rgb(self.path, size)
        self.note: str | None = None
        if not self.byte_copy:
            image, self.note = _decode_leniently(self.path)
            if image is None:
                image = np.full((size, size, 3), PLACEHOLDER_GRAY, np.uint8)
            self.image = resize(image, size)

    def write(self, dst: Path) -> None:
        """Write the copy at ``dst`` (atomically)."""
        if self.byte_copy:
            with atomic_path(dst) as tmp:
                shutil.copyfile(self.path, tmp)
        else:
            save_image(dst, self.image, compress_level=self.compress_level)


def _is_png_rgb(path: Path, size: int) -> bool:
    from PIL import Image

    try:
        with Image.open(path) as im:
            ok = im.format == "PNG" and im.mode == "RGB" and im.size == (size, size)
            im.load()
            return ok
    except Exception:  # any decoding failure means: not a clean copy source
        return False


def _decode_leniently(path: Path) -> tuple[np.ndarray | None, str | None]:
    """Decode a broken image as far as possible (PIL's truncated-image mode); None if nothing decodes."""
    from PIL import Image, ImageFile

    try:
        data = path.read_bytes()
    except OSError as e:
        return None, f"unreadable ({e}); gray placeholder written"
    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB")), "decoded as far as the file goes"
    except Exception:
        return None, "not decodable at all; gray placeholder written"
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _load_encoder(name: str, builtin_generator: bool) -> Any:
    """``model.encoder``: a path/name, "none", or "" = the built-in encoder when the generator is the
    built-in one (None, i.e. start from the mean W, when it is not installed), else no encoder."""
    from faceedit.errors import CheckpointError, WeightsNotAvailable
    from faceedit.models.encoder import load_encoder

    if name == "none" or (not name and not builtin_generator):
        return None
    if name:
        return load_encoder(name)
    try:
        return load_encoder()
    except (CheckpointError, WeightsNotAvailable) as e:
        warnings.warn(f"projection starts from the mean W: {e}", stacklevel=2)
        return None


def projection_options(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The :class:`faceedit.projection.project.ProjectionSettings` overrides of a run: batch size, seed and
    ``project.options`` (``["steps=20", "lr=0.05"]``, values parsed as TOML by the config system)."""
    from faceedit.config import parse_overrides

    pcfg = cfg["project"]
    try:
        options = parse_overrides(pcfg["options"])
    except ConfigError as e:
        raise ConfigError(f"project.options: {e}") from None
    return {"batch_size": int(pcfg["batch_size"]), "seed": int(cfg["run"]["seed"]), **options}


class Engine:
    """The models and stores of a run, and one method per step."""

    def __init__(self, cfg: Mapping[str, Any], generator: Any = None, encoder: Any = None):
        from faceedit.edit.translations import TranslationStore

        from faceedit.devices import resolve_device, set_network_device

        self.cfg = cfg
        self.device = resolve_device(cfg["run"]["device"])
        set_network_device(self.device)  # the parsers / depth network of the mixups and the transfer
        builtin = generator is None and not cfg["model"]["generator"]
        if generator is None:
            from faceedit.models.checkpoints import load_generator

            generator = load_generator(cfg["model"]["generator"] or None)
        self.generator = generator.eval().to(self.device)
        self.model_id = str(generator.model_id)
        self.encoder = encoder if encoder is not None else _load_encoder(cfg["model"]["encoder"], builtin)
        shape = (int(generator.n_latent), int(generator.style_dim))
        user = [TranslationStore(f, self.model_id, shape) for f in cfg["translate"]["folders"]]
        for store in user:
            if not store.folder.is_dir():
                raise ConfigError(f"translate.folders: {store.folder} is not a folder")
            for name in store.names():  # a folder of another model's shape stops the run before any work
                try:
                    store.get(name)
                except DataError:
                    pass  # an unreadable file: only the outputs that need it fall back to copies
        # increasing priority: the shipped defaults, then the user's folders (conditional `_fr_` names win
        # inside each folder; that rule lives in faceedit.edit.translations)
        self.stores = [TranslationStore.default(self.model_id, shape), *user]
        if not any(len(store) for store in self.stores):
            folders = ", ".join(str(store.folder) for store in self.stores)
            raise DataError(f"no translations for model {self.model_id!r} (looked in {folders}); "
                            "add a folder with translate.folders or build them with `faceedit directions`")
        self._projector = None

    # -- align + project ------------------------------------------------------------------------------

    def align(self, image: np.ndarray) -> np.ndarray:
        """The largest face of a photo, FFHQ-aligned at the output size."""
        from faceedit.faces.alignment import align

        return align(image, size=int(self.cfg["output"]["size"]))[0].image

    @property
    def projector(self):
        """The :class:`faceedit.projection.project.Projector` of the configured preset and options."""
        if self._projector is None:
            from faceedit.projection.project import Projector, ProjectionSettings

            settings = ProjectionSettings.from_preset(self.cfg["project"]["preset"], **projection_options(self.cfg))
            self._projector = Projector(self.generator, self.encoder, settings, device=self.device)
        return self._projector

    def project(
        self, files: Sequence[Path], out_dir: Path, progress: bool = False
    ) -> tuple[dict[str, Latent | str], dict[str, int]]:
        """Project aligned face files with :func:`faceedit.projection.project.project_files` (cached by content,
        settings and model in ``out_dir``); return stem → Latent (or the reason it failed) and counts."""
        from faceedit.projection.project import project_files

        summary = project_files(list(files), out_dir, self.projector, progress=progress, log=lambda _: None)
        out: dict[str, Latent | str] = {f["source"]: f"projection failed: {f['error']}" for f in summary.failures}
        out = {Path(k).stem: v for k, v in out.items()}
        for stem in [*summary.done, *summary.cached]:
            out[stem] = self._read_latent(out_dir / "projected_latents" / f"{stem}.npy")
        return out, {"computed": len(summary.done), "cached": len(summary.cached), "failed": len(summary.failures)}

    def load_latent(self, name: str) -> Latent:
        """A precomputed W+ latent ``{latents_dir}/{name}.npy`` (when projection is switched off)."""
        folder = self.cfg["project"]["latents_dir"]
        if not folder:
            raise ConfigError("project.enabled = false needs project.latents_dir (precomputed latents)")
        return self._read_latent(Path(folder) / f"{name}.npy")

    def _read_latent(self, path: Path) -> Latent:
        """A W+ latent in any layout of :mod:`faceedit.edit.layouts` (``(n, d)``, ``(1, n, d)`` or one W row)."""
        from faceedit.edit.layouts import read_latent

        if not path.is_file():
            raise DataError(f"{path}: no such latent")
        try:
            w = read_latent(path, (self.generator.n_latent, self.generator.style_dim))
        except InvalidInput as e:
            raise DataError(str(e)) from None
        return Latent(w, self.model_id)

    # -- translate + render ---------------------------------------------------------------------------

    def translations_for(self, ref: Reference) -> dict[str, Any]:
        """Target name → Translation (None where no folder has one), by the naming rules."""
        from faceedit.edit.translations import resolve

        out = {}
        for target in ref.targets:
            if ref.labels is not None:
                out[target] = resolve(target, ref.labels, self.stores, self.model_id)
            else:  # generic mode: the name itself, from the highest-priority folder holding it
                out[target] = next((s.get(target) for s in reversed(self.stores) if target in s), None)
        return out

    def edit(self, latent: Latent, translation: Any) -> np.ndarray:
        """The edited W+ code: shift by the translation's strength times ``translate.strength``."""
        from faceedit.edit.translations import apply

        scale = float(self.cfg["translate"]["strength"])
        if translation.meta.get("mode", "shift") == "shift":
            return apply(latent, translation, translation.default_strength * scale).w
        return apply(latent, translation).w  # set-level: the translation's own target level

    def render(self, ws: np.ndarray) -> list[np.ndarray]:
        """Images (RGB uint8 at the generator's resolution) of W+ codes ``(N, n_latent, style_dim)``."""
        from faceedit.synthesis import synthesize

        batch = max(1, int(self.cfg["translate"]["batch_size"]))
        return list(synthesize(self.generator, ws, batch_size=batch))


# -- mix + finish: the post-processing of one reference, run in a worker process ---------------------

@dataclass
class PostJob:
    """Everything the post-processing of one reference needs (picklable, for worker processes)."""

    cfg: Mapping[str, Any]
    out_dir: Path  # the run's output root
    reference: str
    reference_path: Path
    names: list[str]  # translation names, one per edited image
    edited: list[np.ndarray]  # generator outputs
    base: np.ndarray  # the image the edits are mixed into
    used: dict[str, str]  # translation name → the translation file applied
    targets: list[str] = field(default_factory=list)  # every output of the reference (for its contact sheet)
    sheet: bool = False  # write the reference's contact sheet at the end
    # edit.mode = "transfer": the render of the reference's own latent, R = G(w) (None: "replace")
    reconstruction: np.ndarray | None = None


@dataclass
class PostResult:
    """Per output: ``(name, status, extra)`` (``extra``: used / note / reason); seconds per step."""

    outputs: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    sheet: bool = False  # the contact sheet was written


def output_path(out_dir: Path, reference: str, name: str) -> Path:
    """``{out_dir}/output_images/{reference}/{name}.png``."""
    return Path(out_dir) / "output_images" / reference / f"{name}.png"


def sheet_path(out_dir: Path, reference: str) -> Path:
    """``{out_dir}/report/{reference}.jpg``: the contact sheet of one face."""
    return Path(out_dir) / "report" / f"{reference}.jpg"


def write_contact_sheet(
    out_dir: Path, reference: str, reference_path: Path, targets: Sequence[str],
    ready: Mapping[str, np.ndarray] | None = None,
) -> None:
    """The reference and every output in one captioned image; outputs in ``ready`` are used as they are,
    the others are read from their files (missing ones are left out)."""
    from faceedit.errors import FaceEditError
    from faceedit.images import load_image

    from .report import contact_sheet

    ready = ready or {}
    tiles = []
    for label, source in [("reference", reference_path)] + [(t, output_path(out_dir, reference, t)) for t in targets]:
        if label in ready:
            tiles.append((label, ready[label]))
            continue
        try:
            tiles.append((label, load_image(source)))
        except FaceEditError:
            continue
    save_image(sheet_path(out_dir, reference), contact_sheet(tiles), quality=85)


def new_mixer(cfg: Mapping[str, Any], original: np.ndarray | None = None,
              maps: "AlignedFaceMaps | None" = None) -> Any:
    """A :class:`faceedit.compose.mixups.Mixer` for one reference (it caches that original's parsing and depth),
    or None when mixups are off.  Every ``mixups`` key of :data:`faceedit.compose.mixups.DEFAULTS` is passed on.

    With the ``original`` image (aligned), the parser and depth estimator get their landmarks from
    :class:`AlignedFaceMaps` (no face detection per edit) instead of detecting the face in every image;
    ``maps`` passes one already made for that original.
    """
    if not cfg["mixups"]["enabled"]:
        return None
    from faceedit.compose.mixups import DEFAULTS, Mixer

    config = {k: v for k, v in cfg["mixups"].items() if k in DEFAULTS}
    if maps is None and original is not None and {"segmentation", "depth"} & set(config["steps"]):
        maps = AlignedFaceMaps.of(original)
    return Mixer(config) if maps is None else Mixer(config, parser=maps.parse, depth=maps.depth)


class AlignedFaceMaps:
    """Face parsing and depth of an aligned original and its edits, without a face detection per edit.

    An edit keeps the face where the original has it, so the 68 landmarks of every image come from the
    shape predictor run in the original's detected face box (:func:`faceedit.faces.alignment.landmarks_in_box`);
    the parse of the last image is reused by its depth estimate.
    """

    def __init__(self, original: np.ndarray):
        from faceedit.faces.alignment import detect_faces
        from faceedit.errors import NoFaceFound

        found = detect_faces(original)
        if not found:
            raise NoFaceFound("no face found in the reference image")
        self.box = found[0][0]
        self._key: bytes | None = None
        self._landmarks: np.ndarray | None = None
        self._labels: np.ndarray | None = None

    @classmethod
    def of(cls, original: np.ndarray) -> "AlignedFaceMaps | None":
        """The maps of ``original``, or None when no face is found in it (the Mixer's own parser then
        reports the face it cannot find; the transfer parses nothing)."""
        from faceedit.errors import NoFaceFound

        try:
            return cls(original)
        except NoFaceFound:
            return None

    def _select(self, image: np.ndarray) -> None:
        import hashlib

        from faceedit.faces.alignment import landmarks_in_box

        key = hashlib.blake2b(np.ascontiguousarray(image).data, digest_size=16).digest()
        if key != self._key:
            self._key, self._landmarks, self._labels = key, landmarks_in_box(image, self.box), None

    def parse(self, image: np.ndarray) -> np.ndarray:
        """CelebAMask-HQ labels ``(H, W)`` (:func:`faceedit.faces.parsing.parse`, landmarks backend)."""
        from faceedit.faces.parsing import parse

        self._select(image)
        if self._labels is None:
            self._labels = parse(image, landmarks=self._landmarks)
        return self._labels

    def depth(self, image: np.ndarray) -> np.ndarray:
        """Relative inverse depth ``(H, W)`` (:func:`faceedit.faces.depth.estimate_depth`, template backend)."""
        from faceedit.faces.depth import estimate_depth

        labels = self.parse(image)
        return estimate_depth(image, landmarks=self._landmarks, labels=labels)


def worker_init() -> None:
    """Worker processes ignore Ctrl-C: the main process stops the run, lets the running jobs finish
    their files and cancels the rest (so an interruption prints one line, not a traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def post_process(job: PostJob) -> PostResult:
    """Transfer (``edit.mode = "transfer"``), mixups, resize to ``output.size`` and save each edit of one
    reference; an edit that fails for any reason is replaced by the reference copy, with the reason.

    ``replace``: the render itself is mixed into the base at ``mixups.size`` (0 = output size); when that
    is below the output size and the base is the reference, every pixel the mixups kept from the reference
    is taken from the full-resolution reference (see :func:`restore_kept`).  ``transfer``: the change
    ``R → E`` of the renders is carried onto the reference at the output size
    (:func:`faceedit.compose.transfer.transfer_edit`, with the reference's parsing), then the mixups run at the
    output size too, so the transferred pixels are never resampled.
    """
    from faceedit.devices import set_network_device

    cfg, result = job.cfg, PostResult()
    set_network_device(cfg["run"]["device"])  # a post-processing worker process: the run's device too
    out_size = int(cfg["output"]["size"])
    transfer = job.reconstruction is not None
    size = out_size if transfer else int(cfg["mixups"]["size"]) or out_size
    intermediate = bool(cfg["output"]["save_intermediate"])
    level = int(cfg["output"]["png_compress_level"])
    clock = _Clock(result.seconds)
    base = resize(job.base, size)
    editor = None
    with clock("transfer" if transfer else "mixups"):
        maps = AlignedFaceMaps.of(base) if transfer or _mixups_need_maps(cfg) else None
        mixer = new_mixer(cfg, base, maps=maps)
        if transfer:
            editor = _Transferrer(cfg, base, maps, mixer)
    full = None
    if mixer is not None and cfg["mixups"]["base"] == "reference" and size < out_size:
        full = resize(job.base, out_size)
    if transfer and intermediate:
        save_intermediate(job.out_dir, "reconstruction", job.reference, job.reconstruction)
    ready: dict[str, np.ndarray] = {}
    for name, edited in zip(job.names, job.edited):
        try:
            if intermediate:
                save_intermediate(job.out_dir, "translated", f"{job.reference}/{name}", edited)
            notes: list[str] = []
            if editor is not None:
                with clock("transfer"):
                    image, notes = editor(job.reconstruction, edited, name)
                if intermediate:
                    save_intermediate(job.out_dir, "transferred", f"{job.reference}/{name}", image)
            else:
                image = resize(edited, size)
            with clock("mixups"):
                masks, dropped = {}, []
                if mixer is not None:
                    mixed = mixer.mix(base, image, name)
                    image, masks, dropped = mixed.image, mixed.masks, mixed.dropped
            if intermediate:
                save_intermediate(job.out_dir, "mixed", f"{job.reference}/{name}", image)
                for step, mask in masks.items():
                    save_intermediate(job.out_dir, "masks", f"{job.reference}/{name}_{step}", mask_image(mask))
            with clock("save"):
                final = resize(image, out_size)
                if full is not None:
                    final = restore_kept(full, final, np.all(image == base, axis=2))
                save_image(output_path(job.out_dir, job.reference, name), final, compress_level=level)
            if job.sheet:
                ready[name] = final
            extra = {"used": job.used[name]}
            notes = notes + [f"edit dropped by {d}" for d in dropped]
            if notes:
                extra["note"] = "; ".join(notes)
            result.outputs.append((name, EDITED, extra))
        except Exception as e:  # noqa: BLE001 - the rules want a file for every target, whatever went wrong
            with clock("copies"):
                reason = f"post-processing failed: {type(e).__name__}: {e}"
                copy = ReferenceCopy(job.reference_path, out_size, compress_level=level)
                copy.write(output_path(job.out_dir, job.reference, name))
            result.outputs.append((name, COPY, {"reason": reason}))
    if job.sheet:
        with clock("report"):
            write_contact_sheet(job.out_dir, job.reference, job.reference_path, job.targets, ready)
        result.sheet = True
    return result


def _mixups_need_maps(cfg: Mapping[str, Any]) -> bool:
    """The configured mixups parse or estimate depth (so an :class:`AlignedFaceMaps` saves detections)."""
    return bool(cfg["mixups"]["enabled"]) and bool({"segmentation", "depth"} & set(cfg["mixups"]["steps"]))


class _Transferrer:
    """``edit.mode = "transfer"`` for one reference: :func:`faceedit.compose.transfer.transfer_edit` onto the
    reference (at the output size) with its parsing, made once and shared with the mixer's cache.

    Without a face in the reference (``maps`` None) no labels are passed: the transfer tries its own
    parse and notes that it drops the chroma changes."""

    def __init__(self, cfg: Mapping[str, Any], original: np.ndarray, maps: "AlignedFaceMaps | None", mixer: Any):
        from faceedit.errors import NoFaceFound
        from faceedit.compose.transfer import TransferSettings

        self.original = original
        self.settings = TransferSettings.from_mapping(transfer_table(cfg))
        self.labels: np.ndarray | None = None
        if maps is not None:
            with contextlib.suppress(NoFaceFound):
                self.labels = maps.parse(original)
        if mixer is not None and self.labels is not None:
            mixer.prepare(original, labels=self.labels)  # the segmentation mixup reuses this parse

    def __call__(self, reconstruction: np.ndarray, edited: np.ndarray, name: str) -> tuple[np.ndarray, list[str]]:
        """The transferred edit ``name`` and the transfer's notes."""
        from faceedit.compose.transfer import transfer_edit

        out = transfer_edit(self.original, reconstruction, edited, name, labels=self.labels, settings=self.settings)
        return out.image, [f"transfer: {n}" for n in out.notes if n != "no change between the renders"]


def transfer_table(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """The ``edit.transfer`` table as :meth:`faceedit.compose.transfer.TransferSettings.from_mapping` takes it."""
    return dict(cfg["edit"]["transfer"])


def restore_kept(reference: np.ndarray, upscaled: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """Put the full-resolution ``reference`` back where the mixups kept the reference exactly (``kept``,
    at the mixups' size): the mixups restore the original bit for bit outside the allowed regions, so
    these pixels need not be the blurred round trip through the smaller size.  One blend
    (:func:`faceedit.compose.mixups.blend`) feathered over one low-resolution pixel."""
    from faceedit.compose.mixups import blend

    return blend(reference, upscaled, kept, feather_px=reference.shape[0] / kept.shape[0])


class _Clock:
    """``with clock("step"):`` adds the body's wall time to ``seconds["step"]``."""

    def __init__(self, seconds: dict[str, float]):
        self.seconds = seconds

    @contextlib.contextmanager
    def __call__(self, step: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[step] = self.seconds.get(step, 0.0) + time.perf_counter() - t0


def mask_image(mask: np.ndarray) -> np.ndarray:
    """A boolean mask as a black/white RGB image."""
    return np.repeat(np.where(np.asarray(mask, bool), 255, 0).astype(np.uint8)[..., None], 3, axis=2)


def save_intermediate(root: Path, step: str, name: str, image: np.ndarray) -> None:
    """``root/intermediate/{step}/{name}.png`` (``name`` may hold ``reference/translation``)."""
    save_image(Path(root) / "intermediate" / step / f"{name}.png", image)

"""``faceedit train rebuild-suite``: rebuild everything derived from a generator, so none of it goes stale.

A new generator (a fine-tune, a GPU run) changes what every W+ code means: its encoder, its translations and
their calibration, their acceptance by the validator and the sample grid must all be made again for it.
:func:`rebuild_suite` runs those stages in order into one folder, each stage skipped when its output is
already there (so an interrupted rebuild resumes; ``--force`` redoes them):

1. ``encoder.safetensors``: the given encoder (copied), else one trained for the generator
   (:func:`faceedit.train.encoder.train_encoder`, ``encoder_minutes``);
2. ``train_latents.npy``: the training faces encoded;
3. ``translations/<model-id>/``: every default translation fitted and calibrated on the *fitting* predictor
   (:func:`faceedit.edit.builder.build_default_set`);
4. ``acceptance.json`` + each sidecar's ``validation``: the independent validator's verdict on held-out faces
   (:func:`faceedit.measure.acceptance.accept_translations`; it never feeds back into the calibration);
5. ``samples.png``: 32 samples from seeded latents;
6. ``embedding_mapper.safetensors`` + ``descriptor_student.safetensors``: the dlib descriptor → W+ mapper of
   ``faceedit from-embedding`` and the differentiable student of dlib's descriptor (``--refine student``),
   both trained on pairs made for this generator (:func:`faceedit.train.embedding_mapper.suite_stage`;
   ``embedding_pairs`` 0 skips them, ``student_minutes`` 0 skips the student);
7. ``map_encoder.safetensors`` + ``tiny_parser.safetensors``: the segmentation-map encoder and the tiny parser of
   its map loss (:func:`faceedit.train.map_encoder.rebuild_stage`: pairs parsed into ``map_pairs/``, trained for
   ``map_encoder_minutes``; 0 skips it, and so does a generator under 32 px);
8. ``suite.json``: what was made, the validator summary and how to install the suite.

The validator itself is a measuring instrument trained on real photos only (``faceedit train validator``);
it does not depend on the generator and is reused as it is.
"""
from __future__ import annotations

import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import ConfigError, DataError

STAGES = ("encoder", "latents", "translations", "acceptance", "samples", "embedding-mapper", "map-encoder")


@dataclass
class SuiteSettings:
    """What :func:`rebuild_suite` builds from and where (paths may be ``None``: the built-in file)."""

    generator: str
    out: str
    cache: str
    model_id: str | None = None  # default: the generator file's model id
    encoder: str | None = None  # None: train one for the generator
    encoder_minutes: float = 20.0
    predictor: str | None = None  # the fitting predictor (default: built-in)
    validator: str | None = None  # the judge (default: the shipped validator or $FACEEDIT_VALIDATOR)
    build_options: dict[str, Any] = field(default_factory=dict)  # BUILD_DEFAULTS overrides
    max_faces: int = 200  # held-out faces per target and current value in the acceptance
    embedding_pairs: int = 6000  # real and sampled pairs each of the embedding mapper (0: no mapper)
    embedding_minutes: float = 10.0  # training budget of the embedding mapper
    student_minutes: float = 10.0  # training budget of the descriptor student (0: none)
    map_encoder_minutes: float = 20.0  # training budget of the map encoder (its pairs are parsed first; 0: none)
    map_pairs_from: str | None = None  # older map pairs whose photo parses are reused (faceedit.maps.pairs)
    force: bool = False
    threads: int | None = None


def _log(progress: Callable[[str], None] | None, msg: str) -> None:
    (progress or print)(msg)


def rebuild_suite(s: SuiteSettings, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run the stages of the module docstring into ``s.out``; returns the ``suite.json`` contents."""
    import torch

    from ..io import save_json
    from ..models.attributes import load_attribute_predictor
    from ..models.checkpoints import load_generator
    from .data import load_cache

    if s.threads:
        torch.set_num_threads(s.threads)
    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    G = load_generator(s.generator).eval()
    model_id = s.model_id or G.model_id
    if not model_id:
        raise ConfigError("the generator has no model id: give --model-id")
    G.model_id = model_id
    data = load_cache(s.cache)
    if data.resolution != G.resolution:
        raise DataError(f"{s.cache} holds {data.resolution}-px crops, the generator makes {G.resolution} px")
    timings: dict[str, float] = {}

    def stage(name: str, done: bool) -> bool:
        run = s.force or not done
        _log(progress, f"[{name}] {'building' if run else 'already built, kept'}")
        return run

    t = time.time()
    encoder_file = out / "encoder.safetensors"
    E = _encoder_for(s, G, data, out, encoder_file) if stage("encoder", encoder_file.is_file()) \
        else _check_encoder(encoder_file, G)
    timings["encoder"] = time.time() - t

    t = time.time()
    latents_file = out / "train_latents.npy"
    from ..edit.targets import labels_from_facedata
    from ..edit.builder import build_default_set, training_subset

    if stage("latents", latents_file.is_file()):
        from ..edit.directions import encode_images
        from ..io import save_npy

        save_npy(latents_file, encode_images(E, training_subset(data).images))
    latents = np.load(latents_file, allow_pickle=False)
    timings["latents"] = time.time() - t

    t = time.time()
    folder = out / "translations" / model_id
    P = load_attribute_predictor(s.predictor)
    if stage("translations", (folder / "build_report.json").is_file()):
        tmp = folder.with_name(folder.name + ".partial")
        shutil.rmtree(tmp, ignore_errors=True)
        build_default_set(E, data, tmp, model_id, s.build_options, latents=latents,
                          progress=lambda m: _log(progress, f"  {m}"), generator=G, predictor=P)
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # a half-built set never takes the place of a finished one
    timings["translations"] = time.time() - t

    t = time.time()
    from ..measure.acceptance import accept_translations, acceptance_groups, record_verdicts
    from ..models.validator import load_validator
    from ..edit.translations import TranslationStore

    store = TranslationStore(folder, model_id)
    acceptance_file = out / "acceptance.json"
    if stage("acceptance", acceptance_file.is_file()):
        V = load_validator(s.validator)
        val = data.subset(data.val)
        found = accept_translations(G, E, V, val.images, acceptance_groups(labels_from_facedata(val)), store,
                                    s.max_faces, fitting=P)
        record_verdicts(store, found)
        save_json(acceptance_file, {"validator": str(s.validator or "built-in"), "judged_outputs": V.judged(),
                                    "held_out_faces": int(len(val)),
                                    "verdicts": {k: v.to_dict() for k, v in found.items()}})
    from ..io import load_json

    verdicts = load_json(acceptance_file)["verdicts"]
    timings["acceptance"] = time.time() - t

    samples_file = out / "samples.png"
    if stage("samples", samples_file.is_file()):
        from ..images import image_grid, save_image
        from ..measure.realism import generator_samples

        save_image(samples_file, image_grid(generator_samples(G, 32, seed=0), ncol=8))
    mapper_file, student_file = out / "embedding_mapper.safetensors", out / "descriptor_student.safetensors"
    if s.embedding_pairs and stage("embedding-mapper", mapper_file.is_file()
                                   and (student_file.is_file() or not s.student_minutes)):
        from .embedding_mapper import suite_stage

        t = time.time()
        mapper, student = suite_stage(s.generator, s.cache, str(latents_file), str(out), s.embedding_pairs,
                                      s.embedding_minutes, s.threads, s.student_minutes)
        if student is not None:
            _copy_model_file(student, student_file)
        _copy_model_file(mapper, mapper_file)
        timings["embedding-mapper"] = time.time() - t
    if s.map_encoder_minutes and stage("map-encoder", (out / "map_encoder.safetensors").is_file()):
        from .map_encoder import rebuild_stage

        t = time.time()
        rebuild_stage(out, G, s.cache, latents_file, s.map_encoder_minutes, lambda m: _log(progress, f"  {m}"),
                      reuse=s.map_pairs_from)
        timings["map-encoder"] = time.time() - t
    summary = {
        "model_id": model_id, "generator": str(s.generator), "encoder": str(encoder_file),
        "translations": str(folder), "n_translations": len(store),
        "accepted": sorted(k for k, v in verdicts.items() if v["verdict"] == "accepted"),
        "rejected": {k: v["verdict"] for k, v in verdicts.items() if v["verdict"].startswith("rejected")},
        "not_judged": sorted(k for k, v in verdicts.items() if v["verdict"].startswith("not judged")),
        "seconds": timings,
        "install": (f"copy the generator (+ its discriminator if fine-tuning continues) and {encoder_file.name} "
                    f"into faceedit/assets/ under the names of the files they replace, and "
                    f"{folder} into translations/{model_id}/ (keep the old model's translations/<old-id>/ folder: "
                    f"they still work with the old generator files)"),
    }
    save_json(out / "suite.json", summary)
    _log(progress, f"suite {model_id}: {len(store)} translations, {len(summary['accepted'])} accepted, "
                   f"{len(summary['rejected'])} rejected, {len(summary['not_judged'])} not judged by the validator "
                   f"({out / 'suite.json'})")
    return summary


def _fits(E: Any, G: Any) -> bool:
    """Whether the encoder ``E`` makes the W+ codes ``G`` takes."""
    return (E.n_latent, E.style_dim) == (G.n_latent, G.style_dim)


def _check_encoder(path: Path, G: Any) -> Any:
    """The encoder at ``path``, refused unless its codes fit ``G``."""
    from ..errors import ModelMismatch
    from ..models.encoder import load_encoder

    E = load_encoder(str(path))
    if not _fits(E, G):
        raise ModelMismatch(f"{path} makes ({E.n_latent}, {E.style_dim}) codes; the generator needs "
                            f"({G.n_latent}, {G.style_dim})")
    return E


def _copy_model_file(src: Path, dst: Path) -> None:
    """Copy a model file and its JSON sidecar (the sidecar first: a file without one is never left)."""
    shutil.copyfile(src.with_suffix(".json"), dst.with_suffix(".json"))
    shutil.copyfile(src, dst)


def _encoder_for(s: SuiteSettings, G: Any, data: Any, out: Path, encoder_file: Path) -> Any:
    """Copy the given encoder, or train one for ``G`` for ``s.encoder_minutes`` into ``out/encoder_run``;
    returns it (checked against ``G``)."""
    if s.encoder:
        src = Path(s.encoder)
        src = src if src.suffix else src.with_suffix(".safetensors")
        if not src.is_file():
            raise DataError(f"{src}: encoder file not found")
        E = _check_encoder(src, G)  # before anything is written
        _copy_model_file(src, encoder_file)
        return E
    import torch

    from ..config import load_config
    from ..models._files import ASSETS_DIR
    from ..models.checkpoints import save_model
    from ..models.encoder import load_encoder
    from .encoder import DEFAULTS, train_encoder

    run = out / "encoder_run"
    run.mkdir(parents=True, exist_ok=True)
    g_file = run / "generator.safetensors"
    save_model(G, g_file, model_id=G.model_id)
    cfg = load_config(DEFAULTS, None, [])
    cfg["train"]["max_minutes"] = float(s.encoder_minutes)
    cfg["train"]["steps"] = 10 ** 7  # the minutes decide
    builtin = ASSETS_DIR / "encoder.safetensors"
    if builtin.is_file() and _fits(load_encoder(str(builtin)), G):  # warm start from the built-in encoder
        cfg["train"]["init"] = str(builtin)
    train_encoder(data, run, cfg, torch.device("cpu"), resume=(run / "checkpoint.pt").is_file(), generator=str(g_file))
    trained = run / "encoder.safetensors"
    if not trained.is_file():
        raise DataError(f"the encoder run in {run} wrote no encoder.safetensors")
    E = _check_encoder(trained, G)
    _copy_model_file(trained, encoder_file)
    return E

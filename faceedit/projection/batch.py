"""Batch projection runs: :func:`project_files` (behind ``faceedit project`` and the pipeline's projection
step) projects image files into a folder of latents, reconstructions and ``metrics.json``, cached by file
content, settings and model, every file written atomically; several processes (Ray workers) may project
different images into the same folder at once (``metrics.json`` is merged under a file lock).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..errors import FaceEditError, InvalidInput

if TYPE_CHECKING:
    from .project import ProjectionSettings, Projector


@dataclass
class RunSummary:
    """What :func:`project_files` did: stems written, reused from the cache, and failures."""

    done: list[str] = field(default_factory=list)
    cached: list[str] = field(default_factory=list)
    failures: list[dict[str, str]] = field(default_factory=list)


def cache_key(file_bytes: bytes, settings: ProjectionSettings, model_id: str, extra: dict[str, Any]) -> str:
    """sha256 of the input file's content, the settings, the model and anything else that changes results."""
    h = hashlib.sha256(file_bytes)
    h.update(json.dumps({"settings": settings.to_dict(), "model_id": model_id, **extra}, sort_keys=True).encode())
    return h.hexdigest()[:32]


def project_files(paths: Sequence[str | os.PathLike], out_dir: str | os.PathLike, projector: Projector,
                  align: bool = False, force: bool = False, progress: bool = True,
                  log: Callable[[str], None] = print) -> RunSummary:
    """Project image files into ``out_dir``: ``projected_latents/{stem}.npy`` (n_latent x style_dim
    float32), ``projected_images/{stem}.png`` and ``metrics.json`` (settings, per-image metrics, failures).

    Results are cached by file content + settings + model: existing outputs with a matching key are
    reused unless ``force``.  Every output is written atomically and metrics.json after every batch, so an
    interruption (Ctrl-C) keeps what is finished.  ``align`` detects and FFHQ-aligns raw photos first
    (largest face).  Unreadable files, photos without a face, etc. are listed as failures; others go on.
    """
    from tqdm.auto import tqdm

    from ..images import list_images, load_image, save_image
    from ..io import atomic_path, load_json, save_json, save_npy

    out = Path(out_dir)
    lat_dir, img_dir = out / "projected_latents", out / "projected_images"
    metrics_path = out / "metrics.json"
    previous: dict[str, Any] = {}
    if metrics_path.is_file():
        try:
            previous = load_json(metrics_path).get("images", {})
        except (ValueError, OSError, AttributeError):
            previous = {}
    G = projector.generator
    extra = {"align": align, "encoder": getattr(projector.encoder, "meta", None) and
             json.dumps(projector.encoder.meta, sort_keys=True, default=str), "perceptual": projector.perceptual_name}
    from ..devices import describe_device

    report: dict[str, Any] = {"model_id": G.model_id, "resolution": G.resolution,
                              "settings": projector.settings.to_dict(), "perceptual": projector.perceptual_name,
                              "device": describe_device(projector.device), "images": {}, "failures": []}
    summary = RunSummary()

    def fail(path: Path, err: Exception) -> None:
        summary.failures.append({"source": str(path), "error": str(err)})
        log(f"failed: {path}: {err}")

    files = list_images(paths)
    stems = _unique_stems(files)
    # results of earlier calls on other images stay in metrics.json (and so stay cached)
    current = set(stems)
    report["images"].update({stem: entry for stem, entry in previous.items() if stem not in current
                             and (lat_dir / f"{stem}.npy").is_file() and (img_dir / f"{stem}.png").is_file()})
    pending: list[tuple[str, Path, str, np.ndarray]] = []

    def flush() -> None:
        if not pending:
            return
        results = projector.project([p[3] for p in pending])
        for (stem, path, key, _), res in zip(pending, results):
            save_npy(lat_dir / f"{stem}.npy", res.latent.w)
            save_image(img_dir / f"{stem}.png", res.image)
            if res.noise is not None:
                with atomic_path(out / "projected_noise" / f"{stem}.npz") as tmp:
                    np.savez(tmp, *res.noise)
            report["images"][stem] = {"source": str(path), "key": key, "cached": False, **res.metrics}
            summary.done.append(stem)
        pending.clear()
        _write_report(metrics_path, report, summary, save_json)

    bar = tqdm(list(zip(stems, files)), desc="project", unit="img", disable=not progress)
    try:
        for stem, path in bar:
            try:
                data = Path(path).read_bytes()
            except OSError as e:
                fail(path, InvalidInput(f"{path}: cannot read ({e.strerror or e})"))
                continue
            key = cache_key(data, projector.settings, G.model_id, extra)
            old = previous.get(stem)
            if (not force and old and old.get("key") == key and (lat_dir / f"{stem}.npy").is_file()
                    and (img_dir / f"{stem}.png").is_file()):
                report["images"][stem] = {**old, "cached": True}
                summary.cached.append(stem)
                continue
            try:
                image = load_image(path)
                if align:
                    from ..faces.alignment import align as align_photo

                    image = align_photo(image, size=G.resolution)[0].image
            except FaceEditError as e:
                fail(path, e)
                continue
            pending.append((stem, Path(path), key, image))
            if len(pending) >= projector.settings.batch_size:
                flush()
        flush()
    finally:
        bar.close()
        _write_report(metrics_path, report, summary, save_json)
    return summary


def _unique_stems(files: Sequence[Path]) -> list[str]:
    """File stems, with ``_2``, ``_3``... appended where two inputs share a stem."""
    seen: dict[str, int] = {}
    stems = []
    for f in files:
        stem = Path(f).stem
        seen[stem] = seen.get(stem, 0) + 1
        stems.append(stem if seen[stem] == 1 else f"{stem}_{seen[stem]}")
    return stems


def _write_report(path: Path, report: dict[str, Any], summary: RunSummary, save_json: Callable) -> None:
    """metrics.json, merged under a lock with what other processes (Ray workers projecting other images
    into the same folder) wrote meanwhile: their finished images are kept, this call's entries win."""
    from ..io import file_lock, load_json

    with file_lock(path.with_name(".metrics.lock")):
        try:
            on_disk = load_json(path).get("images", {}) if path.is_file() else {}
        except (ValueError, OSError, AttributeError):
            on_disk = {}
        failed = {Path(f["source"]).stem for f in summary.failures}
        for stem, entry in on_disk.items():
            if stem not in report["images"] and stem not in failed and _has_outputs(path.parent, stem):
                report["images"][stem] = entry
        _write_metrics(path, report, summary, save_json)


def _has_outputs(out: Path, stem: str) -> bool:
    return (out / "projected_latents" / f"{stem}.npy").is_file() and (out / "projected_images" / f"{stem}.png").is_file()


def _write_metrics(path: Path, report: dict[str, Any], summary: RunSummary, save_json: Callable) -> None:
    done = [v for v in report["images"].values()]
    report["failures"] = summary.failures
    report["summary"] = {
        "n_images": len(done), "n_computed": len(summary.done), "n_cached": len(summary.cached),
        "n_failed": len(summary.failures),
        **{f"mean_{k}": round(float(np.mean([v[k] for v in done])), 4)
           for k in ("psnr", "ssim", "lpips", "seconds") if done and all(k in v for v in done)},
    }
    save_json(path, report)


def rewrite_summary(out_dir: str | os.PathLike, summary: RunSummary) -> None:
    """Give ``metrics.json`` the failures and counts of a whole run made of several :func:`project_files`
    calls (Ray tasks, each of which wrote its own part)."""
    from ..io import load_json, save_json

    path = Path(out_dir) / "metrics.json"
    try:
        report = load_json(path) if path.is_file() else {"images": {}}
    except (ValueError, OSError):
        report = {"images": {}}
    _write_report(path, report, summary, save_json)

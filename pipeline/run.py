"""``python -m pipeline.run``: edit every reference face of a folder into the challenge's set of outputs.

Steps, each switchable in the config: align (raw photos) → project (cached) → translate (selection by the
naming rules: shipped defaults < conditional ``_fr_`` names < user folders) → render → edit transfer
(``edit.mode = "transfer"``, the default: the change between the renders of ``w`` and ``w + d`` carried
onto the reference's own pixels; ``"replace"``: the render replaces the face) → mixups (domain,
segmentation, depth: where the edit may appear) → save ``OUT/output_images/{reference}/{translation}.png``
(``output.size``² RGB PNG).
Done outputs are skipped (resumable); every write is atomic (Ctrl-C leaves only complete files); an edit
that fails is replaced by a copy of the reference image, as the challenge rules ask, and reported.

Python use::

    from pipeline.run import load_settings, run_pipeline
    report = run_pipeline(load_settings(None, ["input.dir=faces", "output.dir=out"]))
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import zipfile
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from faceedit.config import load_config, read_toml, save_config
from faceedit.cli import CommandParser, exit_process
from faceedit.errors import FaceEditError
from faceedit.io import atomic_path

from .references import Reference, find_references
from .report import COPY, SKIPPED, RunReport, write_html, write_json

DEFAULTS_PATH = Path(__file__).with_name("default.toml")


def default_config() -> dict[str, Any]:
    """The pipeline's defaults: ``pipeline/default.toml``, with the mixup settings of
    :data:`faceedit.compose.mixups.DEFAULTS` (all but the region shapes) under ``mixups`` and every knob of
    :class:`faceedit.compose.transfer.TransferSettings` under ``edit.transfer``."""
    from faceedit.config import merge
    from faceedit.compose.mixups import DEFAULTS as MIXUP_DEFAULTS

    cfg = read_toml(DEFAULTS_PATH)
    mixups = {k: v for k, v in MIXUP_DEFAULTS.items()}
    mixups["domain"] = {k: v for k, v in mixups["domain"].items() if k != "regions"}
    cfg["mixups"] = merge(cfg["mixups"], mixups, strict=False)
    cfg["edit"]["transfer"] = merge(cfg["edit"].get("transfer", {}), transfer_defaults(), strict=False)
    return cfg


def transfer_defaults() -> dict[str, Any]:
    """:class:`faceedit.compose.transfer.TransferSettings` defaults as a TOML-writable table (tuples as lists)."""
    import dataclasses

    from faceedit.compose.transfer import TransferSettings

    out: dict[str, Any] = {}
    for f in dataclasses.fields(TransferSettings):
        value = getattr(TransferSettings(), f.name)
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, (bool, int, float, str, list)):
            out[f.name] = value
    return out


def load_settings(path: str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """defaults < config file < ``key=value`` overrides (unknown keys are errors)."""
    return load_config(default_config(), path, overrides)


class Layout:
    """Where a run writes: ``output_images/``, ``aligned/``, ``projection/``, ``intermediate/``, ``report/``,
    ``config.toml``, ``report.json``, ``report.html``, ``submission.zip``."""

    def __init__(self, out: str | os.PathLike):
        self.root = Path(out)
        self.images = self.root / "output_images"
        self.config = self.root / "config.toml"
        self.json = self.root / "report.json"
        self.html = self.root / "report.html"
        self.zip = self.root / "submission.zip"
        self.projection = self.root / "projection"  # faceedit.project outputs + cache (metrics.json)

    def aligned(self, reference: str) -> Path:
        """``aligned/{reference}.png``: the aligned face of a raw photo (align step)."""
        return self.root / "aligned" / f"{reference}.png"

    def output(self, reference: str, translation: str) -> Path:
        """``output_images/{reference}/{translation}.png``."""
        from .steps import output_path

        return output_path(self.root, reference, translation)


class _RunState:
    """What the steps of one run share: config, layout, report, engine and the post-processing pool."""

    def __init__(self, cfg: Mapping[str, Any], layout: Layout, report: RunReport):
        self.cfg, self.layout, self.report = cfg, layout, report
        self.engine: Any = None
        self.pool: ProcessPoolExecutor | None = None
        self.futures: list[tuple[Reference, list[str], Future]] = []
        self.sheets_done: set[str] = set()  # contact sheets written by the post-processing


def check_settings(cfg: Mapping[str, Any]) -> None:
    """Fail early, before any work, on settings the steps would reject later (in a worker)."""
    from faceedit.errors import ConfigError

    from .steps import new_mixer

    if cfg["mixups"]["base"] not in ("reference", "projection"):
        raise ConfigError(f"mixups.base {cfg['mixups']['base']!r}: use 'reference' or 'projection'")
    check_edit_settings(cfg)
    for key in ("output.size", "run.workers", "mixups.size", "output.png_compress_level"):
        section, name = key.split(".")
        if not isinstance(cfg[section][name], int) or cfg[section][name] < 0:
            raise ConfigError(f"{key} must be a non-negative integer; got {cfg[section][name]!r}")
    if cfg["output"]["size"] < 1 or cfg["output"]["png_compress_level"] > 9:
        raise ConfigError("output.size must be >= 1 and output.png_compress_level 0-9")
    check_run_settings(cfg)
    new_mixer(cfg)  # validates the mixup settings
    if cfg["project"]["enabled"]:
        from faceedit.projection.project import ProjectionSettings

        from .steps import projection_options

        ProjectionSettings.from_preset(cfg["project"]["preset"], **projection_options(cfg))


def check_run_settings(cfg: Mapping[str, Any]) -> None:
    """``run.device`` is a device this machine has (checked on the Ray workers for ``ray``; here only the
    name), ``run.executor`` one of :data:`faceedit.distributed.EXECUTORS` (Ray installed for ``ray``), and
    the ``ray`` numbers are non-negative."""
    from faceedit.devices import check_device_name, resolve_device
    from faceedit.distributed import check_executor
    from faceedit.errors import ConfigError

    executor = check_executor(cfg["run"]["executor"])
    device = check_device_name(cfg["run"]["device"])
    if executor == "local":
        resolve_device(device)
    rcfg = cfg["ray"]
    for key in ("num_cpus", "workers", "cpus_per_worker", "gpus_per_worker", "references_per_task", "retries"):
        if isinstance(rcfg[key], bool) or not isinstance(rcfg[key], (int, float)) or rcfg[key] < 0:
            raise ConfigError(f"ray.{key} must be a non-negative number; got {rcfg[key]!r}")
    if executor == "ray" and device.startswith("cuda") and not rcfg["gpus_per_worker"]:
        raise ConfigError("run.device = 'cuda' on Ray needs ray.gpus_per_worker > 0 (Ray hides GPUs from "
                          "workers that reserve none)")


def check_edit_settings(cfg: Mapping[str, Any]) -> None:
    """``edit.mode`` is one of :data:`faceedit.compose.transfer.EDIT_MODES`, ``edit.transfer`` makes valid
    :class:`~faceedit.compose.transfer.TransferSettings`, and a transfer edits the reference itself."""
    from faceedit.errors import ConfigError, InvalidInput
    from faceedit.compose.transfer import EDIT_MODES, TransferSettings

    from .steps import transfer_table

    mode = cfg["edit"]["mode"]
    if mode not in EDIT_MODES:
        raise ConfigError(f"edit.mode {mode!r}: use {' or '.join(repr(m) for m in EDIT_MODES)}")
    try:
        TransferSettings.from_mapping(transfer_table(cfg))
    except (InvalidInput, TypeError, ValueError) as e:
        raise ConfigError(f"edit.transfer: {e}") from None
    if mode == "transfer" and cfg["mixups"]["base"] == "projection":
        raise ConfigError("mixups.base = 'projection' mixes the edits into the generator's reconstruction; the "
                          "transfer edits the reference's own pixels: use edit.mode = 'replace' with it, or "
                          "mixups.base = 'reference'")


def run_pipeline(cfg: Mapping[str, Any], generator: Any = None, progress: bool = True) -> RunReport:
    """Run every step on ``input.dir`` into ``output.dir``; return the report (also written to disk).

    ``generator`` replaces ``model.generator`` (tests pass a tiny one).
    """
    import torch

    from faceedit.io import remove_temp_files

    check_settings(cfg)
    torch.manual_seed(int(cfg["run"]["seed"]))
    layout = Layout(cfg["output"]["dir"])
    remove_temp_files(layout.root)  # the unfinished writes of a killed run (their outputs are redone)
    report = RunReport()
    report.meta["executor"] = cfg["run"]["executor"]
    icfg = cfg["input"]
    found = find_references(icfg["dir"], icfg["mode"], icfg["labels_csv"] or None, cfg["translate"]["names"])
    save_config(cfg, layout.config)
    for rej in found.rejected:
        report.add_reference(rej.path.stem, str(rej.path))
        report.fail_reference(rej.path.stem, rej.reason)
    references = found.references
    if int(cfg["run"]["limit"]) > 0:
        references = references[: int(cfg["run"]["limit"])]

    pending: list[tuple[Reference, list[str]]] = []
    for ref in references:
        report.add_reference(ref.name, str(ref.path), ref.labels)
        todo = []
        for t in ref.targets:
            if not cfg["run"]["overwrite"] and layout.output(ref.name, t).is_file():
                report.output(ref.name, t, SKIPPED)
            else:
                todo.append(t)
        if todo:
            pending.append((ref, todo))

    state = _RunState(cfg, layout, report)
    try:
        if pending and cfg["run"]["executor"] == "ray":
            from .executors import run_on_ray

            run_on_ray(state, pending, generator, progress)
        elif pending:
            _run_local(state, pending, generator, progress)
    except KeyboardInterrupt:
        _stop_pool(state)
        for ref, _, future in state.futures:  # what finished before the interruption goes in the report
            if future.done() and not future.cancelled() and future.exception() is None:
                _record(state, ref, future.result())
        if cfg["run"]["executor"] != "ray" or not str(cfg["ray"]["address"]):
            # every writer of this run is stopped now (pool terminated, or the local Ray instance killed): remove
            # the temporary files they were killed in the middle of, rather than leaving them to the next run
            remove_temp_files(layout.root)
        write_json(report, layout.json)
        raise
    if state.pool is not None:
        state.pool.shutdown(wait=True)
    if "device" not in report.meta and cfg["run"]["executor"] == "local":  # fully resumed: no model loaded
        from faceedit.devices import describe_device, resolve_device

        report.meta["device"] = describe_device(resolve_device(cfg["run"]["device"]))

    _write_reports(state, references, progress)
    if cfg["output"]["zip"]:
        with report.timed("zip"):
            write_zip(layout, references)
    write_json(report, layout.json)
    return report


def _run_local(state: _RunState, pending: list[tuple[Reference, list[str]]], generator: Any, progress: bool) -> None:
    """This machine: the models in this process, the post-processing on ``run.workers`` processes."""
    from faceedit.devices import describe_device

    from .steps import Engine

    with state.report.timed("load models"):
        state.engine = Engine(state.cfg, generator)
    state.report.meta["device"] = describe_device(state.engine.device)
    workers = int(state.cfg["run"]["workers"])
    if workers > 0:  # processes: the face parser (dlib) is not thread-safe
        from .steps import worker_init

        state.pool = ProcessPoolExecutor(workers, multiprocessing.get_context("spawn"), worker_init)
    _process(state, pending, progress)
    _drain(state, progress)


def _stop_pool(state: _RunState) -> None:
    """Ctrl-C: cancel the queued post-processing and stop the running jobs at once (their files are
    written atomically, so a stopped job leaves no partial output; the next run redoes it)."""
    pool = state.pool
    if pool is None:
        return
    processes = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        process.terminate()
    for process in processes:
        process.join(timeout=1.0)


def _process(state: _RunState, pending: list[tuple[Reference, list[str]]], progress: bool) -> None:
    """Load (+ align) every pending reference, project them all (one cached batch run), then translate
    each and queue its post-processing on the worker pool."""
    from tqdm import tqdm

    from faceedit.images import load_image, save_image

    cfg, report, engine, layout = state.cfg, state.report, state.engine, state.layout
    faces: dict[str, np.ndarray] = {}
    files: dict[str, Path] = {}
    for ref, todo in tqdm(pending, desc="load" + (" + align" if cfg["align"]["enabled"] else ""),
                          unit="face", disable=not progress, leave=False):
        try:
            aligned = layout.aligned(ref.name)
            if cfg["align"]["enabled"] and aligned.is_file():
                with report.timed("load"):
                    image = load_image(aligned)  # aligned by an earlier, interrupted run
            else:
                with report.timed("load"):
                    image = load_image(ref.path)
                if cfg["align"]["enabled"]:
                    with report.timed("align"):
                        image = engine.align(image)
                        save_image(aligned, image)
        except FaceEditError as e:
            _fall_back(state, ref, todo, str(e), whole=True)
            continue
        faces[ref.name] = image
        files[ref.name] = aligned if cfg["align"]["enabled"] else ref.path

    ready = [(ref, todo) for ref, todo in pending if ref.name in faces]
    with report.timed("project"):
        latents = _project(state, [files[ref.name] for ref, _ in ready], progress)
    for ref, todo in tqdm(ready, desc="translate", unit="face", disable=not progress):
        latent = latents.get(ref.name, "projection gave no result")
        if isinstance(latent, str):
            _fall_back(state, ref, todo, latent, whole=True)
            continue
        base = faces.pop(ref.name)
        if cfg["mixups"]["base"] == "projection":
            base = load_image(layout.projection / "projected_images" / f"{ref.name}.png")
        _translate(state, ref, todo, latent, base)


def _project(state: _RunState, files: list[Path], progress: bool = False) -> dict[str, Any]:
    """Reference name → Latent, or the reason it has none (one failure does not stop the others)."""
    engine, report = state.engine, state.report
    if not files:
        return {}
    if not state.cfg["project"]["enabled"]:
        out: dict[str, Any] = {}
        for f in files:
            try:
                out[f.stem] = engine.load_latent(f.stem)
            except FaceEditError as e:
                out[f.stem] = str(e)
        return out
    try:
        latents, counts = engine.project(files, state.layout.projection, progress)
    except (FaceEditError, RuntimeError, ValueError) as e:
        if len(files) == 1:
            return {files[0].stem: f"projection failed: {type(e).__name__}: {e}"}
        out = {}
        for f in files:  # isolate the face that breaks the batch
            out.update(_project(state, [f]))
        return out
    report.count("projection", counts)
    return latents


def _translate(state: _RunState, ref: Reference, todo: list[str], latent: Any, base: np.ndarray) -> None:
    """Edit the latent for every target still to do, render, and queue mixups + saving."""
    engine, report = state.engine, state.report
    with report.timed("translate"):
        try:
            chosen = engine.translations_for(ref)
        except FaceEditError as e:
            _fall_back(state, ref, todo, f"translations: {e}", whole=True)
            return
        names, ws, used = [], [], {}
        for t in todo:
            translation = chosen.get(t)
            if translation is None:
                _fall_back(state, ref, [t], f"no translation for {t!r} (model {engine.model_id})")
                continue
            try:
                ws.append(engine.edit(latent, translation))
                names.append(t)
                used[t] = translation.name
            except FaceEditError as e:
                _fall_back(state, ref, [t], f"{translation.name}: {e}")
    if not ws:
        return
    transfer = state.cfg["edit"]["mode"] == "transfer"
    if transfer:
        ws.append(np.asarray(latent.w))  # R = G(w), rendered in the same batch as the edits
    with report.timed("render"):
        images = engine.render(np.stack(ws))
    reconstruction = images.pop() if transfer else None
    from .steps import PostJob, post_process

    job = PostJob(state.cfg, state.layout.root, ref.name, _copy_source(state, ref), names, images, base, used,
                  ref.targets, bool(state.cfg["output"]["contact_sheets"]), reconstruction)
    if state.pool is None:
        _record(state, ref, post_process(job))
    else:
        state.futures.append((ref, names, state.pool.submit(post_process, job)))


def _record(state: _RunState, ref: Reference, result: Any) -> None:
    """Add a :class:`~pipeline.steps.PostResult` to the report."""
    for name, status, extra in result.outputs:
        state.report.output(ref.name, name, status, **extra)
    state.report.add_seconds(result.seconds)
    if result.sheet:
        state.sheets_done.add(ref.name)


def _copy_source(state: _RunState, ref: Reference) -> Path:
    """The image a failed edit is replaced by: the aligned face of a raw photo when there is one, else the
    reference image itself."""
    aligned = state.layout.aligned(ref.name)
    return aligned if state.cfg["align"]["enabled"] and aligned.is_file() else ref.path


def _fall_back(state: _RunState, ref: Reference, targets: list[str], reason: str, whole: bool = False) -> None:
    """Write the reference copy under each target name and record why (``whole``: the reference failed)."""
    from .steps import ReferenceCopy

    report = state.report
    with report.timed("copies"):
        size, level = int(state.cfg["output"]["size"]), int(state.cfg["output"]["png_compress_level"])
        copy = ReferenceCopy(_copy_source(state, ref), size, compress_level=level)
        if copy.note:
            reason = f"{reason} (reference copy: {copy.note})"
        for t in targets:
            copy.write(state.layout.output(ref.name, t))
            report.output(ref.name, t, COPY, reason)
    if whole:
        report.fail_reference(ref.name, reason)


def _drain(state: _RunState, progress: bool) -> None:
    """Wait for the queued post-processing and record it (failed edits already became copies)."""
    from tqdm import tqdm

    for ref, names, future in tqdm(state.futures, desc="post-processing", unit="face", disable=not progress,
                                   leave=False):
        try:
            _record(state, ref, future.result())
        except Exception as e:  # noqa: BLE001 - a worker that died (e.g. out of memory): copies, reported
            _fall_back(state, ref, names, f"post-processing worker failed: {type(e).__name__}: {e}")
    state.futures.clear()


def _write_reports(state: _RunState, references: list[Reference], progress: bool) -> None:
    """The contact sheets the post-processing did not write (resumed or failed faces), report.html and
    report.json."""
    from tqdm import tqdm

    from .steps import sheet_path, write_contact_sheet

    layout, report = state.layout, state.report
    if state.cfg["output"]["contact_sheets"]:
        with report.timed("report"):
            todo = [ref for ref in references if ref.name not in state.sheets_done]
            for ref in tqdm(todo, desc="contact sheets", disable=not progress, leave=False):
                write_contact_sheet(layout.root, ref.name, _copy_source(state, ref), ref.targets)
    sheets = {ref.name: sheet_path(layout.root, ref.name).relative_to(layout.root).as_posix()
              for ref in references if sheet_path(layout.root, ref.name).is_file()}
    write_html(report, layout.html, sheets)
    write_json(report, layout.json)


def write_zip(layout: Layout, references: list[Reference]) -> Path:
    """``submission.zip``: exactly ``{reference}/{translation}.png`` of every reference (atomically)."""
    with atomic_path(layout.zip) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as z:
            for ref in references:
                for t in ref.targets:
                    path = layout.output(ref.name, t)
                    if path.is_file():
                        z.write(path, f"{ref.name}/{t}.png")
    return layout.zip


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m pipeline.run`` argument parser."""
    parser = CommandParser(
        prog="python -m pipeline.run",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Edit every reference face of a folder into the Ceteris Paribus Face Challenge outputs "
        "(or apply any list of translations to any folder of faces).\n\n"
        "Steps: align (raw photos, off by default) -> project into W+ (cached) -> translate (chosen by the "
        "naming rules: shipped defaults < conditional '_fr_' names < translate.folders) -> render -> edit "
        "transfer -> mixups (domain, segmentation, depth) -> save "
        "OUT/output_images/{reference}/{translation}.png as 512x512 RGB PNG.\n"
        "edit.mode (--edit-mode): 'transfer' (default) carries the change between the renders of the "
        "reference's latent and of the edited latent onto the reference's own pixels at the output size "
        "(motion, smooth colour/shading change, new content such as a beard only where the photo has no "
        "pixels for it), so outputs keep the photo's sharpness; 'replace' pastes the upscaled render (the "
        "behaviour before transfer). The mixups run after either and restrict where the edit may appear; "
        "in transfer mode they run at output.size (mixups.size is used by 'replace' only) and need "
        "mixups.base = 'reference'. Transfer knobs: edit.transfer.* (faceedit.compose.transfer.TransferSettings).\n"
        "Settings: pipeline/default.toml < --config FILE < KEY=VALUE overrides < the flags below; the merged "
        "config is saved as OUT/config.toml. Done outputs are skipped, so an interrupted run resumes; failed "
        "edits are replaced by a copy of the reference image and listed in the summary and OUT/report.json.",
        epilog="examples:\n"
        "  python -m pipeline.run input.dir=input_images output.dir=out --zip\n"
        "  python -m pipeline.run --config my.toml project.preset=fast 'mixups.steps=[\"domain\"]' --workers 2\n"
        "  python -m pipeline.run --edit-mode replace      # the upscaled render replaces the face\n"
        "  python -m pipeline.run edit.transfer.flow_preset=fast   # a transfer knob\n"
        "  python -m pipeline.run input.labels_csv=labels.csv input.dir=faces   # CSV columns image,labels\n"
        "  python -m pipeline.run input.mode=generic 'translate.names=[\"A_2\",\"Be_max\"]' input.dir=photos "
        "align.enabled=true\n"
        "  python -m pipeline.run --config out/config.toml      # the same run again (resumes)\n"
        "  python -m pipeline.run --executor ray --ray-address auto --device cuda ray.gpus_per_worker=0.5\n"
        "  python -m pipeline.check out/output_images --references input_images",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides, e.g. project.preset=fast")
    parser.add_argument("--config", metavar="TOML", help="config file merged over pipeline/default.toml")
    parser.add_argument("--input", metavar="DIR", help="reference images (input.dir)")
    parser.add_argument("--out", metavar="DIR", help="results folder (output.dir)")
    parser.add_argument("--edit-mode", choices=("transfer", "replace"),
                        help="transfer the edit onto the reference's pixels (default) or replace the face by "
                        "the render (edit.mode)")
    parser.add_argument("--workers", type=int, metavar="N",
                        help="post-processing worker processes, 0 = none (run.workers)")
    parser.add_argument("--device", metavar="cpu|cuda|mps|auto",
                        help="where the models run (run.device; default cpu, reproducible across machines)")
    parser.add_argument("--executor", choices=("local", "ray"),
                        help="local = this machine's process pool (default); ray = Ray tasks (run.executor)")
    parser.add_argument("--ray-address", metavar="auto|HOST:PORT",
                        help="the Ray cluster to use; without it a local Ray instance is started and stopped "
                        "(ray.address)")
    parser.add_argument("--save-intermediate", action="store_true", default=None,
                        help="keep each step's images under OUT/intermediate/ (output.save_intermediate)")
    parser.add_argument("--zip", action="store_true", default=None, help="also write OUT/submission.zip (output.zip)")
    parser.add_argument("--overwrite", action="store_true", default=None,
                        help="redo outputs that exist instead of resuming (run.overwrite)")
    parser.add_argument("--print-config", action="store_true", help="print the merged config and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def settings_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The merged config of the command line (flags win over overrides)."""
    flags = {"input.dir": args.input, "output.dir": args.out, "run.workers": args.workers, "edit.mode": args.edit_mode,
             "output.save_intermediate": args.save_intermediate, "output.zip": args.zip,
             "run.overwrite": args.overwrite, "run.device": args.device, "run.executor": args.executor,
             "ray.address": args.ray_address}
    extra = [override(k, v) for k, v in flags.items() if v is not None]
    return load_settings(args.config, [*args.overrides, *extra])


def override(key: str, value: Any) -> str:
    """A ``key=value`` override string for any value (paths and strings quoted as TOML strings)."""
    from faceedit.config import dumps_toml

    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    return f"{key}={dumps_toml({'v': value}).split('=', 1)[1].strip()}"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline; exit 0 when every reference got its outputs (edits or reference copies), 1 when
    some input could not be used at all (e.g. a file name that breaks the label rules), 130 on Ctrl-C."""
    from faceedit.cli import guarded

    args = build_parser().parse_args(argv)
    return guarded(lambda: _run(args), interrupted=INTERRUPTED)


INTERRUPTED = "interrupted: finished outputs are kept; run again to resume"


def _run(args: argparse.Namespace) -> int:
    cfg = settings_from_args(args)
    if args.print_config:
        from faceedit.config import dumps_toml

        print(dumps_toml(cfg), end="")
        return 0
    from faceedit.devices import describe_device, resolve_device

    device = cfg["run"]["device"]
    where = describe_device(resolve_device(device)) if cfg["run"]["executor"] == "local" else f"{device} (Ray workers)"
    print(f"device: {where}", file=sys.stderr)
    report = run_pipeline(cfg, progress=not args.quiet)
    print(report.summary_text())
    layout = Layout(cfg["output"]["dir"])
    zipped = f"   zip: {layout.zip}" if cfg["output"]["zip"] else ""
    print(f"outputs: {layout.images}   report: {layout.html}{zipped}")
    rejected = [r.name for r in report.references.values() if r.error and not r.outputs]
    return 1 if rejected else 0

if __name__ == "__main__":
    exit_process(main())

"""``--executor local|ray`` of the batch commands (``faceedit project DIR``, ``faceedit edit DIR``): the
arguments, and the Ray runs (:mod:`faceedit.distributed`): files split into tasks, one worker (actor) per
CPU holding the models, results written by the workers atomically into ``--out`` (a shared path on a
cluster), failures listed as in a local run."""
from __future__ import annotations

import argparse
import contextlib
import functools
import io
import sys
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import FaceEditError


def add_executor_arguments(p: argparse.ArgumentParser) -> None:
    """``--executor``, ``--ray-address``, ``--ray-workers``."""
    p.add_argument("--executor", default="local", choices=("local", "ray"),
                   help="local = this process (default); ray = Ray tasks on a local Ray instance or --ray-address "
                   "(pip install 'faceedit[ray]')")
    p.add_argument("--ray-address", default="", metavar="auto|HOST:PORT",
                   help="the Ray cluster to use; without it a local Ray instance is started and stopped")
    p.add_argument("--ray-workers", type=int, default=0, metavar="N",
                   help="Ray workers, each holding the models (default: one per CPU of the cluster)")


def _options(args: argparse.Namespace) -> dict[str, Any]:
    return {"workers": max(0, int(args.ray_workers)), "cpus_per_worker": 1.0,
            "gpus_per_worker": 1.0 if str(getattr(args, "device", "cpu")).startswith("cuda") else 0.0}


class _BatchWorker:
    """A Ray worker of ``for_each_image``: ``make_process()`` once, then every path of a batch; returns
    ``[(path, error or None, printed text)]``."""

    def __init__(self, make_process: Callable[[], Callable[[Path], None]]) -> None:
        self.process = make_process()
        self.device_name = getattr(self.process, "device_name", "")

    def __call__(self, paths: list[Path]) -> list[tuple[str, str | None, str]]:
        out = []
        for path in paths:
            printed = io.StringIO()
            error = None
            with contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
                try:
                    self.process(path)
                except FaceEditError as e:
                    error = str(e)
            out.append((str(path), error, printed.getvalue()))
        return out


def for_each_image_on_ray(args: argparse.Namespace, paths: Sequence[Path], desc: str,
                          make_process: Callable[[], Callable[[Path], None]], per_task: int = 4) -> int:
    """:func:`faceedit.cli._batch.for_each_image` on Ray: ``per_task`` images per task; what a worker
    printed is printed here; exit code 1 when some image failed."""
    from tqdm import tqdm

    from ..distributed import map_on_actors, ray_session

    batches = [list(paths[i:i + per_task]) for i in range(0, len(paths), per_task)]
    failed: list[str] = []
    bar = tqdm(total=len(paths), desc=desc, unit="image", disable=len(paths) < 2)

    def on_result(batch: list[Path], result: list[tuple[str, str | None, str]]) -> None:
        for path, error, printed in result:
            if printed:
                bar.write(printed.rstrip("\n"), file=sys.stderr)
            if error is not None:
                failed.append(f"{path}: {error}")

    def on_failure(batch: list[Path], reason: str) -> None:
        failed.extend(f"{path}: Ray task failed: {reason}" for path in batch)

    with ray_session(args.ray_address) as session:
        devices = map_on_actors(session, functools.partial(_BatchWorker, make_process), batches, on_result,
                                on_failure, progress=lambda batch: bar.update(len(batch)), **_options(args))
    bar.close()
    print(f"{desc}: {len(paths) - len(failed)}/{len(paths)} done on {len(devices)} Ray worker(s) "
          f"[device: {', '.join(sorted(set(devices)))}]")
    if failed:
        print("failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0


class _ProjectWorker:
    """A Ray worker of ``faceedit project``: the projector made once, then :func:`project_files` per chunk."""

    def __init__(self, make_projector: Callable[[], Any], out: str, align: bool, force: bool) -> None:
        from ..devices import describe_device

        self.projector = make_projector()
        self.device_name = describe_device(self.projector.device)
        self.out, self.align, self.force = out, align, force

    def __call__(self, files: list[Path]) -> Any:
        from ..projection.batch import project_files

        return project_files(files, self.out, self.projector, align=self.align, force=self.force, progress=False,
                             log=lambda _: None)


def project_on_ray(args: argparse.Namespace, files: Sequence[Path], make_projector: Callable[[], Any],
                   batch_size: int) -> tuple[Any, list[str]]:
    """:func:`faceedit.projection.batch.project_files` on Ray, one task per projection batch (the local
    run's batches); returns the merged :class:`~faceedit.projection.batch.RunSummary` and the workers'
    devices.  ``metrics.json`` ends with the whole run's summary."""
    from tqdm import tqdm

    from ..distributed import map_on_actors, ray_session
    from ..projection.batch import RunSummary, rewrite_summary

    chunks = [list(files[i:i + batch_size]) for i in range(0, len(files), batch_size)]
    total = RunSummary()
    bar = tqdm(total=len(files), desc="project (ray)", unit="img", disable=args.quiet)

    def on_result(chunk: list[Path], summary: Any) -> None:
        total.done.extend(summary.done)
        total.cached.extend(summary.cached)
        total.failures.extend(summary.failures)

    def on_failure(chunk: list[Path], reason: str) -> None:
        total.failures.extend({"source": str(path), "error": f"Ray task failed: {reason}"} for path in chunk)

    factory = functools.partial(_ProjectWorker, make_projector, str(args.out), bool(args.align), bool(args.force))
    with ray_session(args.ray_address) as session:
        devices = map_on_actors(session, factory, chunks, on_result, on_failure,
                                progress=lambda chunk: bar.update(len(chunk)), **_options(args))
    bar.close()
    rewrite_summary(Path(args.out), total)
    return total, devices

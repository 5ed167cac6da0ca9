"""``run.executor = "ray"``: the pipeline's pending references as Ray tasks (:mod:`faceedit.distributed`).

The references still to do are split into tasks of ``ray.references_per_task`` faces (default
``project.batch_size``, so the projection batches are the local run's).  Each task runs the local
pipeline's own steps (:func:`pipeline.run._process`: load + align, project, translate, render, transfer,
mixups, save) on a Ray worker that holds an :class:`~pipeline.steps.Engine` (models loaded once per
worker) and writes its outputs itself, atomically, into ``output.dir`` (a path every node sees).  The
worker's part of the report comes back and is merged here, so failures (no face, bad file) are recorded
exactly as in a local run; resume, the contact sheets, report.json/html and the zip stay with the driver.
"""
from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any, Mapping

if TYPE_CHECKING:
    from .references import Reference
    from .run import _RunState

Chunk = list  # [(Reference, [translation, ...]), ...]


class ChunkWorker:
    """What a Ray worker holds: the run's config and an Engine; called with one chunk of references."""

    def __init__(self, cfg: Mapping[str, Any], generator: Any = None) -> None:
        from faceedit.devices import describe_device

        from .steps import Engine

        self.cfg = cfg
        self.engine = Engine(cfg, generator)
        self.device_name = describe_device(self.engine.device)

    def __call__(self, chunk: Chunk) -> dict[str, Any]:
        """Process the chunk as a local run would (post-processing in this process); return the report
        part (:meth:`~pipeline.report.RunReport.export`) and the contact sheets written."""
        from .report import RunReport
        from .run import Layout, _process, _RunState

        state = _RunState(self.cfg, Layout(self.cfg["output"]["dir"]), RunReport())
        state.engine = self.engine
        for ref, _ in chunk:
            state.report.add_reference(ref.name, str(ref.path), ref.labels)
        _process(state, chunk, progress=False)
        return {"report": state.report.export(), "sheets": sorted(state.sheets_done)}


def chunks(pending: list[tuple["Reference", list[str]]], size: int) -> list[Chunk]:
    """``pending`` in order, ``size`` references per chunk."""
    size = max(1, size)
    return [pending[i:i + size] for i in range(0, len(pending), size)]


def run_on_ray(state: "_RunState", pending: list[tuple["Reference", list[str]]], generator: Any,
               progress: bool) -> None:
    """Process ``pending`` on Ray workers; every result (or failure) goes into ``state.report``."""
    from tqdm import tqdm

    from faceedit.distributed import map_on_actors, ray_session

    from .run import _fall_back

    cfg, report, rcfg = state.cfg, state.report, state.cfg["ray"]
    per_task = int(rcfg["references_per_task"]) or int(cfg["project"]["batch_size"])
    work = chunks(pending, per_task)
    bar = tqdm(total=len(pending), desc="references (ray)", unit="face", disable=not progress)

    def on_result(chunk: Chunk, result: dict[str, Any]) -> None:
        report.absorb(result["report"])
        state.sheets_done.update(result["sheets"])

    def on_failure(chunk: Chunk, reason: str) -> None:
        for ref, todo in chunk:
            _fall_back(state, ref, todo, f"Ray task failed: {reason}", whole=True)

    try:
        with ray_session(str(rcfg["address"]), int(rcfg["num_cpus"])) as session:
            report.add_seconds({"ray start": session.startup_seconds})
            report.meta["ray"] = {"address": session.address, "started_here": session.started,
                                  "startup_seconds": round(session.startup_seconds, 3), "cluster_cpus": session.cpus,
                                  "tasks": len(work), "references_per_task": per_task}
            devices = map_on_actors(
                session, functools.partial(ChunkWorker, cfg, generator), work, on_result, on_failure,
                workers=int(rcfg["workers"]), cpus_per_worker=float(rcfg["cpus_per_worker"]),
                gpus_per_worker=float(rcfg["gpus_per_worker"]), retries=int(rcfg["retries"]),
                progress=lambda chunk: bar.update(len(chunk)))
    finally:
        bar.close()
    report.meta["device"] = ", ".join(sorted(set(devices))) or str(cfg["run"]["device"])
    report.meta["ray"]["workers"] = len(devices)


"""Ray as the executor of the batch commands (``python -m pipeline.run``, ``faceedit project``, ``faceedit
edit`` with ``--executor ray``): connect to a cluster or start a local instance, and map work items over a
pool of actors, one per worker, each holding its models (loaded once per worker).

Ray is an optional extra (``pip install 'faceedit[ray]'``), imported only when a run asks for it.  A local
instance started here has Ray's usage reporting turned off and is stopped at the end of the run (Ctrl-C
included).  An item whose worker died (killed, out of memory, node lost) is retried on a restarted worker
(``retries`` times); an item whose call raised is not retried: the caller's ``on_failure`` records it.
"""
from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from .errors import ConfigError, FaceEditError

EXECUTORS = ("local", "ray")
RAY_MISSING = "--executor ray needs Ray, which is not installed: pip install 'faceedit[ray]' (or pip install ray)"


def import_ray() -> Any:
    """The ``ray`` module, or a :class:`ConfigError` saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(RAY_MISSING) from None
    return ray


def check_executor(name: str) -> str:
    """``name`` when it is one of :data:`EXECUTORS` (and Ray is importable for ``ray``)."""
    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}; use {' or '.join(EXECUTORS)}")
    if name == "ray":
        import_ray()
    return name


@dataclass
class RaySession:
    """A connection to Ray: ``started`` (a local instance made for this run), ``startup_seconds``
    (``ray.init``), ``address`` and the cluster's CPUs and GPUs."""

    ray: Any
    started: bool
    startup_seconds: float
    address: str
    cpus: float = 0.0
    gpus: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@contextlib.contextmanager
def ray_session(address: str = "", num_cpus: int = 0) -> Iterator[RaySession]:
    """Connect to the Ray cluster at ``address`` (``auto`` or ``HOST:PORT``), or with no address start a
    local instance (``num_cpus`` > 0 limits its CPUs); disconnect, or stop the local instance, at the end."""
    ray = import_ray()
    if ray.is_initialized():  # the caller manages Ray (e.g. a notebook): use it, leave it running
        yield _session(ray, False, 0.0, "(already connected)")
        return
    started = not address
    if started:
        os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # no usage reporting from an instance started here
    t0 = time.perf_counter()
    try:
        ray.init(address=address or None, num_cpus=(num_cpus or None) if started else None,
                 include_dashboard=False, log_to_driver=True, logging_level="WARNING")
    except ConnectionError as e:
        raise ConfigError(f"cannot connect to the Ray cluster at {address!r}: {e}") from None
    interrupted = False
    try:
        yield _session(ray, started, time.perf_counter() - t0, address or "local")
    except KeyboardInterrupt:
        interrupted = True
        raise
    finally:
        if interrupted and started:
            stop_local_instance_now(ray)
        else:
            ray.shutdown()


def _descendants(pid: int) -> list[int]:
    """The process ids below ``pid`` (children, grandchildren, ...), read from ``/proc`` ([] without it)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])  # after "pid (name) state": ppid
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        found += kids
        todo += kids
    return found


def stop_local_instance_now(ray: Any, grace: float = 0.3) -> None:
    """Ctrl-C: stop the local Ray instance this process started at once.  Its processes (raylet, GCS, agents,
    workers: this process's descendants) get SIGTERM, and SIGKILL ``grace`` seconds later; Ray's own
    ``shutdown()`` (SIGTERM and a wait per process, 1.5 s here, then seconds of tearing down the driver's
    connections to the dead instance) finishes in a daemon thread, which an exiting process does not wait for.
    Without ``/proc`` (not Linux): ``ray.shutdown()``."""
    import atexit
    import signal
    import threading

    pids = _descendants(os.getpid())
    if not pids:
        ray.shutdown()
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
        if sig == signal.SIGTERM:
            time.sleep(grace)
    atexit.unregister(ray.shutdown)  # its exit-time shutdown would wait on the dead instance
    threading.Thread(target=ray.shutdown, daemon=True, name="ray-shutdown").start()


def _session(ray: Any, started: bool, seconds: float, address: str) -> RaySession:
    resources = ray.cluster_resources()
    return RaySession(ray, started, seconds, address, float(resources.get("CPU", 0)), float(resources.get("GPU", 0)))


class _Worker:
    """One actor: the object ``factory()`` made once (the models), called on each item."""

    def __init__(self, factory: Callable[[], Callable[[Any], Any]]) -> None:
        import signal

        with contextlib.suppress(ValueError):  # Ctrl-C in a terminal reaches the workers of a local instance
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # too: the driver stops them (no half-done "failures")
        self.error: FaceEditError | None = None
        try:
            self.fn = factory()
        except FaceEditError as e:  # bad settings or models: reported by ready(), not a worker crash loop
            self.error = e

    def ready(self) -> str:
        """Raise the error the models failed to load with; else describe the worker (its device)."""
        if self.error is not None:
            raise self.error
        return str(getattr(self.fn, "device_name", ""))

    def call(self, item: Any) -> Any:
        return self.fn(item)


def actor_count(session: RaySession, workers: int, cpus_per_worker: float, gpus_per_worker: float) -> int:
    """``workers``, or (0) as many as the cluster's CPUs (and GPUs, when each worker needs some) hold."""
    if workers > 0:
        return workers
    n = int(session.cpus // max(cpus_per_worker, 1e-6)) if cpus_per_worker > 0 else 1
    if gpus_per_worker > 0:
        n = min(n, int(session.gpus // gpus_per_worker))
    return max(1, n)


def map_on_actors(session: RaySession, factory: Callable[[], Callable[[Any], Any]], items: Sequence[Any],
                  on_result: Callable[[Any, Any], None], on_failure: Callable[[Any, str], None], *,
                  workers: int = 0, cpus_per_worker: float = 1.0, gpus_per_worker: float = 0.0,
                  retries: int = 2, progress: Callable[[Any], None] | None = None) -> list[str]:
    """Call ``factory()(item)`` for every item on a pool of actors (``factory`` runs once per actor);
    ``on_result(item, result)`` / ``on_failure(item, reason)`` run here as items finish, then
    ``progress(item)``.  Returns the workers' descriptions (e.g. their devices).

    Items are handed out one per idle actor, so a slow item does not hold up the others.  An actor that
    died is restarted and its item retried (``retries`` times); a call that raised is not retried.  On
    Ctrl-C every actor is killed at once (atomic writes leave no partial output) and the interruption
    propagates.
    """
    ray = session.ray
    n = min(actor_count(session, workers, cpus_per_worker, gpus_per_worker), max(1, len(items)))
    remote = ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=retries,
                        max_task_retries=retries)(_Worker)
    actors = [remote.remote(factory) for _ in range(n)]
    try:
        described = ray.get([a.ready.remote() for a in actors])
    except ray.exceptions.RayTaskError as e:
        _kill(ray, actors)
        cause = getattr(e, "cause", None)
        raise (cause if isinstance(cause, FaceEditError) else e) from None
    except BaseException:
        _kill(ray, actors)
        raise
    queue = list(items)
    running: dict[Any, tuple[Any, Any]] = {}  # ObjectRef -> (item, actor)
    idle = list(actors)
    try:
        while queue or running:
            while queue and idle:
                actor, item = idle.pop(), queue.pop(0)
                running[actor.call.remote(item)] = (item, actor)
            done, _ = ray.wait(list(running), num_returns=1, timeout=0.2)
            for ref in done:
                item, actor = running.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayTaskError as e:  # the call raised: not retried, reported
                    cause = getattr(e, "cause", None) or e
                    on_failure(item, f"{type(cause).__name__}: {cause}")
                    idle.append(actor)
                except ray.exceptions.RayActorError as e:  # died more often than it may restart
                    on_failure(item, f"worker died: {type(e).__name__}")
                else:
                    on_result(item, result)
                    idle.append(actor)
                if progress is not None:
                    progress(item)
            if queue and not idle and not running:  # every worker is gone for good
                for item in queue:
                    on_failure(item, "no Ray worker left (all died)")
                queue.clear()
    finally:
        _kill(ray, actors)
    return [d for d in described if d]


def _kill(ray: Any, actors: list[Any]) -> None:
    for actor in actors:
        with contextlib.suppress(Exception):
            ray.kill(actor, no_restart=True)

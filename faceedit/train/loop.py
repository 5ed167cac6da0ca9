"""Utilities shared by the training loops: device, seeding, checkpoints with exact resume, logs, grids."""
from __future__ import annotations

import csv
import json
import os
import random
import shutil
import time
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np
import torch

from ..errors import CheckpointError, ConfigError, DataError
from ..io import atomic_path

CHECKPOINT_NAME = "checkpoint.pt"


def pick_device(name: str) -> torch.device:
    """``cpu`` or ``cuda`` (error if CUDA is not available).  Choosing CUDA also turns on TF32 matrix and
    convolution math and cuDNN autotuning for the whole process."""
    from ..devices import resolve_device

    if name not in ("cpu", "cuda") and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; use cpu or cuda")
    device = resolve_device(name)  # the one availability check (CUDA present, device index exists)
    if device.type == "cuda":  # TF32 matrix/convolution units: ~an order of magnitude over fp32 on Ampere+
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    return device


CLOCKS = {"wall": time.monotonic, "cpu": time.process_time}


class Deadline:
    """The time budget of a training run (``train.max_minutes``; 0 means none): the loops stop at the first
    step past it, write their checkpoint and export the model as if ``steps`` had been reached.  ``clock``:
    ``wall`` (default) or ``cpu``, the CPU time of this process (all its threads) — the same amount of
    computation however busy the machine is (studies that compare runs use it)."""

    def __init__(self, minutes: float, clock: str = "wall") -> None:
        if clock not in CLOCKS:
            raise ConfigError(f"unknown budget clock {clock!r}; use {' or '.join(CLOCKS)}")
        self.clock = CLOCKS[clock]
        self.end = self.clock() + 60.0 * minutes if minutes and minutes > 0 else None

    def passed(self) -> bool:
        return self.end is not None and self.clock() >= self.end


def deadline_for(tc: Mapping[str, Any]) -> Deadline:
    """The :class:`Deadline` of a ``train`` config: ``max_minutes`` on the ``budget_clock`` (default ``wall``)."""
    return Deadline(tc["max_minutes"], tc.get("budget_clock", "wall"))


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA) for a deterministic run."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def rng_state() -> dict[str, Any]:
    """The global RNG states (torch CPU/CUDA, numpy, Python) for an exact resume."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping[str, Any]) -> None:
    """Restore what :func:`rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def check_free_disk(folder: Path, needed_bytes: float) -> None:
    """Raise DataError before writing when the folder's disk cannot hold ``needed_bytes``."""
    folder.mkdir(parents=True, exist_ok=True)
    free = shutil.disk_usage(folder).free
    if free < needed_bytes:
        raise DataError(f"{folder}: out of disk space ({free / 1e6:.0f} MB free, {needed_bytes / 1e6:.0f} MB needed)")


def save_checkpoint(path: str | os.PathLike, state: Mapping[str, Any]) -> None:
    """Write a training checkpoint atomically (the previous one stays intact until the rename)."""
    path = Path(path)
    check_free_disk(path.parent, 64e6)
    with atomic_path(path) as tmp:
        torch.save(dict(state), tmp)


def training_state(step: int, config: Mapping[str, Any], **objects: Any) -> dict[str, Any]:
    """A checkpoint dict: ``state_dict()`` of every named object (models, optimisers, batch order), the
    global RNG states, the step and the config.  Under ``torchrun`` also every rank's RNG states (``rng_ranks``,
    a collective: every rank calls it; :mod:`faceedit.train.ddp`)."""
    from .ddp import current_world

    return {**{name: obj.state_dict() for name, obj in objects.items()}, "rng": rng_state(), "step": step,
            "config": dict(config), **current_world().rng_states()}


def write_checkpoint(path: str | os.PathLike, step: int, config: Mapping[str, Any], **objects: Any) -> None:
    """:func:`training_state` saved to ``path`` (:func:`save_checkpoint`): every rank calls it, rank 0 writes."""
    from .ddp import current_world

    state = training_state(step, config, **objects)
    if current_world().main:
        save_checkpoint(path, state)


def restore_training_state(checkpoint: Mapping[str, Any], **objects: Any) -> int:
    """Load what :func:`training_state` saved into the named objects and the RNGs (under ``torchrun`` this rank's
    own stream, :meth:`~faceedit.train.ddp.World.restore_rng`); returns the step."""
    from .ddp import current_world

    for name, obj in objects.items():
        obj.load_state_dict(checkpoint[name])
    set_rng_state(checkpoint["rng"])
    current_world().restore_rng(checkpoint)
    return int(checkpoint["step"])


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` (our own file: full unpickling is allowed)."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - any unpickling failure means a damaged file
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {e})") from None


class MetricLog:
    """Append one row per logged step to ``<name>.csv`` and ``<name>.jsonl`` in the run folder (all rows of
    one log must have the same keys)."""

    def __init__(self, folder: str | os.PathLike, resume_step: int | None = None, name: str = "log"):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.csv_path, self.json_path = self.folder / f"{name}.csv", self.folder / f"{name}.jsonl"
        if resume_step is None:
            for p in (self.csv_path, self.json_path):
                p.unlink(missing_ok=True)
        else:
            self._truncate(resume_step)

    def _truncate(self, step: int) -> None:
        """Drop rows logged after the checkpoint we resume from (they will be logged again)."""
        if self.json_path.is_file():
            rows = [json.loads(line) for line in self.json_path.read_text().splitlines() if line.strip()]
            rows = [r for r in rows if r.get("step", 0) <= step]
            self.json_path.unlink()
            self.csv_path.unlink(missing_ok=True)
            for r in rows:
                self.write(r)

    def write(self, row: Mapping[str, Any]) -> None:
        row = {k: (float(v) if isinstance(v, (np.floating, torch.Tensor)) else v) for k, v in row.items()}
        new = not self.csv_path.is_file()
        with open(self.csv_path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(row))
            if new:
                w.writeheader()
            w.writerow(row)
        with open(self.json_path, "a") as f:
            f.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        if not self.json_path.is_file():
            return []
        return [json.loads(line) for line in self.json_path.read_text().splitlines() if line.strip()]


def resume_or_seed(out_dir: str | os.PathLike, resume: bool, world: Any, seed: int, seed_single_process: bool = True,
                   checkpoint: Mapping[str, Any] | None = None, **state: Any) -> tuple[int, MetricLog | None]:
    """Start a training run's loop: with ``resume``, restore ``state`` (models, optimisers, ``batches``, RNG
    states) from ``out_dir``'s checkpoint (or the ``checkpoint`` already read from it); else seed this rank's RNG
    streams with ``seed + 2`` (only under torchrun when not ``seed_single_process``: a single process then keeps
    the stream it always had).  Returns the step to start from and the metric log (the main rank's; None on the
    others)."""
    step = 0
    if resume:
        step = restore_training_state(checkpoint or load_checkpoint(Path(out_dir) / CHECKPOINT_NAME), **state)
    elif seed_single_process or world.distributed:
        world.seed(seed + 2)
    log = MetricLog(out_dir, resume_step=step if resume else None) if world.main else None
    return step, log


def after_step(step: int, end: int, out_of_time: bool, tc: Mapping[str, Any], samples: Callable[[], None],
               checkpoint: Callable[[], None]) -> bool:
    """Sample grid and checkpoint on their schedules (``train.sample_every`` / ``checkpoint_every``), at the
    last step and when the time budget ran out; True when the loop must stop (out of time)."""
    if step % tc["sample_every"] == 0 or step == end or out_of_time:
        samples()
    if step % tc["checkpoint_every"] == 0 or step == end or out_of_time:
        checkpoint()
    return out_of_time


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def requires_grad(module: torch.nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


@torch.no_grad()
def ema_update(ema: torch.nn.Module, model: torch.nn.Module, beta: float) -> None:
    """``ema = beta * ema + (1 - beta) * model`` for parameters; buffers are copied."""
    for pe, pm in zip(ema.parameters(), model.parameters()):
        pe.lerp_(pm.detach(), 1.0 - beta)
    for be, bm in zip(ema.buffers(), model.buffers()):
        be.copy_(bm)


def run_steps(start: int, steps: int, step_fn: Callable[[int], Mapping[str, float]], logger: MetricLog | None,
              checkpoint: Callable[[int], None], minutes: float = 0.0, log_every: int = 100,
              checkpoint_every: int = 1000, optimizer: torch.optim.Optimizer | None = None, lr: float = 0.0,
              extra_log: Callable[[], Mapping[str, float]] | None = None, desc: str = "training",
              progress: bool = True) -> tuple[int, bool]:
    """The loop of the small single-model trainers (embedding mapper, descriptor student, face recogniser):
    steps ``start..steps-1``; with an ``optimizer``, its learning rate follows a cosine from ``lr`` over ``steps``;
    ``step_fn(step)`` runs one step and returns its metrics, averaged into a ``logger`` row (+ ``extra_log()`` and
    the learning rate) every ``log_every`` steps; ``checkpoint(done)`` every ``checkpoint_every`` steps; both also at
    the last step and when the ``minutes`` budget runs out.  Returns ``(steps done, out of time)``.
    Under ``torchrun`` (:mod:`faceedit.train.ddp`) every rank runs the loop and calls ``checkpoint`` (it gathers
    the ranks' RNG states; rank 0 writes), only rank 0 logs (``logger`` may be None elsewhere), and all ranks
    stop together when one runs out of time."""
    from tqdm import tqdm

    from .ddp import current_world

    world = current_world()
    progress = progress and world.main
    deadline = Deadline(minutes)
    done, out_of_time, running = start, False, []
    bar = tqdm(range(start, steps), initial=start, total=steps, desc=desc, unit="step", disable=not progress)
    for step in bar:
        rate = lr * 0.5 * (1 + np.cos(np.pi * step / steps))
        if optimizer is not None:
            for g in optimizer.param_groups:
                g["lr"] = rate
        running.append(dict(step_fn(step)))
        done, out_of_time = step + 1, world.agree(deadline.passed())
        if done % log_every == 0 or done == steps or out_of_time:
            if world.main and logger is not None:
                row = {"step": done, **{k: float(np.mean([r[k] for r in running])) for k in running[0]},
                       **(extra_log() if extra_log else {}), **({"lr": rate} if optimizer is not None else {})}
                logger.write(row)
                bar.set_postfix({k: f"{v:.4f}" for k, v in row.items() if k != "step"})
            running = []
        if done % checkpoint_every == 0 or done == steps or out_of_time:
            checkpoint(done)
        if out_of_time:
            break
    return done, out_of_time


class SmallRun:
    """The bookkeeping of a small single-model trainer on :func:`run_steps` (embedding mapper, descriptor student,
    face recogniser): the run folder (rank 0 makes it), the checkpoint (read on ``resume``; written by rank 0 with
    every rank's RNG state) and the metrics log (rank 0).  Under ``torchrun`` see :mod:`faceedit.train.ddp`."""

    def __init__(self, out: str | os.PathLike, resume: bool = False, threads: int | None = None) -> None:
        from .ddp import current_world

        if threads:
            torch.set_num_threads(threads)
        self.out, self.world = Path(out), current_world()
        if self.world.main:
            self.out.mkdir(parents=True, exist_ok=True)
        self.checkpoint_data = load_checkpoint(self.out / CHECKPOINT_NAME) if resume else None
        self.objects: dict[str, Any] = {}

    def start(self, seed: int, **objects: Any) -> tuple[int, MetricLog | None]:
        """Share ``objects`` (networks, optimisers) among the ranks, restore them on a resume; returns the first
        step and the metrics log (None on the other ranks).  ``seed`` + 2 seeds each rank's own stream."""
        self.objects = objects
        self.world.distribute(objects)
        # under torchrun each rank its own dropout / noise (a single process keeps its stream)
        return resume_or_seed(self.out, bool(self.checkpoint_data), self.world, seed, False,
                              checkpoint=self.checkpoint_data, **objects)

    def checkpoint(self, config: Mapping[str, Any]) -> Callable[[int], None]:
        """The ``checkpoint(step)`` callback of :func:`run_steps` for the started objects."""
        def save(step: int) -> None:
            write_checkpoint(self.out / CHECKPOINT_NAME, step, config, **self.objects)
        return save

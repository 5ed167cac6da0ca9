"""Data-parallel training under ``torchrun`` (PyTorch's process launcher): the one hook every training loop uses.

``torchrun --nproc-per-node N -m faceedit train dcgan ...`` starts N copies of the command, each with ``RANK``,
``WORLD_SIZE``, ``LOCAL_RANK`` and a rendezvous address in its environment.  :func:`init_world` joins them into one
process group (``gloo`` on the CPU, ``nccl`` on CUDA, one GPU per local rank); without those variables it does
nothing and a run is the usual single process.  A loop then asks its :class:`World`:

- :meth:`World.batches`: each rank takes its own slice of one global batch of ``batch × N`` crops drawn from the
  seeded order every rank shares (``train.batch`` is per process; one process with the doubled batch sees the
  same crops);
- :meth:`World.sync`: each optimiser all-reduces (averages) its gradients just before it steps — a hook on the
  optimiser, not the ``DistributedDataParallel`` wrapper, so lazy R1, EMA copies, two optimisers and frozen
  feature networks need no special care; parameters start equal (broadcast from rank 0, :meth:`World.same_start`);
- :meth:`World.sync_batch_norm`: batch-norm layers normalise with the statistics of the global batch (our own
  layer: PyTorch's ``SyncBatchNorm`` refuses CPU tensors);
- :meth:`World.seed`: every rank its own random stream (noise, fakes, augmentations), the same per rank on resume;
- :attr:`World.main`: only rank 0 writes checkpoints, samples, logs, evaluations and the exported model.  A
  checkpoint holds every rank's RNG state (:meth:`World.rng_states`), so a resume with the same number of
  processes is exact; with another number it continues (each rank takes a saved stream) but not bit-exactly.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

import torch
from torch import nn

from ..errors import ConfigError
from .data import Batches


@dataclass(frozen=True)
class World:
    """The processes of one training run: this one's ``rank`` among ``size`` (1: not distributed)."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """True on the one process that writes files (rank 0)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.size > 1

    def batches(self, n: int, batch: int, seed: int) -> "RankBatches":
        """This rank's share of seeded batches of ``batch`` indices per process (see the module docstring)."""
        return RankBatches(n, batch, seed, self.rank, self.size)

    def mine(self, global_batch: Any) -> Any:
        """This rank's equal share of a global batch every rank drew alike (e.g. indices from a generator seeded
        by the step): the whole batch in a single process."""
        n = len(global_batch) // self.size
        return global_batch[self.rank * n:(self.rank + 1) * n]

    def seed(self, seed: int) -> None:
        """Seed torch's global generator: ``seed`` itself in a single process, ``seed`` + a rank offset else."""
        torch.manual_seed(seed + 100_003 * self.rank)

    def sync(self, *optimizers: torch.optim.Optimizer) -> None:
        """Average the gradients of each optimiser's parameters over all ranks just before it steps."""
        if not self.distributed:
            return
        for opt in optimizers:
            opt.register_step_pre_hook(_average_gradients)

    def distribute(self, objects: Mapping[str, Any]) -> None:
        """Prepare a loop's checkpointed objects: networks synchronise their batch norm and start from rank 0's
        weights, optimisers average gradients before they step (nothing in a single process)."""
        for obj in objects.values():
            if isinstance(obj, nn.Module):
                self.sync_batch_norm(obj)
                self.same_start(obj)
            elif isinstance(obj, torch.optim.Optimizer):
                self.sync(obj)

    def agree(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on any (e.g. one rank's clock ran out of time)."""
        if not self.distributed:
            return flag
        import torch.distributed as dist

        on = f"cuda:{self.local_rank}" if dist.get_backend() == "nccl" else "cpu"  # nccl reduces GPU tensors only
        t = torch.tensor([1.0 if flag else 0.0], device=on)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return bool(t.item() > 0)

    def same_start(self, *modules: nn.Module) -> None:
        """Copy rank 0's parameters and buffers to every rank (all ranks start from the same weights)."""
        if not self.distributed:
            return
        import torch.distributed as dist

        with torch.no_grad():
            for module in modules:
                for t in list(module.parameters()) + list(module.buffers()):
                    dist.broadcast(t.data, src=0)

    def sync_batch_norm(self, module: nn.Module) -> nn.Module:
        """Make every ``BatchNorm2d`` of ``module`` a :class:`SyncedBatchNorm2d` (same weights, same state-dict
        keys) when distributed; the module itself otherwise."""
        if not self.distributed:
            return module
        for name, child in module.named_children():
            if isinstance(child, nn.BatchNorm2d) and not isinstance(child, SyncedBatchNorm2d):
                child.__class__ = SyncedBatchNorm2d
            else:
                self.sync_batch_norm(child)
        return module

    def rng_states(self) -> dict[str, Any]:
        """Every rank's RNG states for a checkpoint (``{}`` in a single process; call it on every rank)."""
        if not self.distributed:
            return {}
        import torch.distributed as dist

        from .loop import rng_state

        states: list[Any] = [None] * self.size
        dist.all_gather_object(states, rng_state())
        return {"rng_ranks": states}

    def restore_rng(self, checkpoint: Mapping[str, Any]) -> None:
        """After :func:`~faceedit.train.loop.restore_training_state`: this rank's own RNG stream, when the
        checkpoint holds one per rank."""
        from .loop import set_rng_state

        ranks = checkpoint.get("rng_ranks")
        if ranks:
            if len(ranks) != self.size and self.main:
                print(f"note: the checkpoint was written by {len(ranks)} processes, this run has {self.size}: "
                      "training continues, but not bit-exactly")
            set_rng_state(ranks[self.rank % len(ranks)])
        elif self.distributed and self.rank:
            self.seed(int(checkpoint["step"]))  # a single-process checkpoint: give the other ranks new streams

    def barrier(self) -> None:
        if self.distributed:
            import torch.distributed as dist

            dist.barrier()


class RankBatches:
    """Seeded batches of one rank: slice ``rank`` of a global batch of ``batch × size`` indices (its state is
    the global order's, the same on every rank)."""

    def __init__(self, n: int, batch: int, seed: int, rank: int = 0, size: int = 1) -> None:
        self.order = Batches(n, batch * size, seed)
        self.lo, self.hi = rank * batch, (rank + 1) * batch

    def __iter__(self) -> "RankBatches":
        return self

    def __next__(self):
        return next(self.order)[self.lo:self.hi]

    def state_dict(self) -> dict:
        return self.order.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.order.load_state_dict(state)


def _average_gradients(optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
    """Optimiser pre-step hook: all-reduce the gradients of its parameters (one flat buffer) and average."""
    import torch.distributed as dist

    # parameters without a gradient keep none (Adam skips them, as in a single process); every rank runs the
    # same code, so every rank has the same set
    params = [p for g in optimizer.param_groups for p in g["params"] if p.grad is not None]
    if not params:
        return
    grads = [p.grad for p in params]
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= dist.get_world_size()
    offset = 0
    for p, g in zip(params, grads):
        n = g.numel()
        p.grad = flat[offset:offset + n].view_as(p).clone()
        offset += n


class _SumOverRanks(torch.autograd.Function):
    """``all_reduce(SUM)`` with its gradient: every rank's output is the sum, so the gradient of a rank's input
    is the sum of every rank's output gradient."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        import torch.distributed as dist

        y = x.clone()
        dist.all_reduce(y)
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # noqa: D102
        import torch.distributed as dist

        g = grad.clone()
        dist.all_reduce(g)
        return g


class SyncedBatchNorm2d(nn.BatchNorm2d):
    """``BatchNorm2d`` that, in training, normalises with the mean and variance of the batch over all ranks
    (a differentiable all-reduce of per-rank sums); identical to ``BatchNorm2d`` in eval mode or alone."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # noqa: D102
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        count = torch.tensor([x.shape[0] * x.shape[2] * x.shape[3]], dtype=x.dtype, device=x.device)
        stats = torch.cat([x.sum((0, 2, 3)), (x * x).sum((0, 2, 3)), count])
        stats = _SumOverRanks.apply(stats)
        c = x.shape[1]
        total = stats[-1]
        mean = stats[:c] / total
        var = (stats[c:2 * c] / total - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None:
            with torch.no_grad():
                self.num_batches_tracked += 1
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * total / (total - 1).clamp_min(1), m)
        y = (x - mean[None, :, None, None]) / torch.sqrt(var[None, :, None, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y


def launched_by_torchrun() -> bool:
    """True in a process ``torchrun`` started with other processes (``WORLD_SIZE`` > 1 in the environment)."""
    return int(os.environ.get("WORLD_SIZE", "1") or 1) > 1


def init_world(device: str = "cpu") -> tuple[World, str]:
    """Join the process group ``torchrun`` describes in the environment (``gloo`` for ``cpu``, ``nccl`` for
    ``cuda``, each rank on GPU ``LOCAL_RANK``); returns this process's :class:`World` and the device it must use.
    Without ``torchrun`` (no ``WORLD_SIZE`` or 1): ``World()`` and ``device`` unchanged."""
    if not launched_by_torchrun():
        return World(), device
    import torch.distributed as dist

    size = int(os.environ["WORLD_SIZE"])
    rank, local = int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        backend, device = "nccl", f"cuda:{local}"
        torch.cuda.set_device(local)
    elif device == "cpu":
        backend = "gloo"
    else:
        raise ConfigError(f"distributed training runs on cpu (gloo) or cuda (nccl), not {device!r}")
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return World(rank, size, local), device


def current_world() -> World:
    """The :class:`World` of the process group this process has joined (``World()`` when none)."""
    import torch.distributed as dist

    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", "0")))


def leave_world() -> None:
    """Leave the process group joined by :func:`init_world` (nothing when none)."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def training_process(device: str = "cpu") -> Iterator[tuple[World, torch.device]]:
    """A training command's process: join ``torchrun``'s process group when there is one (:func:`init_world`),
    pick the device (:func:`~faceedit.train.loop.pick_device`), leave the group at the end."""
    from .loop import pick_device

    world, name = init_world(device)
    try:
        yield world, pick_device(name)
    finally:
        leave_world()

"""The training side of the model families: one loop for every :class:`FamilyTrainer` and the family registry.

A family trainer (``dcgan``, ``vae``; :mod:`faceedit.train.dcgan`, :mod:`faceedit.train.vae`) builds its
networks and optimisers from the config and answers four questions: its checkpointed objects, one loss step on a
batch, a sample grid from fixed latents, and the export of its model files.  :func:`run_family` does the rest the
same way for all: the training crops of ``train.sources`` (held-out identities excluded), seeded batches, exact
``--resume`` (every network, optimiser, the batch order and the RNGs), ``--minutes``, sample grids every
``train.sample_every`` steps, the metrics log (``log.jsonl``/``.csv``) and, at checkpoints every
``eval.every`` steps and at the end, the evaluation of :mod:`faceedit.train.evaluate` in a log of its own
(``eval.jsonl``/``.csv``).  The ``gan`` family is the existing StyleGAN2 training (:mod:`faceedit.train.gan`),
given the same evaluation hook.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np
import torch
from torch import nn

from ..config import save_config
from ..errors import ConfigError, DataError
from ..images import image_grid, save_image, to_image, to_tensor
from .augment import random_flip
from .data import FaceData
from .ddp import current_world
from .loop import (
    CHECKPOINT_NAME,
    MetricLog,
    after_step,
    deadline_for,
    load_checkpoint,
    resume_or_seed,
    write_checkpoint,
)

#: the ``train`` settings every family shares (a family adds its own, e.g. learning rates)
TRAIN_DEFAULTS: dict[str, Any] = {
    "steps": 10000, "batch": 64, "sources": ["celeba"], "flip": True, "seed": 0, "stop_at": 0,
    "max_minutes": 0.0, "budget_clock": "wall",
    "model_id": "", "log_every": 25, "sample_every": 250, "checkpoint_every": 250, "n_samples": 64,
}


class FamilyTrainer(Protocol):
    """What :func:`run_family` needs of a family."""

    name: str

    def objects(self) -> dict[str, Any]:
        """Everything with a ``state_dict`` that a checkpoint must hold (networks, optimisers)."""

    def step(self, real: torch.Tensor) -> dict[str, float]:
        """One optimisation step on a batch of real images ``(N, 3, R, R)`` in [-1, 1]; the losses."""

    def grid(self) -> torch.Tensor:
        """The images of one sample grid (fixed latents), ``(K, 3, R, R)`` in [-1, 1]."""

    def image_model(self) -> nn.Module:
        """The model that samples images (a :class:`~faceedit.models.families.GenerativeModel`)."""

    def export(self, out_dir: Path, meta: dict[str, Any]) -> None:
        """Write the final model files into the run folder."""


def train_images(data: FaceData, tc: dict, resolution: int) -> np.ndarray:
    """The training crops of ``train.sources`` (held-out identities excluded), checked against the model size."""
    if data.resolution != resolution:
        raise DataError(f"the data cache holds {data.resolution}-px crops, the model makes {resolution} px; "
                        f"run `faceedit train prepare-data --size {resolution}`")
    keep = np.isin(data.source, list(tc["sources"])) & ~data.val
    if not keep.any():
        raise DataError(f"no training crops from sources {list(tc['sources'])} in the data cache")
    return data.images[keep]


def evaluation_hook(data: FaceData, cfg: dict, out_dir: Path, resume_step: int | None,
                    device: torch.device) -> Callable[[int, nn.Module, bool], None]:
    """``hook(step, model, last)``: evaluate at ``eval.every`` steps and at the last step, one row of
    ``eval.jsonl`` each (nothing when ``eval.every`` is 0)."""
    ec = cfg.get("eval", {})
    state: dict[str, Any] = {}

    def hook(step: int, model: nn.Module, last: bool) -> None:
        every = int(ec.get("every", 0))
        if every <= 0 or not (step % every == 0 or last):
            return
        if "evaluator" not in state:
            from .evaluate import Evaluator

            state["evaluator"] = Evaluator(data, ec, device)
            state["log"] = MetricLog(out_dir, resume_step=resume_step, name="eval")
        row = state["evaluator"](model)
        state["log"].write({"step": step, "kimg": step * cfg["train"]["batch"] / 1000, **row})
    return hook


def run_family(trainer: FamilyTrainer, data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device,
               resume: bool = False) -> dict[str, float]:
    """Train (or resume) a family trainer on ``data``; see the module docstring.  Returns the last losses."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    world = current_world()
    tc = cfg["train"]
    model = trainer.image_model()
    images = train_images(data, tc, model.resolution)
    objects = trainer.objects()
    world.distribute(objects)
    if world.main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.toml")
    batches = world.batches(len(images), tc["batch"], tc["seed"])
    step, log = resume_or_seed(out_dir, resume, world, tc["seed"], batches=batches, **objects)
    evaluate = evaluation_hook(data, cfg, out_dir, step if resume else None, device)
    kimg = tc["batch"] * world.size / 1000  # thousands of images per step, all ranks together
    steps = tc["steps"]
    end = min(steps, tc["stop_at"] or steps)

    def samples() -> None:
        if world.main:
            save_image(out_dir / "samples" / f"step{step:07d}.png",
                       image_grid(to_image(trainer.grid().cpu()), ncol=8))

    def checkpoint() -> None:
        write_checkpoint(out_dir / CHECKPOINT_NAME, step, cfg, batches=batches, **objects)
        if world.main:
            evaluate(step, model, step >= end or deadline.passed())

    last: dict[str, float] = {}
    deadline = deadline_for(tc)
    t0, seen = time.time(), 0
    bar = tqdm(total=steps, initial=step, desc=trainer.name, unit="step", disable=not world.main)
    while step < end:
        real = to_tensor(images[next(batches)]).to(device)
        if tc["flip"]:
            real = random_flip(real)
        last = trainer.step(real)
        step += 1
        seen += real.shape[0] * world.size
        out_of_time = world.agree(deadline.passed())
        bar.update(1)
        if log is not None and (step % tc["log_every"] == 0 or step == end):
            ips = seen / max(time.time() - t0, 1e-9)
            bar.set_postfix({k: f"{v:.3f}" for k, v in list(last.items())[:2]} | {"img_s": f"{ips:.1f}"})
            log.write({"step": step, "kimg": step * kimg, **last, "images_per_s": ips})
        if after_step(step, end, out_of_time, tc, samples, checkpoint):
            break
    bar.close()
    if world.main:
        trainer.export(out_dir, {"family": trainer.name, "trained_steps": step, "trained_kimg": step * kimg,
                                 "train_images": len(images), "processes": world.size, "config": cfg})
    return last


# ----------------------------------------------------------------------------------------------- registry
@dataclass(frozen=True)
class Family:
    """One entry of the family registry: its defaults and how to train it."""

    name: str
    description: str
    defaults: Callable[[], dict]
    train: Callable[..., dict]  # (data, out_dir, cfg, device, resume) -> last losses


def _dcgan_defaults() -> dict:
    from .dcgan import DEFAULTS

    return DEFAULTS


def _vae_defaults() -> dict:
    from .vae import DEFAULTS

    return DEFAULTS


def _gan_defaults() -> dict:
    from .evaluate import EVAL_DEFAULTS
    from .gan import DEFAULTS

    return {**DEFAULTS, "eval": dict(EVAL_DEFAULTS)}


def _train_dcgan(data, out_dir, cfg, device, resume=False):
    from .dcgan import train_dcgan

    return train_dcgan(data, out_dir, cfg, device, resume)


def _train_vae(data, out_dir, cfg, device, resume=False):
    from .vae import train_vae

    return train_vae(data, out_dir, cfg, device, resume)


def _train_gan(data, out_dir, cfg, device, resume=False):
    from .gan import train_gan

    out_dir = Path(out_dir)
    resume_step = int(load_checkpoint(out_dir / CHECKPOINT_NAME)["step"]) if resume else None
    hook = evaluation_hook(data, cfg, out_dir, resume_step, device)
    return train_gan(data, out_dir, cfg, device, resume=resume, on_checkpoint=hook)


FAMILIES: dict[str, Family] = {f.name: f for f in [
    Family("dcgan", "classic 64 px DCGAN (BCE, Adam 2e-4, beta1 0.5)", _dcgan_defaults, _train_dcgan),
    Family("vae", "convolutional VAE (Gaussian decoder + beta KL)", _vae_defaults, _train_vae),
    Family("gan", "StyleGAN2 generator + discriminator", _gan_defaults, _train_gan),
]}


def family(name: str) -> Family:
    """The registered family ``name`` (ConfigError naming the known ones otherwise)."""
    if name not in FAMILIES:
        raise ConfigError(f"unknown model family {name!r}; choose one of {', '.join(FAMILIES)}")
    return FAMILIES[name]

"""``faceedit train validator``: the independent attribute model that judges edits (issue 19, target 3).

The loop, losses and evaluation are the attribute predictor's (:func:`~faceedit.train.attributes.train_multitask`:
masked multi-task losses, exact resume, ``--minutes``); what differs is the model
(:class:`~faceedit.models.validator.AttributeValidator`: MobileNet-style, 128 px), the seed, the augmentation
(besides flips and shifts, a part of every batch is shrunk and re-enlarged so that the judge also reads soft,
upscaled faces such as the built-in generator's 64-px renders) and the export: the held-out numbers decide
which outputs it may judge (``meta.judged``), and a cumulative wall-clock is kept across resumed legs.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import DataError
from .attributes import age_statistics, train_multitask
from .augment import diff_augment, random_flip
from .data import FaceData

DEFAULTS: dict[str, Any] = {
    "model": {"input_size": 128, "stem": 24, "features": 512, "dropout": 0.2},
    "train": {"steps": 6000, "batch": 64, "lr": 3e-3, "weight_decay": 5e-4, "warmup": 200,
              "attr_weight": 10.0, "age_weight": 1.0, "race_weight": 0.5, "gender_weight": 2.0, "seed": 1919,
              "stop_at": 0, "max_minutes": 0.0, "budget_clock": "wall", "lowres_prob": 0.3, "lowres_min": 40,
              "log_every": 50, "eval_every": 1000, "checkpoint_every": 250},
}


class WallClock:
    """Training wall-clock summed over resumed legs (checkpointed with the run)."""

    def __init__(self) -> None:
        self.before, self.start = 0.0, time.monotonic()

    def seconds(self) -> float:
        return self.before + time.monotonic() - self.start

    def state_dict(self) -> dict[str, float]:
        return {"seconds": self.seconds()}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.before, self.start = float(state["seconds"]), time.monotonic()


def lowres(x: torch.Tensor, prob: float, min_size: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shrink a random ``prob`` share of the batch to one random size in ``[min_size, size)`` (antialiased)
    and enlarge it back (bilinear): the soft look of upscaled crops and low-resolution renders."""
    n, size = x.shape[0], x.shape[-1]
    pick = torch.rand(n, generator=generator) < prob
    if not pick.any() or min_size >= size:
        return x
    s = int(torch.randint(min_size, size, (1,), generator=generator))
    small = F.interpolate(x[pick], size=(s, s), mode="bilinear", align_corners=False, antialias=True)
    out = x.clone()
    out[pick] = F.interpolate(small, size=(size, size), mode="bilinear", align_corners=False)
    return out


def train_validator(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device,
                    resume: bool = False) -> dict[str, Any]:
    """Train (or resume) the validator on the cache's training split (the held-out identities of
    ``data.val`` are never seen); writes ``validator.safetensors`` + ``.json`` (held-out metrics, the judged
    outputs, steps, minutes), ``checkpoint.pt``, logs and ``config.toml`` in ``out_dir``.  Returns the
    final validation metrics."""
    from ..models.validator import AttributeValidator, judged_outputs, save_validator

    mc, tc = cfg["model"], cfg["train"]
    if data.resolution < mc["input_size"]:
        raise DataError(f"the validator reads {mc['input_size']} px faces, the cache holds {data.resolution} px "
                        f"crops: prepare one with `faceedit train prepare-data --size {mc['input_size']}`")
    train, _ = data.split()
    torch.manual_seed(tc["seed"])
    age_mean, age_std = age_statistics(train)
    kwargs = {k: mc[k] for k in ("input_size", "stem", "features", "dropout") if k in mc}
    if "stages" in mc:
        kwargs["stages"] = tuple(tuple(s) for s in mc["stages"])
    # channels-last: the depthwise convolutions run about 1.5x faster on the CPU (the weights are the same)
    model = AttributeValidator(age_mean=age_mean, age_std=age_std, **kwargs).to(device, memory_format=torch.channels_last)
    clock = WallClock()

    def augment(x: torch.Tensor) -> torch.Tensor:
        x = diff_augment(random_flip(x), ("translation",))
        return lowres(x, tc["lowres_prob"], tc["lowres_min"]).contiguous(memory_format=torch.channels_last)

    def export(model: torch.nn.Module, meta: dict[str, Any]) -> None:
        meta = {**meta, **judged_outputs(meta.get("val_metrics", {})), "train_minutes": clock.seconds() / 60,
                "seed": tc["seed"], "batch": tc["batch"], "data": "CelebA img_align_celeba (89x109 upscaled and "
                "178x218) + UTKFace crop_part1, FFHQ-aligned at 128 px; held-out identities of faceedit.train.data",
                "licence": "non-commercial research only (CelebA, UTKFace)"}
        save_validator(model.cpu(), Path(out_dir) / "validator.safetensors", meta=meta)

    return train_multitask(data, out_dir, cfg, device, model, export, resume=resume, augment=augment,
                           desc="validator", extra_state={"clock": clock})

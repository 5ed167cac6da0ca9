"""``faceedit train attributes``: the multi-task face attribute predictor.

Tasks: the 40 CelebA attributes (binary cross-entropy), age in years (L1, UTKFace), gender (binary,
UTKFace + CelebA's ``Male``) and race (5 classes, UTKFace).  Every loss is masked where the label is missing,
so CelebA and UTKFace rows train together.  Validation is on held-out identities (see ``data.py``).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import save_config
from ..images import to_tensor
from .augment import diff_augment, random_flip
from .data import FaceData
from .ddp import current_world
from .loop import CHECKPOINT_NAME, MetricLog, deadline_for, resume_or_seed, write_checkpoint

DEFAULTS: dict[str, Any] = {
    "model": {"width": 16, "blocks": [1, 2, 2, 2], "dropout": 0.1},
    "train": {"steps": 3000, "batch": 96, "lr": 2e-3, "weight_decay": 5e-4, "warmup": 100,
              "attr_weight": 10.0, "age_weight": 1.0, "race_weight": 0.5, "gender_weight": 1.0, "seed": 0, "stop_at": 0,
              "max_minutes": 0.0, "budget_clock": "wall",
              "log_every": 50, "eval_every": 1000, "checkpoint_every": 250},
}


def _masked_losses(out: dict[str, torch.Tensor], batch: dict[str, torch.Tensor], cfg: dict) -> dict[str, torch.Tensor]:
    """One loss per task, each averaged over the rows (and attributes) that have a label.  The attribute
    loss is a mean over 40 binary tasks, so ``attr_weight`` (default 10) keeps the shared trunk from being
    dominated by the three UTKFace tasks."""
    zero = out["age"].sum() * 0
    attrs = batch["attrs"]
    m = ~torch.isnan(attrs)
    la = F.binary_cross_entropy_with_logits(out["attributes"][m], attrs[m]) if m.any() else zero
    m = ~torch.isnan(batch["age"])
    lage = F.smooth_l1_loss(out["age"][m] / 20.0, batch["age"][m] / 20.0, beta=0.1) if m.any() else zero
    m = ~torch.isnan(batch["gender"])
    lg = F.binary_cross_entropy_with_logits(out["gender"][m], batch["gender"][m]) if m.any() else zero
    m = batch["race"] >= 0
    lr = F.cross_entropy(out["race"][m], batch["race"][m]) if m.any() else zero
    total = cfg["attr_weight"] * la + cfg["age_weight"] * lage + cfg["gender_weight"] * lg + cfg["race_weight"] * lr
    return {"loss": total, "attr": la, "age": lage, "gender": lg, "race": lr}


def _labels(data: FaceData, idx: np.ndarray, device: torch.device) -> dict[str, torch.Tensor]:
    return {"attrs": torch.from_numpy(data.attrs[idx]).to(device), "age": torch.from_numpy(data.age[idx]).to(device),
            "gender": torch.from_numpy(data.gender[idx]).to(device),
            "race": torch.from_numpy(data.race[idx]).to(device)}


#: faces at least this old (by label; every CelebA face) are "adults": the population sex edits are made for
ADULT_AGE = 15.0


@torch.no_grad()
def evaluate(model, data: FaceData, device: torch.device | str = "cpu", batch_size: int = 256) -> dict[str, Any]:
    """Validation metrics: per-attribute accuracy (+ mean), gender accuracy (all, UTKFace, adults: CelebA and
    UTKFace faces of at least :data:`ADULT_AGE` years), age MAE, race accuracy."""
    from ..models.attributes import CELEBA_ATTRIBUTES

    model.eval()
    outs: list[dict[str, torch.Tensor]] = []
    for i in range(0, len(data), batch_size):
        outs.append({k: v.cpu() for k, v in model(to_tensor(data.images[i:i + batch_size]).to(device)).items()})
    out = {k: torch.cat([o[k] for o in outs]).numpy() for k in outs[0]}
    metrics: dict[str, Any] = {}
    m = ~np.isnan(data.attrs)
    correct = (out["attributes"] > 0) == (data.attrs > 0.5)
    per_attr = {name: float(correct[m[:, j], j].mean()) for j, name in enumerate(CELEBA_ATTRIBUTES) if m[:, j].any()}
    if per_attr:
        metrics["attr_acc_mean"] = float(np.mean(list(per_attr.values())))
        metrics["attr_acc"] = per_attr
        metrics["attr_n"] = int(m[:, 0].sum())
    g = ~np.isnan(data.gender)
    if g.any():
        metrics["gender_acc"] = float(((out["gender"][g] > 0) == (data.gender[g] > 0.5)).mean())
        u = g & (data.source == "utkface")
        if u.any():
            metrics["gender_acc_utkface"] = float(((out["gender"][u] > 0) == (data.gender[u] > 0.5)).mean())
        adult = g & ((data.source == "celeba") | (data.age >= ADULT_AGE))  # NaN age (CelebA) compares False
        if adult.any():
            metrics["gender_acc_adults"] = float(((out["gender"][adult] > 0) == (data.gender[adult] > 0.5)).mean())
    a = ~np.isnan(data.age)
    if a.any():
        metrics["age_mae"] = float(np.abs(out["age"][a] - data.age[a]).mean())
        metrics["age_n"] = int(a.sum())
    r = data.race >= 0
    if r.any():
        metrics["race_acc"] = float((out["race"][r].argmax(1) == data.race[r]).mean())
    return metrics


def train_attributes(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device,
                     resume: bool = False) -> dict[str, Any]:
    """Train (or resume) the predictor; writes ``attributes.safetensors`` + ``.json`` (with validation
    metrics), ``checkpoint.pt``, ``log.csv``/``log.jsonl`` and ``config.toml`` in ``out_dir``.
    Returns the final validation metrics."""
    from ..models.attributes import AttributePredictor, save_attribute_predictor

    train, _ = data.split()
    torch.manual_seed(cfg["train"]["seed"])
    age_mean, age_std = age_statistics(train)
    model = AttributePredictor(input_size=data.resolution, width=cfg["model"]["width"],
                               blocks=tuple(cfg["model"]["blocks"]), dropout=cfg["model"]["dropout"],
                               age_mean=age_mean, age_std=age_std).to(device)

    def export(model: torch.nn.Module, meta: dict[str, Any]) -> None:
        save_attribute_predictor(model.cpu(), Path(out_dir) / "attributes.safetensors", meta=meta)

    return train_multitask(data, out_dir, cfg, device, model, export, resume=resume)


def age_statistics(train: FaceData) -> tuple[float, float]:
    """Mean and standard deviation of the known ages (the age head's output scale)."""
    ages = train.age[~np.isnan(train.age)]
    return (float(ages.mean()) if len(ages) else 35.0), (float(ages.std()) if len(ages) > 1 else 20.0)


def _default_augment(x: torch.Tensor) -> torch.Tensor:
    return diff_augment(random_flip(x), ("translation",))


def train_multitask(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device, model: torch.nn.Module,
                    export: Callable[[torch.nn.Module, dict[str, Any]], None], resume: bool = False,
                    augment: Callable[[torch.Tensor], torch.Tensor] = _default_augment, desc: str = "attributes",
                    extra_state: dict[str, Any] | None = None) -> dict[str, Any]:
    """The masked multi-task loop shared by the attribute predictor and the validator: AdamW with warm-up
    and cosine decay, seeded batches, ``train.stop_at`` / ``train.max_minutes`` pauses, exact resume
    (``extra_state``: more objects with ``state_dict`` to checkpoint), held-out evaluation every
    ``eval_every`` steps, ``export(model, meta)`` at the end.  Returns the final validation metrics."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    world = current_world()
    if world.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.toml")
    tc = cfg["train"]
    train, val = data.split()
    opt = torch.optim.AdamW(model.parameters(), lr=tc["lr"], weight_decay=tc["weight_decay"])
    steps = tc["steps"]
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / tc["warmup"]) * 0.5 * (1 + np.cos(np.pi * min(s, steps) / steps)))
    batches = world.batches(len(train), tc["batch"], tc["seed"])
    state = {"model": model, "opt": opt, "sched": sched, "batches": batches, **(extra_state or {})}
    world.distribute(state)
    # under torchrun each rank its own augmentations (a single process keeps its stream as it was)
    step, log = resume_or_seed(out_dir, resume, world, tc["seed"], False, **state)
    eval_log = MetricLog(out_dir, resume_step=step if resume else None, name="eval") if world.main else None

    def checkpoint() -> None:
        write_checkpoint(out_dir / CHECKPOINT_NAME, step, cfg, **state)

    t0, seen = time.time(), 0
    bar = tqdm(total=steps, initial=step, desc=desc, unit="step", disable=not world.main)
    metrics: dict[str, Any] = {}
    metrics_step = -1
    end = min(steps, tc["stop_at"] or steps)  # stop_at: pause early (resume later with --resume)
    deadline = deadline_for(tc)  # max_minutes: stop early on a time budget (resumable)
    while step < end:
        model.train()
        idx = next(batches)
        x = to_tensor(train.images[idx]).to(device)
        x = augment(x) if tc.get("augment", True) else x
        losses = _masked_losses(model(x), _labels(train, idx, device), tc)
        opt.zero_grad(set_to_none=True)
        losses["loss"].backward()
        opt.step()
        sched.step()
        step += 1
        out_of_time = world.agree(deadline.passed())
        seen += len(idx) * world.size
        bar.update(1)
        if log is not None and (step % tc["log_every"] == 0 or step == steps):
            ips = seen / max(time.time() - t0, 1e-9)
            bar.set_postfix(loss=f"{losses['loss'].item():.3f}", img_s=f"{ips:.0f}")
            log.write({"step": step, **{k: v.item() for k, v in losses.items()}, "lr": sched.get_last_lr()[0],
                       "images_per_s": ips})
        if eval_log is not None and len(val) and (step % tc["eval_every"] == 0 or step == steps):
            metrics, metrics_step = evaluate(model, val, device), step
            eval_log.write({"step": step, **{k: v for k, v in metrics.items() if not isinstance(v, dict)}})
        if step % tc["checkpoint_every"] == 0 or step == end or out_of_time:
            checkpoint()
        if out_of_time:
            break
    bar.close()
    if not world.main:
        return {}
    if metrics_step != step and len(val):  # the exported numbers are those of the exported weights
        metrics = evaluate(model, val, device)
    meta = {"trained_steps": step, "train_images": len(train), "val_images": len(val), "processes": world.size,
            "val_metrics": metrics, "resolution": data.resolution,
            "images_per_s": seen / max(time.time() - t0, 1e-9) if seen else None}
    export(model, meta)
    return metrics

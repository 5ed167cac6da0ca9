"""``faceedit train gan``: StyleGAN2 training (the engine's Generator / Discriminator).

Non-saturating logistic loss, lazy R1 on real images, an EMA copy of the generator, optional style mixing,
DiffAugment on everything the discriminator sees, horizontal flips of the real data.  Checkpoints hold
both networks, the EMA, both optimisers, the data order and every RNG state, so ``--resume`` continues
exactly.  Sample grids of the EMA generator (fixed latents) are written every ``sample_every`` steps.
"""
from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..config import save_config
from ..errors import DataError
from ..images import image_grid, save_image, to_image, to_tensor
from .augment import diff_augment, random_flip
from .data import FaceData
from .ddp import current_world
from .loop import (
    CHECKPOINT_NAME,
    after_step,
    deadline_for,
    ema_update,
    requires_grad,
    resume_or_seed,
    write_checkpoint,
)

DEFAULTS: dict[str, Any] = {
    # a tiny, CPU-friendly 64-px StyleGAN2 (channels 64 up to 16 px, 32 at 32 px, 16 at 64 px); every key is
    # a constructor argument of the engine's classes
    "generator": {"resolution": 64, "style_dim": 128, "n_mlp": 4, "channel_multiplier": 0.0625, "channel_max": 64},
    "discriminator": {"resolution": 64, "channel_multiplier": 0.0625, "channel_max": 64},
    "train": {"steps": 20000, "batch": 16, "g_lr": 0.0025, "d_lr": 0.0025, "r1_gamma": 0.05, "r1_every": 16,
              "mixing_prob": 0.9, "ema_kimg": 5.0, "ema_rampup": 0.05, "augment": ["color", "translation", "cutout"],
              "sources": ["celeba"], "seed": 0, "stop_at": 0, "max_minutes": 0.0, "budget_clock": "wall",
              "init": "", "model_id": "",
              "log_every": 25, "sample_every": 500, "checkpoint_every": 250, "n_samples": 32},
}


def build_models(cfg: dict, device: torch.device) -> tuple[torch.nn.Module, torch.nn.Module]:
    """(generator, discriminator) from the config, seeded by ``train.seed``.  With ``train.init`` (a generator
    file, e.g. the joint autoencoder warm start) the generator starts from those weights and its
    architecture replaces ``cfg["generator"]``."""
    from ..models.stylegan2 import Discriminator, Generator

    torch.manual_seed(cfg["train"]["seed"])
    if cfg["train"].get("init"):
        from ..models.checkpoints import load_generator

        G = load_generator(cfg["train"]["init"]).train()
        G.w_avg = None  # re-estimated from the mapping network when the result is exported
        cfg["generator"] = dict(G.config)
    else:
        G = Generator(**cfg["generator"])
    return G.to(device), Discriminator(**cfg["discriminator"]).to(device)


def sample_w_plus(G, n: int, mixing_prob: float, device: torch.device) -> torch.Tensor:
    """W+ codes for ``n`` random latents; with probability ``mixing_prob`` two styles are mixed at a
    random crossover layer (style mixing regularisation)."""
    z = torch.randn(2 * n, G.style_dim, device=device)
    w = G.mapping(z).view(2, n, G.style_dim)
    w_plus = w[0][:, None].repeat(1, G.n_latent, 1)
    if mixing_prob > 0:
        cut = torch.randint(1, G.n_latent, (n,), device=device)
        mix = torch.rand(n, device=device) < mixing_prob
        cut = torch.where(mix, cut, torch.full_like(cut, G.n_latent))
        layer = torch.arange(G.n_latent, device=device)[None, :, None]
        w_plus = torch.where(layer >= cut[:, None, None], w[1][:, None], w_plus)
    return w_plus


def _r1_penalty(D, real: torch.Tensor, policy: list[str]) -> torch.Tensor:
    """Squared gradient norm of D's output w.r.t. the (un-augmented) real images."""
    real = real.detach().requires_grad_(True)
    out = D(diff_augment(real, policy))
    (grad,) = torch.autograd.grad(out.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def train_gan(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device, resume: bool = False,
              on_checkpoint: Callable[[int, torch.nn.Module, bool], None] | None = None) -> dict:
    """Train (or resume) a GAN on the training crops of ``data`` from ``train.sources`` (default CelebA
    only: UTKFace's tight crops need much reflection padding in the FFHQ alignment).  Writes ``checkpoint.pt``, ``samples/``,
    ``log.csv``/``log.jsonl``, ``config.toml`` and, at the end, ``generator``/``discriminator`` model files
    (EMA generator) via :func:`faceedit.models.checkpoints.save_model`.  ``on_checkpoint(step, model, last)``
    is called after each checkpoint with the EMA generator seen as a family model (the per-checkpoint
    evaluation of ``faceedit train gan``).  Returns the last logged losses."""
    from tqdm import tqdm

    out_dir = Path(out_dir)
    world = current_world()
    tc = cfg["train"]
    G, D = build_models(cfg, device)
    if world.main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.toml")
    if data.resolution != G.resolution:
        raise DataError(f"the data cache holds {data.resolution}-px crops, the generator makes {G.resolution} px; "
                        f"run `faceedit train prepare-data --size {G.resolution}`")
    keep = np.isin(data.source, list(tc["sources"])) & ~data.val
    train_images = data.images[keep]
    G_ema = copy.deepcopy(G).eval()
    requires_grad(G_ema, False)
    c = tc["r1_every"] / (tc["r1_every"] + 1)
    opt_g = torch.optim.Adam(G.parameters(), lr=tc["g_lr"], betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(D.parameters(), lr=tc["d_lr"] * c, betas=(0.0, 0.99 ** c))
    batches = world.batches(len(train_images), tc["batch"], tc["seed"])
    objects = dict(G=G, D=D, G_ema=G_ema, opt_g=opt_g, opt_d=opt_d)
    world.distribute(objects)
    from ..models.stylegan2 import seeded_z

    fixed_z = seeded_z(tc["n_samples"], G.style_dim, tc["seed"] + 1)
    step, log = resume_or_seed(out_dir, resume, world, tc["seed"], batches=batches, **objects)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else nullcontext()
    policy = list(tc["augment"])

    def checkpoint() -> None:
        write_checkpoint(out_dir / CHECKPOINT_NAME, step, cfg, batches=batches, **objects)
        if not world.main:
            return
        if on_checkpoint is not None:
            from ..models.families import StyleGANSampler

            on_checkpoint(step, StyleGANSampler(G_ema), step >= end or deadline.passed())

    def samples() -> None:
        if not world.main:
            return
        with torch.no_grad():
            w = G_ema.mapping(fixed_z.to(device))
            imgs = G_ema.synthesis(w[:, None].repeat(1, G_ema.n_latent, 1), noise_mode="const")
        save_image(out_dir / "samples" / f"step{step:07d}.png", image_grid(to_image(imgs.float().cpu()), ncol=8))

    steps = tc["steps"]
    last: dict[str, float] = {}
    t0, seen = time.time(), 0
    bar = tqdm(total=steps, initial=step, desc="gan", unit="step", disable=not world.main)
    end = min(steps, tc["stop_at"] or steps)  # stop_at: pause early (resume later with --resume)
    deadline = deadline_for(tc)  # max_minutes: stop early on a time budget (resumable)
    while step < end:
        idx = next(batches)
        real = random_flip(to_tensor(train_images[idx]).to(device))
        n = real.shape[0]
        # discriminator
        requires_grad(G, False)
        requires_grad(D, True)
        with autocast:
            fake = G.synthesis(sample_w_plus(G, n, tc["mixing_prob"], device), noise_mode="random")
            d_fake = D(diff_augment(fake.detach(), policy))
            d_real = D(diff_augment(real, policy))
            d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
        opt_d.zero_grad(set_to_none=True)
        d_loss.float().backward()
        opt_d.step()
        if step % tc["r1_every"] == 0:
            r1 = _r1_penalty(D, real, policy)
            opt_d.zero_grad(set_to_none=True)
            (tc["r1_gamma"] / 2 * r1 * tc["r1_every"]).backward()
            opt_d.step()
            last["r1"] = r1.item()
        # generator
        requires_grad(G, True)
        requires_grad(D, False)
        with autocast:
            fake = G.synthesis(sample_w_plus(G, n, tc["mixing_prob"], device), noise_mode="random")
            g_loss = F.softplus(-D(diff_augment(fake, policy))).mean()
        opt_g.zero_grad(set_to_none=True)
        g_loss.float().backward()
        opt_g.step()
        # EMA with a ramp-up of its horizon (as in StyleGAN2-ADA)
        n_all = n * world.size  # the global batch: the EMA horizon counts images of every rank
        ema_nimg = min(tc["ema_kimg"] * 1000, (step + 1) * n_all * tc["ema_rampup"])
        ema_update(G_ema, G, 0.5 ** (n_all / max(ema_nimg, 1e-8)))
        step += 1
        out_of_time = world.agree(deadline.passed())
        seen += n * world.size
        bar.update(1)
        last.update(d_loss=d_loss.item(), g_loss=g_loss.item(), d_real=d_real.float().mean().item(),
                    d_fake=d_fake.float().mean().item())
        if log is not None and (step % tc["log_every"] == 0 or step == steps):
            ips = seen / max(time.time() - t0, 1e-9)
            bar.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_loss']:.3f}", img_s=f"{ips:.1f}")
            log.write({"step": step, "kimg": step * n * world.size / 1000, **last, "images_per_s": ips})
        if after_step(step, end, out_of_time, tc, samples, checkpoint):
            break
    bar.close()
    if world.main:
        export_gan(G_ema, D, out_dir, {"trained_steps": step, "trained_kimg": step * tc["batch"] * world.size / 1000,
                                       "train_images": len(train_images), "processes": world.size, "config": cfg})
    return last


def export_gan(G_ema, D, out_dir: Path, meta: dict) -> None:
    """Write the EMA generator and the discriminator as model files in ``out_dir``."""
    from ..models.checkpoints import save_model

    G_ema = G_ema.cpu().eval()
    model_id = meta["config"]["train"].get("model_id") or G_ema.model_id
    G_ema.w_avg = G_ema.mean_latent(4096)
    save_model(G_ema, out_dir / "generator.safetensors", model_id=model_id, meta=meta)
    save_model(D.cpu().eval(), out_dir / "discriminator.safetensors", model_id=model_id, meta=meta)


"""``faceedit train encoder``: a W+ encoder for a generator, and the joint autoencoder warm start.

Mode ``encoder`` (the generator is frozen): every batch mixes generated samples, whose W+ is known (latent
MSE + image MSE), and real aligned photos (image MSE + a perceptual loss on the trained discriminator's
feature pyramid, since ImageNet backbones cannot be downloaded here).

Mode ``joint`` (the CPU warm start of the default generator): the generator's synthesis network and the
encoder are trained together as an autoencoder in W (one w per image, with a little noise so that the
decoder is smooth around the codes), then the mapping network is fitted so that ``mapping(z)`` for normal
``z`` follows the distribution of the encoded codes (:mod:`faceedit.train.mapping`).  Reconstruction needs far
fewer images than adversarial training to give face-shaped samples; ``faceedit train gan --set train.init=...``
then sharpens them.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import save_config
from ..images import image_grid, save_image, to_image, to_tensor
from .augment import random_flip
from .data import FaceData
from .ddp import current_world
from .gan import DEFAULTS as GAN_DEFAULTS
from .gan import sample_w_plus
from .loop import CHECKPOINT_NAME, after_step, deadline_for, requires_grad, resume_or_seed, write_checkpoint
from .mapping import fit_mapping

DEFAULTS: dict[str, Any] = {
    "encoder": {"width": 16, "blocks": [1, 2, 2, 2], "head_channels": 32},
    # only used in joint mode when no --generator is given
    "generator": dict(GAN_DEFAULTS["generator"]),
    "train": {"mode": "encoder", "steps": 2000, "batch": 16, "lr": 1e-3, "g_lr": 2e-3, "seed": 0, "stop_at": 0,
              "max_minutes": 0.0, "budget_clock": "wall",
              "synthetic_fraction": 0.5, "latent_weight": 1.0, "mse_weight": 1.0, "perceptual_weight": 0.1,
              "w_noise": 0.1, "w_reg": 1e-3, "mapping_steps": 600, "model_id": "", "init": "",
              "sources": ["celeba", "utkface"],
              "log_every": 25, "checkpoint_every": 100, "sample_every": 250, "eval_images": 200},
}


def perceptual_distance(D, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of channel-normalised discriminator features, summed over its blocks."""
    total = a.new_zeros(())
    for fa, fb in zip(D.features(a), D.features(b)):
        fa = fa / (fa.pow(2).mean(1, keepdim=True).sqrt() + 1e-6)
        fb = fb / (fb.pow(2).mean(1, keepdim=True).sqrt() + 1e-6)
        total = total + (fa - fb).pow(2).mean()
    return total


@torch.no_grad()
def reconstruct(E, G, images: np.ndarray, device: torch.device, batch_size: int = 50) -> np.ndarray:
    """``G(E(x))`` of uint8 crops, as uint8 images at the generator's resolution."""
    recs = []
    for i in range(0, len(images), batch_size):
        w = E(to_tensor(images[i:i + batch_size]).to(device))
        recs.append(G.synthesis(w, noise_mode="const").cpu())
    return to_image(torch.cat(recs))


@torch.no_grad()
def evaluate_reconstruction(E, G, images: np.ndarray, device: torch.device, batch_size: int = 50,
                            rec: np.ndarray | None = None) -> dict[str, float]:
    """PSNR/SSIM of ``G(E(x))`` on real crops (``rec``: those reconstructions when already rendered by
    :func:`reconstruct`), and of the mean face (``G(mean_latent)``) for reference."""
    from ..measure.metrics import psnr, ssim

    rec = reconstruct(E, G, images, device, batch_size) if rec is None else rec
    mean = to_image(G.synthesis(G.mean_latent(4096).to(device), noise_mode="const").cpu())[0]
    return {"psnr": float(np.mean([psnr(r, x) for r, x in zip(rec, images)])),
            "ssim": float(np.mean([ssim(r, x) for r, x in zip(rec, images)])),
            "mean_face_psnr": float(np.mean([psnr(mean, x) for x in images])),
            "mean_face_ssim": float(np.mean([ssim(mean, x) for x in images]))}


@torch.no_grad()
def fold_to_w(E) -> None:
    """Make every W+ row of an encoder equal to the mean of its rows (what joint training used), by
    averaging the head's per-row weights: ``E(x)[:, i] == E(x).mean(1)`` afterwards for every row i."""
    n, d = E.n_latent, E.style_dim
    weight = E.fc.weight.view(n, d, -1).mean(0, keepdim=True).expand(n, -1, -1)
    bias = E.fc.bias.view(n, d).mean(0, keepdim=True).expand(n, -1)
    E.fc.weight.copy_(weight.reshape(n * d, -1))
    E.fc.bias.copy_(bias.reshape(n * d))


def _load_generator(path: str | None, cfg: dict, device: torch.device):
    if path:
        from ..models.checkpoints import load_generator

        return load_generator(path).to(device)
    from ..models.stylegan2 import Generator

    return Generator(**cfg["generator"]).to(device)


def train_encoder(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device, resume: bool = False,
                  generator: str | None = None, discriminator: str | None = None) -> dict[str, Any]:
    """Train (or resume) an encoder (mode ``encoder``) or the encoder + generator (mode ``joint``).

    Writes ``encoder.safetensors``/``.json`` (and in joint mode ``generator.safetensors``), ``checkpoint.pt``,
    logs, sample grids (top: inputs, bottom: reconstructions) and ``config.toml``.  Returns validation
    metrics (PSNR/SSIM, also of the mean face)."""
    from tqdm import tqdm

    from ..models.encoder import Encoder, save_encoder

    tc = cfg["train"]
    joint = tc["mode"] == "joint"
    if tc["mode"] not in ("encoder", "joint"):
        from ..errors import ConfigError

        raise ConfigError(f"train.mode must be 'encoder' or 'joint', got {tc['mode']!r}")
    out_dir = Path(out_dir)
    world = current_world()
    if world.main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.toml")
    keep = np.isin(data.source, list(tc["sources"]))
    train, val = data.subset(keep & ~data.val), data.subset(keep & data.val)
    torch.manual_seed(tc["seed"])
    G = _load_generator(generator, cfg, device)
    D = None
    if not joint and tc["perceptual_weight"] > 0:
        if not discriminator:
            from ..errors import ConfigError

            raise ConfigError("mode 'encoder' with a perceptual loss needs --discriminator")
        from ..models.checkpoints import load_discriminator

        D = load_discriminator(discriminator).to(device).eval()
        requires_grad(D, False)
    if tc["init"]:  # continue from an encoder file (e.g. the joint warm start's, for a fine-tuned generator)
        from ..models.encoder import load_encoder

        E = load_encoder(tc["init"]).to(device)
    else:
        ec = cfg["encoder"]
        E = Encoder(G.n_latent, G.style_dim, input_size=data.resolution, width=ec["width"],
                    blocks=tuple(ec["blocks"]), head_channels=ec["head_channels"]).to(device)
        with torch.no_grad():
            E.mean_latent.copy_(G.mean_latent(4096)[0])
    params = [{"params": E.parameters(), "lr": tc["lr"]}]
    if joint:
        G.train()
        requires_grad(G, True)
        params.append({"params": [p for n, p in G.named_parameters() if not n.startswith("style.")], "lr": tc["g_lr"]})
    else:
        G.eval()
        requires_grad(G, False)
    opt = torch.optim.Adam(params, betas=(0.9, 0.99))
    batches = world.batches(len(train), tc["batch"], tc["seed"])
    objects = dict(E=E, G=G, opt=opt)
    world.distribute(objects)
    # under torchrun each rank its own noise (a single process keeps its stream as it was)
    step, log = resume_or_seed(out_dir, resume, world, tc["seed"], False, batches=batches, **objects)
    eval_images = val.images[:tc["eval_images"]]

    def checkpoint() -> None:
        write_checkpoint(out_dir / CHECKPOINT_NAME, step, cfg, batches=batches, **objects)

    def samples() -> None:
        if not world.main:
            return
        with torch.no_grad():
            x = to_tensor(eval_images[:16]).to(device)
            w = E(x)
            rec = G.synthesis(w.mean(1) if joint else w, noise_mode="const")
        grid = np.concatenate([eval_images[:16], to_image(rec.cpu())])
        save_image(out_dir / "samples" / f"step{step:07d}.png", image_grid(grid, ncol=16))

    steps = tc["steps"]
    t0, seen = time.time(), 0
    last: dict[str, float] = {}
    bar = tqdm(total=steps, initial=step, desc=f"encoder ({tc['mode']})", unit="step", disable=not world.main)
    end = min(steps, tc["stop_at"] or steps)  # stop_at: pause early (resume later with --resume)
    deadline = deadline_for(tc)  # max_minutes: stop early on a time budget (resumable)
    while step < end:
        E.train()
        idx = next(batches)
        real = random_flip(to_tensor(train.images[idx]).to(device))
        losses: dict[str, torch.Tensor] = {}
        if joint:
            w = E(real).mean(1)
            w_in = w + tc["w_noise"] * torch.randn_like(w)
            rec = G.synthesis(w_in, noise_mode="const")
            losses["mse"] = tc["mse_weight"] * F.mse_loss(rec, real)
            losses["w_reg"] = tc["w_reg"] * (w - E.mean_latent).pow(2).mean()
        else:
            n_syn = int(round(len(idx) * tc["synthetic_fraction"]))
            if n_syn:
                with torch.no_grad():
                    w_syn = sample_w_plus(G, n_syn, 0.5, device)
                    x_syn = G.synthesis(w_syn, noise_mode="const")
                losses["latent"] = tc["latent_weight"] * F.mse_loss(E(x_syn), w_syn)
            x = real[:len(idx) - n_syn]
            rec = G.synthesis(E(x), noise_mode="const")
            losses["mse"] = tc["mse_weight"] * F.mse_loss(rec, x)
            if D is not None:
                losses["perceptual"] = tc["perceptual_weight"] * perceptual_distance(D, rec, x)
        loss = sum(losses.values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        out_of_time = world.agree(deadline.passed())
        seen += len(idx) * world.size
        bar.update(1)
        last = {k: v.item() for k, v in losses.items()}
        if log is not None and (step % tc["log_every"] == 0 or step == steps):
            ips = seen / max(time.time() - t0, 1e-9)
            bar.set_postfix(loss=f"{loss.item():.4f}", img_s=f"{ips:.1f}")
            log.write({"step": step, "loss": loss.item(), **last, "images_per_s": ips})
        if after_step(step, end, out_of_time, tc, samples, checkpoint):
            break
    bar.close()
    if not world.main:
        return {}
    E.eval()
    G.eval()
    meta: dict[str, Any] = {"trained_steps": step, "mode": tc["mode"], "train_images": len(train),
                            "processes": world.size}
    if joint:
        with torch.no_grad():
            codes = torch.cat([E(to_tensor(train.images[i:i + 100]).to(device)).mean(1)
                               for i in range(0, min(len(train), 4000), 100)])
        meta["mapping_fit"] = fit_mapping(G, codes, tc["mapping_steps"], tc["seed"])
        fold_to_w(E)
        with torch.no_grad():
            G.w_avg = G.mean_latent(4096)
        if tc["model_id"]:
            G.model_id = tc["model_id"]
    metrics = evaluate_reconstruction(E, G, eval_images, device) if len(eval_images) else {}
    meta["val_metrics"] = metrics
    meta["generator_model_id"] = getattr(G, "model_id", "unnamed")
    if joint:
        from ..models.checkpoints import save_model

        save_model(G.cpu(), out_dir / "generator.safetensors", model_id=G.model_id, meta=meta)
    save_encoder(E.cpu(), out_dir / "encoder.safetensors", meta=meta)
    return metrics

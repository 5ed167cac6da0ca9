"""``faceedit train vae``: a convolutional VAE on the aligned crops.

Loss: Gaussian-decoder negative log-likelihood (fixed ``model.sigma`` in 0..1 pixel units) + ``train.beta``
(default 1) times the KL divergence, Adam.  Sample grids: the first row holds 8 fixed held-out faces, the
second their reconstructions, the rest prior samples from fixed latents.  The loop, checkpoints, exact resume,
logs and evaluation (reconstruction PSNR on held-out faces among them) are
:func:`faceedit.train.families.run_family`'s.  Output: ``vae.safetensors`` (kind ``vae``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..images import to_tensor
from ..models.families import save_family_model, seeded_latents
from ..models.vae import VAE, vae_loss
from .data import FaceData
from .evaluate import EVAL_DEFAULTS
from .families import TRAIN_DEFAULTS, run_family

DEFAULTS: dict[str, Any] = {
    "model": {"resolution": 64, "latent_dim": 128, "channels": 32, "sigma": 0.1},
    "train": {**TRAIN_DEFAULTS, "lr": 1e-3, "beta": 1.0, "model_id": "faceedit-vae64"},
    "eval": dict(EVAL_DEFAULTS),
}


class VAETrainer:
    """The VAE family for :func:`~faceedit.train.families.run_family`."""

    name = "vae"

    def __init__(self, cfg: dict, device: torch.device, shown: np.ndarray | None = None) -> None:
        mc, tc = cfg["model"], cfg["train"]
        torch.manual_seed(tc["seed"])
        self.model = VAE(mc["resolution"], mc["latent_dim"], mc["channels"]).to(device)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=tc["lr"])
        self.beta, self.sigma = float(tc["beta"]), float(mc["sigma"])
        self.fixed_z = seeded_latents(max(tc["n_samples"] - 16, 0), mc["latent_dim"], tc["seed"] + 1).to(device)
        self.shown = None if shown is None or not len(shown) else to_tensor(shown[:8]).to(device)
        self.model_id = tc["model_id"]

    def objects(self) -> dict[str, Any]:
        return {"vae": self.model, "opt": self.opt}

    def loss(self, real: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The VAE loss of a batch and its parts (per image, nats)."""
        rec, mu, logvar = self.model(real)
        loss, rec_term, kl = vae_loss(real, rec, mu, logvar, self.beta, self.sigma)
        mse = ((rec - real) * 0.5).pow(2).mean().item()
        return loss, {"loss": loss.item(), "rec": rec_term.item(), "kl": kl.item(),
                      "psnr": float(10 * np.log10(1.0 / max(mse, 1e-12)))}

    def step(self, real: torch.Tensor) -> dict[str, float]:
        self.model.train()
        loss, out = self.loss(real)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        return out

    @torch.no_grad()
    def grid(self) -> torch.Tensor:
        self.model.eval()
        try:
            parts = [self.model.decode(self.fixed_z)] if len(self.fixed_z) else []
            if self.shown is not None:
                parts = [self.shown, self.model(self.shown)[0]] + parts
            return torch.cat(parts).float()
        finally:
            self.model.train()

    def image_model(self) -> VAE:
        return self.model

    def export(self, out_dir: Path, meta: dict[str, Any]) -> None:
        save_family_model(self.model.cpu().eval(), out_dir / "vae.safetensors", "vae",
                          {**meta, "model_id": self.model_id, "sigma": self.sigma, "beta": self.beta})


def train_vae(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device,
              resume: bool = False) -> dict[str, float]:
    """Train (or resume) a VAE on the training crops of ``data``; returns the last logged losses."""
    held_out = data.images[data.val & np.isin(data.source, list(cfg["train"]["sources"]))]
    return run_family(VAETrainer(cfg, device, held_out[:8]), data, out_dir, cfg, device, resume)

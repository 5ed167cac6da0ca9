"""``faceedit train dcgan``: the classic DCGAN recipe on the aligned 64 px crops.

Binary cross-entropy (the discriminator on a real and a fake batch, the generator with the non-saturating
"fake is real" target), Adam lr 2e-4, beta1 0.5, batch 64 (Radford et al. 2016).  The loop, checkpoints, exact
resume, sample grids, logs and evaluation are :func:`faceedit.train.families.run_family`'s.  Outputs
``generator.safetensors`` (kind ``dcgan_generator``) and ``discriminator.safetensors``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..models.dcgan import DCGANDiscriminator, DCGANGenerator
from ..models.families import save_family_model, seeded_latents
from .data import FaceData
from .evaluate import EVAL_DEFAULTS
from .families import TRAIN_DEFAULTS, run_family
from .loop import requires_grad

DEFAULTS: dict[str, Any] = {
    "model": {"resolution": 64, "z_dim": 100, "g_channels": 64, "d_channels": 64},
    "train": {**TRAIN_DEFAULTS, "lr": 2e-4, "beta1": 0.5, "beta2": 0.999, "model_id": "faceedit-dcgan64"},
    "eval": dict(EVAL_DEFAULTS),
}


class DCGANTrainer:
    """The DCGAN family for :func:`~faceedit.train.families.run_family`."""

    name = "dcgan"

    def __init__(self, cfg: dict, device: torch.device) -> None:
        mc, tc = cfg["model"], cfg["train"]
        torch.manual_seed(tc["seed"])
        self.G = DCGANGenerator(mc["resolution"], mc["z_dim"], mc["g_channels"]).to(device)
        self.D = DCGANDiscriminator(mc["resolution"], mc["d_channels"]).to(device)
        betas = (tc["beta1"], tc["beta2"])
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=tc["lr"], betas=betas)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=tc["lr"], betas=betas)
        self.fixed_z = seeded_latents(tc["n_samples"], mc["z_dim"], tc["seed"] + 1).to(device)
        self.model_id, self.device = tc["model_id"], device

    def objects(self) -> dict[str, Any]:
        return {"G": self.G, "D": self.D, "opt_g": self.opt_g, "opt_d": self.opt_d}

    def d_step(self, real: torch.Tensor, z: torch.Tensor) -> dict[str, float]:
        """One discriminator step: BCE(D(real), 1) + BCE(D(G(z)), 0)."""
        requires_grad(self.D, True)
        with torch.no_grad():
            fake = self.G(z)
        d_real, d_fake = self.D(real), self.D(fake)
        loss = (F.binary_cross_entropy_with_logits(d_real, torch.ones_like(d_real))
                + F.binary_cross_entropy_with_logits(d_fake, torch.zeros_like(d_fake)))
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"d_loss": loss.item(), "d_real": torch.sigmoid(d_real).mean().item(),
                "d_fake": torch.sigmoid(d_fake).mean().item()}

    def g_step(self, z: torch.Tensor) -> dict[str, float]:
        """One generator step: BCE(D(G(z)), 1) (the non-saturating loss)."""
        requires_grad(self.D, False)
        d_fake = self.D(self.G(z))
        loss = F.binary_cross_entropy_with_logits(d_fake, torch.ones_like(d_fake))
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        return {"g_loss": loss.item()}

    def step(self, real: torch.Tensor) -> dict[str, float]:
        self.G.train()
        z = torch.randn(real.shape[0], self.G.z_dim, device=self.device)
        out = self.d_step(real, z)
        out.update(self.g_step(torch.randn(real.shape[0], self.G.z_dim, device=self.device)))
        return {"d_loss": out["d_loss"], "g_loss": out["g_loss"], "d_real": out["d_real"], "d_fake": out["d_fake"]}

    @torch.no_grad()
    def grid(self) -> torch.Tensor:
        self.G.eval()
        try:
            return self.G(self.fixed_z).float()
        finally:
            self.G.train()

    def image_model(self) -> DCGANGenerator:
        return self.G

    def export(self, out_dir: Path, meta: dict[str, Any]) -> None:
        meta = {**meta, "model_id": self.model_id}
        save_family_model(self.G.cpu().eval(), out_dir / "generator.safetensors", "dcgan_generator", meta)
        save_family_model(self.D.cpu().eval(), out_dir / "discriminator.safetensors", "dcgan_discriminator", meta)


def train_dcgan(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device,
                resume: bool = False) -> dict[str, float]:
    """Train (or resume) a DCGAN on the training crops of ``data``; returns the last logged losses."""
    return run_family(DCGANTrainer(cfg, device), data, out_dir, cfg, device, resume)

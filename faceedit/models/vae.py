"""A convolutional variational autoencoder (Kingma & Welling 2014) for aligned faces.

Encoder: halving strided 4x4 convolutions with batch norm and leaky ReLU down to 4x4, then two linear heads for
the posterior mean and log-variance of a ``latent_dim`` Gaussian.  Decoder: the mirror image (linear to 4x4,
doubling transposed convolutions, tanh RGB in [-1, 1]).  The loss (:func:`vae_loss`) is the negative
log-likelihood of a Gaussian decoder with a fixed standard deviation ``sigma`` (in units of the 0..1 pixel
range) plus ``beta`` times the KL divergence to N(0, I) — ``beta = 1`` is the plain VAE evidence bound.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .dcgan import _stages


class VAE(nn.Module):
    """``encode(x) -> (mu, logvar)``, ``decode(z) -> image``, ``forward(x) -> (reconstruction, mu, logvar)``."""

    family = "vae"
    latent_kind = "posterior mean"

    def __init__(self, resolution: int = 64, latent_dim: int = 128, channels: int = 32) -> None:
        super().__init__()
        self.resolution, self.latent_dim, self.channels = resolution, latent_dim, channels
        n = _stages(resolution)
        widths = [channels * 2 ** i for i in range(n)]  # 64 px: 32, 64, 128, 256
        enc: list[nn.Module] = []
        for c_in, c_out in zip([3] + widths[:-1], widths):
            enc += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        self.encoder = nn.Sequential(*enc, nn.Flatten())
        flat = widths[-1] * 16
        self.mu, self.logvar = nn.Linear(flat, latent_dim), nn.Linear(flat, latent_dim)
        self.fc = nn.Linear(latent_dim, flat)
        dec: list[nn.Module] = []
        for c_in, c_out in zip(widths[::-1][:-1], widths[::-1][1:]):
            dec += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        self.decoder = nn.Sequential(*dec, nn.ConvTranspose2d(widths[0], 3, 4, 2, 1), nn.Tanh())
        self._top = widths[-1]
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"resolution": self.resolution, "latent_dim": self.latent_dim, "channels": self.channels}

    @property
    def z_dim(self) -> int:
        return self.latent_dim

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and log-variance ``(N, latent_dim)`` of images ``(N, 3, R, R)`` in [-1, 1]."""
        h = self.encoder(x)
        return self.mu(h), self.logvar(h).clamp(-30.0, 20.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, R, R)`` in [-1, 1] for latents ``(N, latent_dim)``."""
        return self.decoder(self.fc(z).view(-1, self._top, 4, 4))

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images for prior samples ``z`` ~ N(0, I) (the decoder)."""
        return self.decode(z)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar


def vae_loss(x: torch.Tensor, rec: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, beta: float = 1.0,
             sigma: float = 0.1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, reconstruction term, KL), each the mean over the batch of a per-image sum, in nats (constant
    terms of the likelihood dropped).  ``x``/``rec`` in [-1, 1]; ``sigma`` in 0..1 pixel units."""
    sq = ((x - rec) * 0.5).pow(2).flatten(1).sum(1)  # squared error in 0..1 pixel units
    rec_term = (sq / (2 * sigma ** 2)).mean()
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)).mean()
    return rec_term + beta * kl, rec_term, kl

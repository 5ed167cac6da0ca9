"""The classic DCGAN (Radford et al. 2016) at 64 px: a transposed-convolution generator and a strided-convolution
discriminator, batch norm, ReLU / leaky ReLU, weights drawn from N(0, 0.02) (batch-norm scales from N(1, 0.02)).

The generator maps ``z`` ``(N, z_dim)`` (or ``(N, z_dim, 1, 1)``) to images ``(N, 3, R, R)`` in [-1, 1]; the
discriminator returns one logit per image (the sigmoid of the original is folded into the BCE-with-logits loss,
which is the same loss, computed stably).  Other resolutions (powers of two from 8 px) add or drop a stage, so
tests can use 16 px models.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ..errors import ConfigError


def _stages(resolution: int) -> int:
    """Number of 2x stages between 4 px and ``resolution``."""
    n = int(math.log2(resolution)) - 2 if resolution >= 8 else 0
    if n < 1 or 4 * 2 ** n != resolution:
        raise ConfigError(f"DCGAN resolution must be a power of two >= 8, got {resolution}")
    return n


def dcgan_init(module: nn.Module) -> None:
    """The DCGAN initialisation: conv weights ~ N(0, 0.02); batch norm scale ~ N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


class DCGANGenerator(nn.Module):
    """z → 4x4 (transposed conv, stride 1) → doubling transposed convs with batch norm + ReLU → tanh RGB."""

    family = "dcgan"
    latent_kind = "z (isotropic; PCA on the first hidden layer's activations)"

    def __init__(self, resolution: int = 64, z_dim: int = 100, channels: int = 64) -> None:
        super().__init__()
        self.resolution, self.z_dim, self.channels = resolution, z_dim, channels
        n = _stages(resolution)
        widths = [channels * 2 ** (n - 1 - i) for i in range(n)]  # 64 px: 512, 256, 128, 64
        self.first = nn.Sequential(nn.ConvTranspose2d(z_dim, widths[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm2d(widths[0]), nn.ReLU(True))
        layers: list[nn.Module] = []
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(True)]
        layers += [nn.ConvTranspose2d(widths[-1], 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.rest = nn.Sequential(*layers)
        self.meta: dict[str, Any] = {}
        dcgan_init(self)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"resolution": self.resolution, "z_dim": self.z_dim, "channels": self.channels}

    def _z(self, z: torch.Tensor) -> torch.Tensor:
        return z.reshape(z.shape[0], self.z_dim, 1, 1)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.rest(self.first(self._z(z)))

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        """Images ``(N, 3, R, R)`` in [-1, 1] for latents ``z``."""
        return self(z)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        """The first hidden layer's activations ``(N, C * 16)``: the latent analysed by PCA (``z`` itself is
        isotropic, so its principal axes mean nothing)."""
        return self.first(self._z(z)).flatten(1)


class DCGANDiscriminator(nn.Module):
    """Image → halving strided convs (leaky ReLU 0.2; batch norm after the first) → 4x4 conv → one logit."""

    family = "dcgan"

    def __init__(self, resolution: int = 64, channels: int = 64) -> None:
        super().__init__()
        self.resolution, self.channels = resolution, channels
        n = _stages(resolution)
        widths = [channels * 2 ** i for i in range(n)]  # 64 px: 64, 128, 256, 512
        layers: list[nn.Module] = [nn.Conv2d(3, widths[0], 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for c_in, c_out in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm2d(c_out), nn.LeakyReLU(0.2, True)]
        layers += [nn.Conv2d(widths[-1], 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.meta: dict[str, Any] = {}
        dcgan_init(self)

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"resolution": self.resolution, "channels": self.channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N,)``."""
        return self.net(x).flatten()

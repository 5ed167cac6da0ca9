"""DiffAugment (Zhao et al. 2020): differentiable augmentations applied to real AND fake images before
the discriminator, so that a GAN trained on little data does not let D memorise the training set.

Policies: ``color`` (brightness, saturation, contrast), ``translation`` (shift by up to 1/8 of the image,
zero fill), ``cutout`` (one zeroed square of half the image side).  Images are NCHW in [-1, 1].
"""
from __future__ import annotations

from typing import Sequence

import torch

POLICIES = ("color", "translation", "cutout")


def diff_augment(x: torch.Tensor, policy: Sequence[str] = POLICIES, generator: torch.Generator | None = None) -> torch.Tensor:
    """Apply the listed augmentations with fresh random parameters per image."""
    for name in policy:
        if name == "color":
            x = _color(x, generator)
        elif name == "translation":
            x = _translation(x, 0.125, generator)
        elif name == "cutout":
            x = _cutout(x, 0.5, generator)
        elif name:
            raise ValueError(f"unknown DiffAugment policy {name!r}; known: {', '.join(POLICIES)}")
    return x


def _rand(x: torch.Tensor, generator: torch.Generator | None, *shape: int) -> torch.Tensor:
    return torch.rand(x.shape[0], *shape, device=x.device, dtype=x.dtype, generator=generator)


def _color(x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    x = x + (_rand(x, generator, 1, 1, 1) - 0.5)  # brightness in [-0.5, 0.5) (images span 2 units)
    mean = x.mean(dim=1, keepdim=True)
    x = (x - mean) * (_rand(x, generator, 1, 1, 1) * 2) + mean  # saturation x [0, 2)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return (x - mean) * (_rand(x, generator, 1, 1, 1) + 0.5) + mean  # contrast x [0.5, 1.5)


def _translation(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    """Integer shifts up to ``ratio`` of the size, zero fill, via exact nearest-neighbour sampling."""
    n, _, h, w = x.shape
    sy, sx = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sy, sy + 1, (n,), device=x.device, generator=generator)
    dx = torch.randint(-sx, sx + 1, (n,), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :] - dy[:, None]  # source row for every output row
    xs = torch.arange(w, device=x.device)[None, :] - dx[:, None]
    valid = ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
    ys, xs = ys.clamp(0, h - 1), xs.clamp(0, w - 1)
    idx = (ys[:, :, None] * w + xs[:, None, :]).reshape(n, 1, h * w).expand(-1, x.shape[1], -1)
    out = x.reshape(n, x.shape[1], h * w).gather(2, idx).reshape_as(x)
    return out * valid[:, None].to(x.dtype)


def _cutout(x: torch.Tensor, ratio: float, generator: torch.Generator | None) -> torch.Tensor:
    n, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (n,), device=x.device, generator=generator)
    cx = torch.randint(0, w + (1 - cw % 2), (n,), device=x.device, generator=generator)
    ys = torch.arange(h, device=x.device)[None, :]
    xs = torch.arange(w, device=x.device)[None, :]
    in_y = (ys >= (cy - ch // 2)[:, None]) & (ys < (cy - ch // 2 + ch)[:, None])
    in_x = (xs >= (cx - cw // 2)[:, None]) & (xs < (cx - cw // 2 + cw)[:, None])
    keep = ~(in_y[:, :, None] & in_x[:, None, :])
    return x * keep[:, None].to(x.dtype)


def random_flip(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Mirror a random half of the batch horizontally (a data augmentation, not a DiffAugment)."""
    mask = torch.rand(x.shape[0], device=x.device, generator=generator) < 0.5
    return torch.where(mask[:, None, None, None], x.flip(3), x)


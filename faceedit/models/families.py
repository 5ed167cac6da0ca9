"""The generative model families in one interface: ``dcgan``, ``vae`` and ``gan`` (StyleGAN2).

Every family's image model answers :class:`GenerativeModel`: ``sample(z)`` (images in [-1, 1] for latents
``(N, z_dim)``), ``z_dim``, ``resolution``, ``latent_kind`` (which latent its PCA reads) and, for the VAE,
``encode(x)``.  Files use the project's one format (``NAME.safetensors`` + ``NAME.json`` with ``kind``,
``architecture``, ``config``, ``meta``); :func:`load_family_model` reads any of them — a path or a name of the
weights registry (:mod:`faceedit.models.weights`).  Only StyleGAN2 generators can be edited (they have the W+
space); :func:`faceedit.models.checkpoints.load_generator` refuses a DCGAN or VAE file with a clear error.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from . import weights
from ._files import build_from_safetensors, load_safetensors_json, save_model_file
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .vae import VAE

#: file kinds of the non-StyleGAN families: kind -> (architectures, words for messages)
FAMILY_KINDS: dict[str, tuple[dict[str, type[nn.Module]], str]] = {
    "dcgan_generator": ({"DCGANGenerator": DCGANGenerator}, "a DCGAN generator"),
    "dcgan_discriminator": ({"DCGANDiscriminator": DCGANDiscriminator}, "a DCGAN discriminator"),
    "vae": ({"VAE": VAE}, "a VAE"),
}
STYLEGAN_GENERATOR = "stylegan2_generator"


@runtime_checkable
class GenerativeModel(Protocol):
    """What the training loop, the evaluation and the reports need of a family's image model."""

    family: str
    latent_kind: str
    resolution: int

    @property
    def z_dim(self) -> int: ...

    def sample(self, z: torch.Tensor) -> torch.Tensor: ...


class StyleGANSampler(nn.Module):
    """A StyleGAN2 :class:`~faceedit.models.stylegan2.Generator` seen through :class:`GenerativeModel`:
    ``sample(z)`` maps z → W and synthesises (constant noise); ``features(z)`` is W, the latent PCA reads."""

    family = "gan"
    latent_kind = "W (mapping network output)"

    def __init__(self, generator: nn.Module) -> None:
        super().__init__()
        self.generator = generator
        self.resolution = int(generator.resolution)

    @property
    def z_dim(self) -> int:
        return int(self.generator.style_dim)

    def features(self, z: torch.Tensor) -> torch.Tensor:
        return self.generator.mapping(z)

    def sample(self, z: torch.Tensor) -> torch.Tensor:
        w = self.generator.mapping(z)
        return self.generator.synthesis(w[:, None].repeat(1, self.generator.n_latent, 1), noise_mode="const")


def save_family_model(model: nn.Module, path: str | os.PathLike, kind: str, meta: dict[str, Any] | None = None) -> Path:
    """Write a DCGAN / VAE network as ``.safetensors`` + ``.json`` of ``kind`` (a key of :data:`FAMILY_KINDS`)."""
    if kind not in FAMILY_KINDS:
        raise ValueError(f"unknown family model kind {kind!r}")
    return save_model_file(model, path, kind, {**(meta or {}), "family": model.family})


def _resolve(path_or_name: str | os.PathLike) -> Path:
    path = Path(path_or_name)
    if path.suffix == ".json" or (not path.exists() and path.with_suffix(".safetensors").is_file()):
        path = path.with_suffix(".safetensors")
    if path.is_file():
        return path
    if str(path_or_name) in weights.REGISTRY:
        return weights.cached_path(str(path_or_name))
    raise CheckpointError(f"{path}: no such file or registered model name (see `faceedit weights list`)")


def file_kind(path_or_name: str | os.PathLike) -> str:
    """The ``kind`` recorded in a model file's JSON (``dcgan_generator``, ``vae``, ``stylegan2_generator``...)."""
    _, info = load_safetensors_json(_resolve(path_or_name))
    return str(info.get("kind"))


def load_family_model(path_or_name: str | os.PathLike) -> nn.Module:
    """Load the image model of any family in eval mode: a DCGAN generator, a VAE, or a StyleGAN2 generator
    (wrapped in :class:`StyleGANSampler`).  CheckpointError naming the file for anything else."""
    path = _resolve(path_or_name)
    kind = file_kind(path)
    if kind == STYLEGAN_GENERATOR:
        from .checkpoints import load_generator

        return StyleGANSampler(load_generator(path)).eval()
    if kind not in FAMILY_KINDS or kind == "dcgan_discriminator":
        raise CheckpointError(f"{path}: holds {kind!r}; expected the image model of a family "
                              "(a DCGAN generator, a VAE or a StyleGAN2 generator)")
    return build_from_safetensors(path, kind, FAMILY_KINDS[kind][0])


def seeded_latents(n: int, z_dim: int, seed: int) -> torch.Tensor:
    """``n`` standard normal latents ``(n, z_dim)`` from a private seeded generator (the global RNG untouched)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randn(n, z_dim, generator=g)


@torch.no_grad()
def sample_images(model: nn.Module, n: int, seed: int = 0, batch: int = 64) -> np.ndarray:
    """``n`` RGB uint8 samples ``(n, R, R, 3)`` of a family model from seeded prior latents."""
    from ..images import to_image

    model.eval()
    z = seeded_latents(n, model.z_dim, seed)
    dev = next(model.parameters()).device
    return np.concatenate([to_image(model.sample(z[i:i + batch].to(dev)).float().cpu())
                           for i in range(0, n, batch)]) if n else np.zeros((0, model.resolution,
                                                                            model.resolution, 3), np.uint8)

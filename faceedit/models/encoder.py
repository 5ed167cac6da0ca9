"""W+ encoders: images → latent codes of a StyleGAN2 generator.

Two families, one interface (``encoder(x)`` with ``x`` NCHW in [-1, 1] → W+ ``(N, n_latent, style_dim)``;
attributes ``n_latent``, ``style_dim``, ``input_size``, ``meta``):

- :class:`Encoder`: the compact default encoder for the built-in 64-px model: a
  :class:`~faceedit.models.resnet.CompactResNet` trunk, a 1x1 reduction, a linear head that predicts a W+
  offset from the buffer ``mean_latent``.
- :class:`ResNet50Encoder`: anycost-gan's encoder (torchvision resnet50 layout, ``fc`` =
  Linear(2048, n_style * style_dim), buffer ``mean_latent``), so anycost checkpoints load unchanged.

Inputs of another size than ``input_size`` are resized inside ``forward``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError
from ._files import ASSETS_DIR, build_from_safetensors, load_strict, save_model_file, torch_state_dict
from .resnet import Bottleneck, CompactResNet, ResNet


def resize_input(x: torch.Tensor, size: int) -> torch.Tensor:
    """Resize an NCHW batch to ``size`` x ``size`` (antialiased bilinear when shrinking); no-op if it fits."""
    if x.shape[-2:] == (size, size):
        return x
    return F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False,
                         antialias=bool(x.shape[-1] > size))


class Encoder(nn.Module):
    """Compact W+ encoder: CompactResNet trunk → 1x1 conv → flatten → Linear → offset + ``mean_latent``.

    The flattened (not pooled) last feature map keeps the spatial layout of the face, which matters for
    reconstruction.  The head starts near zero, so an untrained encoder predicts ``mean_latent``.
    """

    def __init__(self, n_latent: int, style_dim: int, input_size: int = 64, width: int = 32,
                 blocks: tuple[int, ...] = (1, 2, 2, 2), head_channels: int = 64) -> None:
        super().__init__()
        if input_size % 2 ** len(blocks):
            raise ValueError(f"input_size {input_size} must be divisible by 2**{len(blocks)}")
        self.n_latent, self.style_dim, self.input_size = n_latent, style_dim, input_size
        self.width, self.blocks, self.head_channels = width, tuple(blocks), head_channels
        self.trunk = CompactResNet(width, self.blocks)
        self.reduce = nn.Sequential(nn.Conv2d(self.trunk.out_channels, head_channels, 1), nn.LeakyReLU(0.2))
        feat = input_size // 2 ** len(blocks)
        self.fc = nn.Linear(head_channels * feat * feat, n_latent * style_dim)
        with torch.no_grad():
            self.fc.weight.mul_(0.1)
            self.fc.bias.zero_()
        self.register_buffer("mean_latent", torch.zeros(style_dim))
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"n_latent": self.n_latent, "style_dim": self.style_dim, "input_size": self.input_size,
                "width": self.width, "blocks": list(self.blocks), "head_channels": self.head_channels}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = resize_input(x, self.input_size)
        h = self.reduce(self.trunk(x)).flatten(1)
        return self.fc(h).view(-1, self.n_latent, self.style_dim) + self.mean_latent


class ResNet50Encoder(ResNet):
    """anycost-gan's ``ResNet50Encoder``: resnet50 trunk, global pool, fc, view ``(N, n_style, style_dim)``
    + ``mean_latent``.  Input 256x256 in [-1, 1]."""

    def __init__(self, n_style: int = 18, style_dim: int = 512, input_size: int = 256) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3], n_style * style_dim)
        self.n_latent, self.style_dim, self.input_size = n_style, style_dim, input_size
        self.register_buffer("mean_latent", torch.zeros(style_dim))
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"n_style": self.n_latent, "style_dim": self.style_dim, "input_size": self.input_size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = super().forward(resize_input(x, self.input_size))
        return out.view(-1, self.n_latent, self.style_dim) + self.mean_latent


_ARCHITECTURES = {"Encoder": Encoder, "ResNet50Encoder": ResNet50Encoder}
DEFAULT_ENCODER = ASSETS_DIR / "encoder.safetensors"


def save_encoder(model: Encoder | ResNet50Encoder, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                 half: bool = False) -> Path:
    """Save as ``path`` (``.safetensors``) + ``.json`` (architecture, config, ``meta``, e.g. the generator's
    ``model_id`` under ``generator_model_id``); ``half`` stores float16.  Returns the safetensors path."""
    return save_model_file(model, path, "encoder", meta, half=half)


def load_encoder(path_or_name: str | os.PathLike | None = None) -> Encoder | ResNet50Encoder:
    """Load an encoder in eval mode.

    ``None`` → the built-in default (``faceedit/assets/encoder.safetensors`` + ``.json``); a ``.pt``/``.pth``
    anycost-gan checkpoint (``state_dict`` with ``mean_latent``; n_style and style_dim come from the
    shapes) → :class:`ResNet50Encoder`; a ``.safetensors`` file in faceedit's format → its architecture.
    Nothing in a file is executed; bad files raise :class:`CheckpointError` naming the file.
    """
    path = Path(path_or_name) if path_or_name is not None else DEFAULT_ENCODER
    if path_or_name is None and not path.is_file():
        raise CheckpointError(f"the built-in encoder ({path}) is not installed yet; train one with "
                              "`faceedit train encoder` or pass an encoder checkpoint path")
    if path.suffix.lower() in (".pt", ".pth", ".ckpt"):
        return _load_anycost_encoder(path).eval()
    return build_from_safetensors(path if path.suffix else path.with_suffix(".safetensors"), "encoder",
                                  _ARCHITECTURES)


def _load_anycost_encoder(path: Path) -> ResNet50Encoder:
    state = torch_state_dict(path, required=("fc.weight", "mean_latent"))
    style_dim = state["mean_latent"].shape[0]
    n_out = state["fc.weight"].shape[0]
    if n_out % style_dim:
        raise CheckpointError(f"{path}: fc has {n_out} outputs, not a multiple of style_dim {style_dim}")
    model = ResNet50Encoder(n_out // style_dim, style_dim)
    load_strict(model, state, path)
    model.meta = {"source": str(path), "format": "anycost"}
    return model

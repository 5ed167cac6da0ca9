"""Networks of the segmentation-map path (issue 21): a map encoder (map → W+) and a tiny face parser.

- :class:`MapEncoder`: the map as 19 one-hot channels (:func:`one_hot`) → the compact W+ encoder's layout
  (:class:`~faceedit.models.encoder.Encoder`: CompactResNet trunk → 1x1 reduction → flatten, since the layout
  of the parts matters → a linear head predicting a W+ offset from ``mean_latent``; pSp's idea, small).
- :class:`TinyParser`: a small encoder-decoder that labels a face image (NCHW in [-1, 1]) with the 19 classes;
  differentiable, so the map encoder can be trained to make faces whose parsing matches the input map.

Both save as ``.safetensors`` + ``.json`` (kinds ``map_encoder`` and ``tiny_parser``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ._files import ASSETS_DIR, build_from_safetensors, save_model_file
from .encoder import Encoder
from .resnet import CompactResNet

N_CLASSES = 19
DEFAULT_MAP_ENCODER = ASSETS_DIR / "map_encoder.safetensors"
DEFAULT_TINY_PARSER = ASSETS_DIR / "tiny_parser.safetensors"


def one_hot(labels: torch.Tensor, n_classes: int = N_CLASSES) -> torch.Tensor:
    """``(N, H, W)`` integer class ids → ``(N, n_classes, H, W)`` float one-hot channels."""
    return F.one_hot(labels.long(), n_classes).permute(0, 3, 1, 2).float()


class MapEncoder(Encoder):
    """Map → W+: one-hot map ``(N, 19, S, S)`` (or ids ``(N, S, S)``) → ``(N, n_latent, style_dim)``; the
    image :class:`~faceedit.models.encoder.Encoder` with a 19-channel trunk."""

    def __init__(self, n_latent: int, style_dim: int, size: int = 64, width: int = 16,
                 blocks: tuple[int, ...] = (1, 1, 2, 2), head_channels: int = 32) -> None:
        super().__init__(n_latent, style_dim, input_size=size, width=width, blocks=blocks,
                         head_channels=head_channels)
        self.trunk = CompactResNet(width, self.blocks, in_channels=N_CLASSES)

    @property
    def size(self) -> int:
        """The side of the maps it reads."""
        return self.input_size

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        cfg = super().config()
        cfg["size"] = cfg.pop("input_size")
        return cfg

    def forward(self, maps: torch.Tensor) -> torch.Tensor:
        return super().forward(one_hot(maps) if maps.dim() == 3 else maps)


def _block(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class TinyParser(nn.Module):
    """A tiny U-Net face parser: RGB ``(N, 3, S, S)`` in [-1, 1] → class logits ``(N, 19, S, S)``.

    Most of its work runs at half resolution (cheap enough to sit inside a training loss on the CPU); a last
    3x3 convolution at full resolution sees the upsampled features and the image, for eyes and lips."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.width = width
        w = width
        self.stem = _block(3, w, 2)  # S/2
        self.enc2 = _block(w, 2 * w)  # S/2
        self.enc3 = nn.Sequential(_block(2 * w, 4 * w, 2), _block(4 * w, 4 * w))  # S/4
        self.mid = nn.Sequential(_block(4 * w, 4 * w, 2), _block(4 * w, 4 * w))  # S/8: the whole face's context
        self.dec3 = _block(8 * w, 2 * w)  # S/4
        self.dec2 = _block(4 * w, w)  # S/2
        self.head = nn.Conv2d(w + 3, N_CLASSES, 3, 1, 1)  # S

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"width": self.width}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        def up(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
            return F.interpolate(t, size=like.shape[-2:], mode="bilinear", align_corners=False)

        e2 = self.enc2(self.stem(x))
        e3 = self.enc3(e2)
        d3 = self.dec3(torch.cat([e3, up(self.mid(e3), e3)], 1))
        d2 = self.dec2(torch.cat([e2, up(d3, e2)], 1))
        return self.head(torch.cat([up(d2, x), x], 1))


def save_map_model(model: MapEncoder | TinyParser, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                   half: bool = False) -> Path:
    """Save a map encoder or tiny parser as ``.safetensors`` + ``.json``; returns the safetensors path."""
    kind = "map_encoder" if isinstance(model, MapEncoder) else "tiny_parser"
    return save_model_file(model, path, kind, meta, half=half)


def _load(path_or_name: str | os.PathLike | None, default: Path, kind: str, arch: type[nn.Module], train: str):
    from ..errors import CheckpointError

    path = Path(path_or_name) if path_or_name is not None else default
    path = path if path.suffix else path.with_suffix(".safetensors")
    if not path.is_file():
        raise CheckpointError(f"{path}: no {kind} file" + (f"; train one with `faceedit train {train}`"
                                                            if path_or_name is None else ""))
    model = build_from_safetensors(path, kind, {arch.__name__: arch})
    return model.float().eval()


def load_map_encoder(path: str | os.PathLike | None = None) -> MapEncoder:
    """A map encoder in eval mode: ``path`` or the built-in one (``faceedit/assets/map_encoder.safetensors``)."""
    return _load(path, DEFAULT_MAP_ENCODER, "map_encoder", MapEncoder, "map-encoder")


def load_tiny_parser(path: str | os.PathLike | None = None) -> TinyParser:
    """A tiny parser in eval mode: ``path`` or the built-in one (``faceedit/assets/tiny_parser.safetensors``)."""
    return _load(path, DEFAULT_TINY_PARSER, "tiny_parser", TinyParser, "map-encoder")

"""LPIPS perceptual distance (Zhang et al. 2018) with VGG16 / AlexNet trunks, written without torchvision.

State-dict keys follow the public formats so that existing weight files load unchanged:

- trunk: torchvision's ``features.N.weight`` / ``features.N.bias`` (an ImageNet ``vgg16-*.pth`` or
  ``alexnet-*.pth``; ``classifier.*`` keys are ignored);
- linear heads: the ``lpips`` package's ``weights/v0.1/{vgg,alex}.pth`` (``lin0.model.1.weight`` ..
  ``lin4.model.1.weight``, 1x1 convolutions without bias).

Distance: scale the [-1, 1] input with the LPIPS shift/scale constants, take the trunk's ReLU outputs at
five depths, unit-normalise each over channels, square the differences, weight channels with the linear
heads, average over space, sum over depths.
"""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

from ..errors import InvalidInput
from ._files import load_strict, torch_state_dict
from .weights import find_weights

# (layer spec, indices after which a feature is taken) per trunk; a spec entry is
# ("C", cin, cout, kernel, stride, padding) for a convolution + ReLU, or ("M", kernel, stride) for max-pooling.
_TRUNKS = {
    "vgg": {
        "layers": [("C", 3, 64, 3, 1, 1), ("C", 64, 64, 3, 1, 1), ("M", 2, 2),
                   ("C", 64, 128, 3, 1, 1), ("C", 128, 128, 3, 1, 1), ("M", 2, 2),
                   ("C", 128, 256, 3, 1, 1), ("C", 256, 256, 3, 1, 1), ("C", 256, 256, 3, 1, 1), ("M", 2, 2),
                   ("C", 256, 512, 3, 1, 1), ("C", 512, 512, 3, 1, 1), ("C", 512, 512, 3, 1, 1), ("M", 2, 2),
                   ("C", 512, 512, 3, 1, 1), ("C", 512, 512, 3, 1, 1), ("C", 512, 512, 3, 1, 1)],
        "taps": [3, 8, 15, 22, 29],  # relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 (torchvision indices)
    },
    "alex": {
        "layers": [("C", 3, 64, 11, 4, 2), ("M", 3, 2), ("C", 64, 192, 5, 1, 2), ("M", 3, 2),
                   ("C", 192, 384, 3, 1, 1), ("C", 384, 256, 3, 1, 1), ("C", 256, 256, 3, 1, 1)],
        "taps": [1, 4, 7, 9, 11],  # relu1 .. relu5
    },
}

# LPIPS's ScalingLayer constants (input in [-1, 1])
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)

WEIGHT_NAMES = {
    "vgg": {"trunk": "vgg16-imagenet", "heads": "lpips-vgg"},
    "alex": {"trunk": "alexnet-imagenet", "heads": "lpips-alex"},
}
"""Weights-registry names of the trunk and the linear heads of each net."""


def _features(net: str) -> tuple[nn.Sequential, list[int]]:
    """A torchvision-indexed ``features`` stack (Conv, ReLU, MaxPool modules) and its tap indices."""
    modules: list[nn.Module] = []
    for spec in _TRUNKS[net]["layers"]:
        if spec[0] == "C":
            _, cin, cout, k, s, p = spec
            modules += [nn.Conv2d(cin, cout, k, s, p), nn.ReLU(inplace=False)]
        else:
            modules.append(nn.MaxPool2d(spec[1], spec[2]))
    taps = _TRUNKS[net]["taps"]
    return nn.Sequential(*modules), taps


class _LinearHead(nn.Module):
    """``lin{i}.model.1.weight``: dropout (inactive at eval) then a 1x1 conv to one channel, no bias."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.model = nn.Sequential(nn.Dropout(), nn.Conv2d(channels, 1, 1, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class LPIPS(nn.Module):
    """The LPIPS distance; ``forward(x, y)`` with NCHW images in [-1, 1] → ``(N,)`` distances (0 = same)."""

    def __init__(self, net: str = "vgg") -> None:
        super().__init__()
        if net not in _TRUNKS:
            raise InvalidInput(f"LPIPS net must be one of {sorted(_TRUNKS)}, got {net!r}")
        self.net = net
        self.features, self.taps = _features(net)
        tap_channels = [self.features[i - 1].out_channels for i in self.taps]
        for i, c in enumerate(tap_channels):
            setattr(self, f"lin{i}", _LinearHead(c))
        self.register_buffer("shift", torch.tensor(_SHIFT).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("scale", torch.tensor(_SCALE).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def trunk_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five ReLU feature maps of the scaled input."""
        h = (x - self.shift) / self.scale
        feats, last = [], max(self.taps)
        for i, layer in enumerate(self.features):
            h = layer(h)
            if i in self.taps:
                feats.append(h)
            if i == last:
                break
        return feats

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise InvalidInput(f"LPIPS inputs differ in shape: {tuple(x.shape)} vs {tuple(y.shape)}")
        return self.distance(self.trunk_features(x), self.trunk_features(y))

    def distance(self, feats_x: list[torch.Tensor], feats_y: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS ``(N,)`` from two lists of :meth:`trunk_features` (lets a caller reuse a fixed target's)."""
        total = feats_x[0].new_zeros(feats_x[0].shape[0])
        for i, (fx, fy) in enumerate(zip(feats_x, feats_y)):
            diff = (unit_normalize(fx) - unit_normalize(fy)) ** 2
            total = total + getattr(self, f"lin{i}")(diff).mean(dim=(1, 2, 3))
        return total

    def load_weights(self, trunk: dict[str, torch.Tensor], heads: dict[str, torch.Tensor],
                     source: str = "weights") -> "LPIPS":
        """Load a torchvision trunk state dict (``features.*``; other keys ignored) and the LPIPS heads
        (``lin{i}.model.1.weight``); strict on what is used."""
        state = {k: v for k, v in trunk.items() if k.startswith("features.")}
        state.update({k: v for k, v in heads.items() if k.startswith("lin")})
        load_strict(self, state, source)
        return self


def unit_normalize(x: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Normalise each position's feature vector (dim 1) to unit length (LPIPS's ``normalize_tensor``)."""
    return x / (x.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


def lpips_package_heads(net: str) -> Path | None:
    """The linear-head file shipped by the ``lpips`` pip package, if that package is installed."""
    spec = importlib.util.find_spec("lpips")
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / "weights" / "v0.1" / f"{net}.pth"
    return path if path.is_file() else None


def load_lpips(net: str = "vgg", trunk_path: str | os.PathLike | None = None,
               heads_path: str | os.PathLike | None = None) -> LPIPS:
    """Build LPIPS(``net``) with weights from the given paths, else the weights registry's cache (names in
    :data:`WEIGHT_NAMES`), else (heads only) the installed ``lpips`` package.  Missing weights raise
    :class:`WeightsNotAvailable` saying which file is needed; nothing is downloaded."""
    if net not in WEIGHT_NAMES:
        raise InvalidInput(f"LPIPS net must be one of {sorted(WEIGHT_NAMES)}, got {net!r}")
    names = WEIGHT_NAMES[net]
    trunk = find_weights(names["trunk"], trunk_path,
                         need=f"LPIPS-{net} needs torchvision's ImageNet {'vgg16' if net == 'vgg' else 'alexnet'} .pth")
    package_heads = lpips_package_heads(net)
    heads = find_weights(names["heads"], heads_path, fallbacks=[package_heads] if package_heads else [],
                         need=f"LPIPS-{net} needs its linear heads (the lpips package's weights/v0.1/{net}.pth)")
    model = LPIPS(net)
    return model.load_weights(torch_state_dict(trunk), torch_state_dict(heads), f"{trunk} + {heads}")

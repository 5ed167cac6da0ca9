"""DPT, the MiDaS v3 monocular depth network (Ranftl et al. 2021, "Vision Transformers for Dense Prediction").

Plain PyTorch (no timm), state-dict compatible with the official MiDaS v3 release files:

* ``dpt_large`` (``dpt_large-midas-2f21e586.pt``): ViT-L/16 backbone, tokens tapped after blocks 5, 11, 17, 23;
* ``dpt_hybrid`` (``dpt_hybrid-midas-501f0c75.pt``): ViT-B/16 on a BiT ResNet-50 stem (weight-standardised
  convolutions with TensorFlow "same" padding, GroupNorm), taps: ResNet stages 0 and 1, blocks 8 and 11.

The module tree reproduces the official key names: the timm ViT under ``pretrained.model.*``, the reassemble
blocks ``pretrained.act_postprocess{1..4}`` (readout "project" at index 0, the 1x1 projection at 3, the
resampling at 4), and ``scratch.layer{1..4}_rn``, the fusion blocks ``scratch.refinenet{1..4}``
(``resConfUnit1/2``, ``out_conv``) and the head ``scratch.output_conv``.  The unused ImageNet classifier
(``pretrained.model.head``) and final norm are kept so that ``load_state_dict(strict=True)`` works.

Input: RGB in [-1, 1] (mean 0.5, std 0.5), height and width multiples of 16 (MiDaS feeds multiples of 32
near 384 px; other sizes resize the position embeddings bilinearly).  Output: ``(N, H, W)`` non-negative
relative inverse depth.
:func:`load_dpt` reads a checkpoint safely and infers the variant from its keys; :func:`predict` runs the
MiDaS preprocessing (keep aspect, multiple of 32, 384 px) and resizes the result back to the image.
"""
from __future__ import annotations

import inspect
import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import CheckpointError

NET_SIDE = 384  # the side MiDaS resizes to (see input_size)
MULTIPLE = 32
HEAD_DIM = 64  # ViT-B and ViT-L both use 64 channels per attention head
STD_CONV_EPS = 1e-5  # timm 0.4.5 (the DPT training code): w_hat = (w - mean) / (std + eps)
VARIANTS: dict[str, dict[str, Any]] = {
    "dpt_large": dict(embed_dim=1024, depth=24, num_heads=16, mlp_dim=4096,
                      reassemble_channels=(256, 512, 1024, 1024)),
    "dpt_hybrid": dict(embed_dim=768, depth=12, num_heads=12, mlp_dim=3072, patch_size=1, resnet_layers=(3, 4, 9),
                       reassemble_channels=(256, 512, 768, 768)),
}


# ----------------------------------------------------------------------------- BiT ResNet (hybrid stem)
def pad_same(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad like TensorFlow's "same": output = ceil(input / stride), the odd pixel goes right/bottom."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class StdConv2dSame(nn.Conv2d):
    """Convolution with weight standardisation (per output channel) and "same" padding, no bias (BiT)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, eps: float = STD_CONV_EPS) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, bias=False)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        std, mean = torch.std_mean(self.weight, dim=(1, 2, 3), keepdim=True, unbiased=False)
        weight = (self.weight - mean) / (std + self.eps)
        return F.conv2d(pad_same(x, self.kernel_size[0], self.stride[0]), weight, None, self.stride)


def group_norm(channels: int) -> nn.GroupNorm:
    """BiT normalisation: GroupNorm with 32 groups."""
    return nn.GroupNorm(32, channels, eps=1e-5)


class ResNetStem(nn.Module):
    """7x7/2 standardised conv, GroupNorm + ReLU, 3x3/2 max pool with "same" padding: stride 4."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.conv = StdConv2dSame(3, width, 7, stride=2)
        self.norm = group_norm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm(self.conv(x)))
        return F.max_pool2d(pad_same(x, 3, 2, value=float("-inf")), 3, 2)


class Downsample(nn.Module):
    """Projection shortcut: 1x1 standardised conv (with the block's stride) and GroupNorm, no activation."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = StdConv2dSame(cin, cout, 1, stride=stride)
        self.norm = group_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.conv(x))


class Bottleneck(nn.Module):
    """Post-activation bottleneck (1x1, 3x3 with the stride, 1x1; GroupNorm after each), ReLU after the sum."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        mid = cout // 4
        self.downsample = Downsample(cin, cout, stride) if (cin != cout or stride != 1) else None
        self.conv1 = StdConv2dSame(cin, mid, 1)
        self.norm1 = group_norm(mid)
        self.conv2 = StdConv2dSame(mid, mid, 3, stride=stride)
        self.norm2 = group_norm(mid)
        self.conv3 = StdConv2dSame(mid, cout, 1)
        self.norm3 = group_norm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        x = F.relu(self.norm1(self.conv1(x)))
        x = F.relu(self.norm2(self.conv2(x)))
        return F.relu(self.norm3(self.conv3(x)) + shortcut)


class ResNetStage(nn.Module):
    """``depth`` bottlenecks; the first one changes width and stride."""

    def __init__(self, cin: int, cout: int, depth: int, stride: int) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*[Bottleneck(cin if i == 0 else cout, cout, stride if i == 0 else 1)
                                      for i in range(depth)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class ResNetV2(nn.Module):
    """The BiT ResNet-v2 trunk of the ViT hybrid (non pre-activation): stem, then stages of width
    ``4 * width * 2**i``, stride 1 for the first stage and 2 after.  Returns every stage's output."""

    def __init__(self, layers: tuple[int, ...], width: int = 64) -> None:
        super().__init__()
        self.stem = ResNetStem(width)
        chans = [4 * width * 2 ** i for i in range(len(layers))]
        self.stages = nn.ModuleList(ResNetStage(width if i == 0 else chans[i - 1], c, n, 1 if i == 0 else 2)
                                    for i, (c, n) in enumerate(zip(chans, layers)))
        self.channels = chans

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats


# ------------------------------------------------------------------------------------------------ ViT
class PatchEmbed(nn.Module):
    """Image -> tokens: a strided ``proj`` conv on the pixels (ViT-L/16) or on the ResNet's last map (hybrid)."""

    def __init__(self, embed_dim: int, patch_size: int, backbone: ResNetV2 | None = None) -> None:
        super().__init__()
        self.backbone = backbone
        cin = backbone.channels[-1] if backbone is not None else 3
        self.proj = nn.Conv2d(cin, embed_dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Tokens ``(N, h*w, D)`` as a map ``(N, D, h, w)``, and the ResNet stage outputs (hybrid)."""
        feats = self.backbone(x) if self.backbone is not None else []
        return self.proj(feats[-1] if feats else x), feats


class Attention(nn.Module):
    """Multi-head self-attention with a fused ``qkv`` projection."""

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, d = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.num_heads, d // self.num_heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(head_dim)) v
        return self.proj(out.transpose(1, 2).reshape(n, t, d))


class Mlp(nn.Module):
    """fc1, exact GELU, fc2."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm transformer block (LayerNorm eps 1e-6)."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class VisionTransformer(nn.Module):
    """timm-layout ViT (``cls_token``, ``pos_embed``, ``patch_embed``, ``blocks``, ``norm``, ``head``).

    :meth:`forward` returns the token sequences after the ``taps`` blocks; ``norm`` and ``head`` are only
    there to hold the checkpoint's (unused) weights.
    """

    def __init__(self, embed_dim: int, depth: int, num_heads: int, mlp_dim: int, patch_size: int,
                 grid_size: int, num_classes: int, backbone: ResNetV2 | None = None) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(embed_dim, patch_size, backbone)
        self.cls_token = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, 1, embed_dim), std=0.02))
        self.pos_embed = nn.Parameter(nn.init.trunc_normal_(torch.empty(1, 1 + grid_size ** 2, embed_dim), std=0.02))
        self.blocks = nn.ModuleList(Block(embed_dim, num_heads, mlp_dim) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes else None
        self.grid_size = grid_size
        # pixels per token: the conv's stride, times the ResNet's stride 4 * 2**(stages - 1)
        self.stride = patch_size * (2 ** (len(backbone.channels) + 1) if backbone is not None else 1)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """``pos_embed`` for an ``h x w`` token grid (the grid part resized bilinearly, as MiDaS does)."""
        if (h, w) == (self.grid_size, self.grid_size):
            return self.pos_embed
        cls_pos, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        g = self.grid_size
        grid = grid.reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bilinear", align_corners=False)
        return torch.cat([cls_pos, grid.permute(0, 2, 3, 1).reshape(1, h * w, -1)], dim=1)

    def forward(self, x: torch.Tensor,
                taps: tuple[int, ...]) -> tuple[list[torch.Tensor], list[torch.Tensor], tuple[int, int]]:
        """``(tokens after each tapped block (N, 1 + h*w, D), ResNet stage outputs, (h, w))``."""
        tokens, feats = self.patch_embed(x)
        h, w = tokens.shape[-2:]
        tokens = tokens.flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(len(tokens), -1, -1), tokens], dim=1) + self.position_embedding(h, w)
        out = []
        for i, block in enumerate(self.blocks[:max(taps) + 1]):
            x = block(x)
            if i in taps:
                out.append(x)
        return out, feats, (h, w)


# ---------------------------------------------------------------------------------- reassemble, fusion
class ProjectReadout(nn.Module):
    """Readout "project": each patch token concatenated with the class token, Linear(2D -> D) + GELU."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        patches = x[:, 1:]
        return self.project(torch.cat([patches, x[:, :1].expand_as(patches)], dim=-1))


class Reassemble(nn.Sequential):
    """Tokens -> image-like map: readout (index 0), tokens to a ``(D, h, w)`` map (the parameter-free steps
    at indices 1-2 of the original), 1x1 conv to ``channels`` (3) and the resampling (4): ``scale`` 4 or 2
    = transposed conv, 0.5 = 3x3 stride-2 conv, 1 = none."""

    def __init__(self, dim: int, channels: int, scale: float) -> None:
        layers: list[nn.Module] = [ProjectReadout(dim), nn.Identity(), nn.Identity(),
                                   nn.Conv2d(dim, channels, 1)]
        if scale > 1:
            layers.append(nn.ConvTranspose2d(channels, channels, int(scale), stride=int(scale)))
        elif scale < 1:
            layers.append(nn.Conv2d(channels, channels, 3, stride=2, padding=1))
        super().__init__(*layers)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:  # type: ignore[override]
        x = self[0](tokens).transpose(1, 2).unflatten(2, grid)
        for layer in list(self)[3:]:
            x = layer(x)
        return x


class ResidualConvUnit(nn.Module):
    """x + conv2(relu(conv1(relu(x)))), 3x3 convs with bias."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, 3, padding=1)
        self.conv2 = nn.Conv2d(features, features, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


class FusionBlock(nn.Module):
    """Add the refined skip map to the coarser path, refine, upsample (bilinear, align_corners) and 1x1 conv."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.out_conv = nn.Conv2d(features, features, 1)
        self.resConfUnit1 = ResidualConvUnit(features)
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(self, path: torch.Tensor, skip: torch.Tensor | None = None,
                size: tuple[int, int] | None = None) -> torch.Tensor:
        if skip is not None:
            path = path + self.resConfUnit1(skip)
        path = self.resConfUnit2(path)
        size = size or (2 * path.shape[-2], 2 * path.shape[-1])
        return self.out_conv(F.interpolate(path, size=size, mode="bilinear", align_corners=True))


class Upsample2x(nn.Module):
    """Bilinear x2 upsampling with align_corners (the MiDaS depth head's ``Interpolate``)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)


# ------------------------------------------------------------------------------------------------ DPT
class DPTEncoder(nn.Module):
    """The ``pretrained`` part: the ViT (``model``) and the four reassemble blocks (``act_postprocess1..4``).

    The hybrid takes its first two maps straight from ResNet stages 0 and 1 (no reassemble weights).
    """

    def __init__(self, vit: VisionTransformer, channels: tuple[int, int, int, int], hybrid: bool) -> None:
        super().__init__()
        self.model = vit
        dim = vit.cls_token.shape[-1]
        self.hybrid = hybrid
        for i, (c, scale) in enumerate(zip(channels, (4, 2, 1, 0.5)), start=1):
            if not (hybrid and i <= 2):
                self.add_module(f"act_postprocess{i}", Reassemble(dim, c, scale))

    def forward(self, x: torch.Tensor, hooks: tuple[int, int, int, int]) -> list[torch.Tensor]:
        taps = hooks[2:] if self.hybrid else hooks
        tokens, feats, grid = self.model(x, taps)
        if self.hybrid:
            return feats[:2] + [self.act_postprocess3(tokens[0], grid), self.act_postprocess4(tokens[1], grid)]
        return [getattr(self, f"act_postprocess{i}")(t, grid) for i, t in enumerate(tokens, start=1)]


class DPT(nn.Module):
    """DPT depth model (MiDaS v3): ``forward(x (N, 3, H, W) in [-1, 1]) -> (N, H, W)`` inverse depth >= 0.

    ``resnet_layers`` non-empty makes the hybrid (BiT ResNet stem, taps from its first two stages).
    ``hooks``: the four tapped transformer blocks (default ``depth * k / 4 - 1``; the hybrid uses the
    last two).  Build the official models with :func:`dpt_large` / :func:`dpt_hybrid`.
    """

    def __init__(self, embed_dim: int = 1024, depth: int = 24, num_heads: int = 16, mlp_dim: int = 4096,
                 patch_size: int = 16, grid_size: int = 24, resnet_layers: tuple[int, ...] = (),
                 resnet_width: int = 64, reassemble_channels: tuple[int, int, int, int] = (256, 512, 1024, 1024),
                 features: int = 256, head_features: int = 32, num_classes: int = 1000,
                 hooks: tuple[int, int, int, int] | None = None) -> None:
        super().__init__()
        hooks = tuple(hooks) if hooks is not None else default_hooks(depth)
        if len(hooks) != 4 or min(hooks) < 0 or max(hooks) >= depth or embed_dim % num_heads:
            raise ValueError(f"bad DPT configuration: depth {depth}, hooks {hooks}, "
                             f"embed_dim {embed_dim} / {num_heads} heads")
        backbone = None
        if resnet_layers:
            backbone = ResNetV2(tuple(resnet_layers), resnet_width)
            if tuple(reassemble_channels[:2]) != tuple(backbone.channels[:2]):
                raise ValueError(f"hybrid: reassemble channels {reassemble_channels[:2]} must be the ResNet "
                                 f"stage widths {backbone.channels[:2]}")
        self._config = dict(embed_dim=embed_dim, depth=depth, num_heads=num_heads, mlp_dim=mlp_dim,
                            patch_size=patch_size, grid_size=grid_size, resnet_layers=tuple(resnet_layers),
                            resnet_width=resnet_width, reassemble_channels=tuple(reassemble_channels),
                            features=features, head_features=head_features, num_classes=num_classes,
                            hooks=hooks)
        self.hooks = hooks
        vit = VisionTransformer(embed_dim, depth, num_heads, mlp_dim, patch_size, grid_size, num_classes, backbone)
        self.pretrained = DPTEncoder(vit, tuple(reassemble_channels), hybrid=backbone is not None)
        self.scratch = nn.Module()
        for i, c in enumerate(reassemble_channels, start=1):
            setattr(self.scratch, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        for i in range(1, 5):
            setattr(self.scratch, f"refinenet{i}", FusionBlock(features))
        self.scratch.output_conv = nn.Sequential(
            nn.Conv2d(features, features // 2, 3, padding=1), Upsample2x(),
            nn.Conv2d(features // 2, head_features, 3, padding=1), nn.ReLU(),
            nn.Conv2d(head_features, 1, 1), nn.ReLU())  # the final ReLU: non-negative inverse depth

    @property
    def variant(self) -> str:
        """``"dpt_large"``, ``"dpt_hybrid"`` or ``"custom"``."""
        for name in VARIANTS:
            if self._config == dpt_config(name):
                return name
        return "custom"

    @property
    def native_size(self) -> int:
        """The training resolution (position-embedding grid x pixels per token): 384 for the official models."""
        vit = self.pretrained.model
        return vit.grid_size * vit.stride

    def config(self) -> dict[str, Any]:
        """Constructor arguments (JSON-friendly)."""
        return {k: list(v) if isinstance(v, tuple) else v for k, v in self._config.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stride = self.pretrained.model.stride
        if x.shape[-2] % stride or x.shape[-1] % stride:
            raise ValueError(f"DPT input height and width must be multiples of {stride}, got {tuple(x.shape[-2:])}")
        s = self.scratch
        l1, l2, l3, l4 = (getattr(s, f"layer{i}_rn")(m) for i, m in
                          enumerate(self.pretrained(x, self.hooks), start=1))
        path = s.refinenet4(l4, size=l3.shape[-2:])
        path = s.refinenet3(path, l3, size=l2.shape[-2:])
        path = s.refinenet2(path, l2, size=l1.shape[-2:])
        path = s.refinenet1(path, l1)
        return s.output_conv(path)[:, 0]


def default_hooks(depth: int) -> tuple[int, int, int, int]:
    """The tapped blocks of the official models: after each quarter of the transformer (5, 11, 17, 23 for
    ViT-L; the hybrid's 8 and 11 are the last two of ViT-B's 2, 5, 8, 11)."""
    return tuple(depth * k // 4 - 1 for k in range(1, 5))  # type: ignore[return-value]


def dpt_config(name: str) -> dict[str, Any]:
    """Full constructor arguments of an official variant (``dpt_large`` or ``dpt_hybrid``)."""
    if name not in VARIANTS:
        raise ValueError(f"unknown DPT variant {name!r}; choose one of {', '.join(VARIANTS)}")
    params = inspect.signature(DPT.__init__).parameters
    config = {k: p.default for k, p in params.items() if k != "self"} | VARIANTS[name]
    config["hooks"] = default_hooks(config["depth"])
    return config


def dpt_large() -> DPT:
    """DPT-Large (ViT-L/16, 384 px): the architecture of ``dpt_large-midas-2f21e586.pt``."""
    return DPT(**VARIANTS["dpt_large"])


def dpt_hybrid() -> DPT:
    """DPT-Hybrid (ViT-B/16 + ResNet-50, 384 px): the architecture of ``dpt_hybrid-midas-501f0c75.pt``."""
    return DPT(**VARIANTS["dpt_hybrid"])


# ------------------------------------------------------------------------------------- loading, running
REQUIRED_KEYS = ("pretrained.model.cls_token", "pretrained.model.pos_embed", "pretrained.model.patch_embed.proj.weight",
                 "pretrained.model.blocks.0.mlp.fc1.weight", "scratch.layer1_rn.weight", "scratch.output_conv.2.weight")


def _consecutive(state: dict[str, torch.Tensor], key: str) -> int:
    """How many of ``key.format(0)``, ``key.format(1)``, ... are in ``state`` (counting stops at the first gap)."""
    n = 0
    while key.format(n) in state:
        n += 1
    return n


def infer_config(state: dict[str, torch.Tensor], path: str | os.PathLike = "<state dict>") -> dict[str, Any]:
    """DPT constructor arguments from the keys and shapes of an official-layout state dict.

    CheckpointError (naming ``path``) when it is not a DPT depth model with readout "project".
    """
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(f"{path}: not a DPT (MiDaS v3) depth checkpoint (missing {', '.join(missing[:3])})")
    if "pretrained.act_postprocess4.0.project.0.weight" not in state:
        raise CheckpointError(f"{path}: DPT with a readout other than 'project' is not supported")
    vit = "pretrained.model."
    embed_dim = state[vit + "cls_token"].shape[-1]
    n_pos = state[vit + "pos_embed"].shape[1] - 1
    grid = math.isqrt(n_pos)
    if grid * grid != n_pos or embed_dim % HEAD_DIM:
        raise CheckpointError(f"{path}: unsupported ViT shape (pos_embed {tuple(state[vit + 'pos_embed'].shape)})")
    backbone = vit + "patch_embed.backbone."
    n_stages = _consecutive(state, backbone + "stages.{}.blocks.0.conv1.weight")
    resnet_layers = tuple(_consecutive(state, f"{backbone}stages.{i}.blocks.{{}}.conv1.weight")
                          for i in range(n_stages))
    head = state.get(vit + "head.weight")
    return dict(
        embed_dim=embed_dim, depth=_consecutive(state, vit + "blocks.{}.norm1.weight"),
        num_heads=embed_dim // HEAD_DIM, mlp_dim=state[vit + "blocks.0.mlp.fc1.weight"].shape[0],
        patch_size=state[vit + "patch_embed.proj.weight"].shape[-1], grid_size=grid,
        resnet_layers=resnet_layers,
        resnet_width=state[backbone + "stem.conv.weight"].shape[0] if resnet_layers else 64,
        reassemble_channels=tuple(state[f"scratch.layer{i}_rn.weight"].shape[1] for i in range(1, 5)),
        features=state["scratch.layer1_rn.weight"].shape[0],
        head_features=state["scratch.output_conv.2.weight"].shape[0],
        num_classes=head.shape[0] if head is not None else 0)


def load_dpt(path: str | os.PathLike) -> DPT:
    """A DPT depth model in eval mode from a MiDaS v3 checkpoint (``dpt_hybrid-midas-501f0c75.pt``,
    ``dpt_large-midas-2f21e586.pt`` or the same layout); the variant is inferred from the keys.

    The file is read without executing code (``weights_only``); missing, corrupt, wrong-model or
    mismatching files raise :class:`~faceedit.errors.CheckpointError` naming the file.
    """
    from ._files import load_strict, torch_state_dict

    path = Path(path)
    state = torch_state_dict(path)
    config = infer_config(state, path)
    try:
        model = DPT(**config)
    except ValueError as e:
        raise CheckpointError(f"{path}: unsupported DPT configuration ({e})") from None
    load_strict(model, state, path)
    return model.eval()


def input_size(height: int, width: int, side: int = NET_SIDE, multiple: int = MULTIPLE) -> tuple[int, int]:
    """MiDaS's network input size ``(height, width)`` for an image: keep the aspect ratio, scale by whichever
    of ``side / height`` and ``side / width`` is closer to 1 (resize "minimal": a large image gets its
    short side, a small one its long side to ``side``), round each side to a multiple of ``multiple``."""
    scale_h, scale_w = side / height, side / width
    scale = scale_w if abs(1 - scale_w) < abs(1 - scale_h) else scale_h
    return tuple(max(multiple, int(round(s * scale / multiple)) * multiple)  # type: ignore[return-value]
                 for s in (height, width))


def predict(model: DPT, image: np.ndarray, side: int | None = None) -> np.ndarray:
    """Relative inverse depth ``(H, W)`` float32 (>= 0 up to bicubic overshoot) of an RGB uint8 image, as
    MiDaS's ``run.py`` computes it: cubic resize to :func:`input_size` (``side`` defaults to the model's
    :attr:`~DPT.native_size`, 384), mean/std 0.5, bicubic back to the image size."""
    import cv2

    from ..images import check_image, to_tensor

    image = check_image(image)
    h, w = image.shape[:2]
    nh, nw = input_size(h, w, side or model.native_size)
    x = to_tensor(cv2.resize(image, (nw, nh), interpolation=cv2.INTER_CUBIC))
    param = next(model.parameters())
    with torch.no_grad():
        out = model(x.to(param.device, param.dtype))
        out = F.interpolate(out[:, None].float(), size=(h, w), mode="bicubic", align_corners=False)
    return out[0, 0].cpu().numpy().astype(np.float32)

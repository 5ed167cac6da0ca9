"""ParseNet face parser (GPEN / PSFRGAN), state-dict compatible with facexlib's ``parsing_parsenet.pth``.

A plain encoder / residual body / decoder network: a 3x3 stem, residual blocks that halve the resolution
down to ``min_feat_size``, ``res_depth`` residual blocks with a long skip around them, residual blocks that
double it back (nearest upsampling), then two 3x3 heads: parsing logits and a reconstructed image.
Every 3x3 convolution pads by reflection; channels are clipped to ``ch_range``.  Normalisation is batch
norm, activation LeakyReLU(0.2), as in facexlib's ``ParseNet(in_size=512, out_size=512, parsing_ch=19)``.

Key names follow facexlib: ``encoder.{i}`` / ``body.{i}`` / ``decoder.{i}`` blocks with ``conv1``,
``conv2`` and (when the shape changes) ``shortcut_func`` layers, each layer holding ``conv2d`` and
``norm.norm``; heads ``out_mask_conv`` and ``out_img_conv``.

Input: RGB scaled to [-1, 1] at 512x512.  The 19 output classes are CelebAMask-HQ's own annotation order
(:data:`CLASSES`), which differs from face-parsing.PyTorch's order used by ``faceedit.faces.parsing.CLASSES``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# output channel order of the ParseNet weights (CelebAMask-HQ's g_mask.py order, as listed by GPEN/facexlib)
CLASSES = ["background", "skin", "nose", "eye_g", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
           "mouth", "u_lip", "l_lip", "hair", "hat", "ear_r", "neck_l", "neck", "cloth"]
LEAKY_SLOPE = 0.2


class BatchNormLayer(nn.Module):
    """Batch norm held one level down (``norm.norm``), the nesting facexlib's key names carry."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x)


class ConvLayer(nn.Module):
    """Optional 2x nearest upsampling, reflection-padded 3x3 convolution (stride 2 to downsample), then
    optionally batch norm (the convolution then has no bias) and LeakyReLU."""

    def __init__(self, cin: int, cout: int, scale: str = "none", norm: bool = False, act: bool = False) -> None:
        super().__init__()
        if scale not in ("none", "up", "down"):
            raise ValueError(f"scale must be 'none', 'up' or 'down', not {scale!r}")
        self.upsample = scale == "up"
        self.reflection_pad = nn.ReflectionPad2d(1)
        self.conv2d = nn.Conv2d(cin, cout, 3, stride=2 if scale == "down" else 1, bias=not norm)
        self.norm = BatchNormLayer(cout) if norm else nn.Identity()
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.norm(self.conv2d(self.reflection_pad(x)))
        return F.leaky_relu(x, LEAKY_SLOPE) if self.act else x


class ResidualBlock(nn.Module):
    """conv-BN-LeakyReLU, conv-BN, plus a shortcut (identity, or a plain conv when the shape changes).

    Downsampling blocks stride their second convolution; upsampling blocks upsample before the first.
    """

    def __init__(self, cin: int, cout: int, scale: str = "none") -> None:
        super().__init__()
        same = scale == "none" and cin == cout
        self.shortcut_func = None if same else ConvLayer(cin, cout, scale)
        self.conv1 = ConvLayer(cin, cout, "up" if scale == "up" else "none", norm=True, act=True)
        self.conv2 = ConvLayer(cout, cout, "down" if scale == "down" else "none", norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.shortcut_func is None else self.shortcut_func(x)
        return shortcut + self.conv2(self.conv1(x))


class ParseNet(nn.Module):
    """Face parser; ``forward`` returns ``(mask_logits (N, parsing_ch, H, W), image (N, 3, H, W))``.

    Defaults are facexlib's 512 px model (21,303,254 parameters); ``in_size`` is the input it expects.
    """

    def __init__(self, in_size: int = 512, out_size: int = 512, min_feat_size: int = 32, base_ch: int = 64,
                 parsing_ch: int = len(CLASSES), res_depth: int = 10, ch_range: tuple[int, int] = (32, 256)) -> None:
        super().__init__()
        self.in_size, self.out_size = in_size, out_size
        lo, hi = ch_range

        def clip(c: int) -> int:
            return max(lo, min(c, hi))

        min_feat_size = min(in_size, min_feat_size)
        down_steps = int(math.log2(in_size // min_feat_size))
        up_steps = int(math.log2(out_size // min_feat_size))

        encoder: list[nn.Module] = [ConvLayer(3, base_ch)]
        ch = base_ch
        for _ in range(down_steps):
            encoder.append(ResidualBlock(clip(ch), clip(ch * 2), "down"))
            ch *= 2
        self.encoder = nn.Sequential(*encoder)
        self.body = nn.Sequential(*(ResidualBlock(clip(ch), clip(ch)) for _ in range(res_depth)))
        decoder: list[nn.Module] = []
        for _ in range(up_steps):
            decoder.append(ResidualBlock(clip(ch), clip(ch // 2), "up"))
            ch //= 2
        self.decoder = nn.Sequential(*decoder)
        self.out_img_conv = ConvLayer(clip(ch), 3)
        self.out_mask_conv = ConvLayer(clip(ch), parsing_ch)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feat = self.encoder(x)
        x = self.decoder(feat + self.body(feat))
        return self.out_mask_conv(x), self.out_img_conv(x)


def config_from_state_dict(state: dict[str, torch.Tensor]) -> dict[str, int]:
    """The :class:`ParseNet` arguments that a state dict in facexlib's layout implies: sizes from the number of
    down/upsampling blocks (with the default ``min_feat_size`` 32), ``base_ch``, ``parsing_ch``, ``res_depth``."""
    def blocks(prefix: str) -> int:
        return len({k.split(".")[1] for k in state if k.startswith(prefix + ".")})

    down, up = blocks("encoder") - 1, blocks("decoder")
    return {"in_size": 32 * 2 ** down, "out_size": 32 * 2 ** up, "min_feat_size": 32,
            "base_ch": int(state["encoder.0.conv2d.weight"].shape[0]),
            "parsing_ch": int(state["out_mask_conv.conv2d.weight"].shape[0]), "res_depth": blocks("body")}

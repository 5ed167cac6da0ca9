"""The building blocks of the StyleGAN2 generator and discriminator (:mod:`faceedit.models.stylegan2`): equalised
learning-rate layers, the modulated convolution, blur / upsampling by ``upfirdn2d``, noise injection, the biased
leaky ReLU; parameter names as in rosinality's ``stylegan2-pytorch``.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .upfirdn import make_kernel, upfirdn2d

SQRT2 = math.sqrt(2.0)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor | None = None, negative_slope: float = 0.2,
                     scale: float = SQRT2) -> torch.Tensor:
    """``leaky_relu(x + bias) * scale`` with the bias broadcast over channel axis 1.

    Works in place on ``x`` when autograd is off (inference), which saves memory passes at high resolution.
    """
    if bias is not None:
        shape = (1, bias.shape[0]) + (1,) * (x.ndim - 2)
        b = bias.view(shape).to(x.dtype)
    inplace = not torch.is_grad_enabled()
    if inplace:
        if bias is not None:
            x = x.add_(b)
        return F.leaky_relu_(x, negative_slope).mul_(scale)
    if bias is not None:
        x = x + b
    return F.leaky_relu(x, negative_slope) * scale


class PixelNorm(nn.Module):
    """Normalise each vector to unit root-mean-square over its last axis."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + 1e-8)


class EqualLinear(nn.Module):
    """Linear layer with equalised learning rate (runtime weight scale ``lr_mul / sqrt(in)``).

    ``activation="fused_lrelu"`` applies :func:`fused_leaky_relu` with the bias.
    """

    def __init__(self, in_dim: int, out_dim: int, bias: bool = True, bias_init: float = 0.0,
                 lr_mul: float = 1.0, activation: str | None = None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init))) if bias else None
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor, out_features: int | None = None) -> torch.Tensor:
        """Apply the layer; ``out_features`` keeps only the first outputs (sub-network preview)."""
        w = self.weight if out_features is None else self.weight[:out_features]
        b = None if self.bias is None else (self.bias if out_features is None else self.bias[:out_features])
        if self.activation == "fused_lrelu":
            out = F.linear(x, w * self.scale)
            # bias over the last axis
            out = out + b * self.lr_mul if b is not None else out
            return F.leaky_relu(out, 0.2) * SQRT2
        return F.linear(x, w * self.scale, None if b is None else b * self.lr_mul)


class EqualConv2d(nn.Module):
    """Plain convolution with equalised learning rate (discriminator)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 bias: bool = True):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channel, in_channel, kernel_size, kernel_size))
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.stride = stride
        self.padding = padding
        self.bias = nn.Parameter(torch.zeros(out_channel)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.scale, bias=self.bias, stride=self.stride, padding=self.padding)


class Blur(nn.Module):
    """FIR low-pass filter with padding (``kernel`` buffer, scaled by ``upsample_factor ** 2``)."""

    def __init__(self, taps: Sequence[float], pad: tuple[int, int], upsample_factor: int = 1):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * upsample_factor ** 2)
        self.pad = pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """Upsample by 2 with an FIR filter (skip-RGB path)."""

    def __init__(self, taps: Sequence[float], factor: int = 2):
        super().__init__()
        self.register_buffer("kernel", make_kernel(taps) * factor ** 2)
        self.factor = factor
        p = self.kernel.shape[0] - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class ModulatedConv2d(nn.Module):
    """Convolution whose weights are scaled per sample by a style (modulation) and renormalised (demodulation).

    Keys: ``weight`` ``(1, out, in, k, k)``, ``modulation.*`` (style -> per-input-channel scale, bias init 1),
    ``blur.kernel`` when upsampling (transposed conv, stride 2, then FIR blur).
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 demodulate: bool = True, upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.in_channel, self.out_channel, self.kernel_size = in_channel, out_channel, kernel_size
        self.weight = nn.Parameter(torch.randn(1, out_channel, in_channel, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channel, bias_init=1.0)
        self.scale = 1 / math.sqrt(in_channel * kernel_size ** 2)
        self.demodulate = demodulate
        self.upsample = upsample
        self.padding = kernel_size // 2
        if upsample:
            factor = 2
            p = (len(blur_kernel) - factor) - (kernel_size - 1)
            self.blur = Blur(blur_kernel, pad=((p + 1) // 2 + factor - 1, p // 2 + 1), upsample_factor=factor)

    def forward(self, x: torch.Tensor, style: torch.Tensor, out_channels: int | None = None) -> torch.Tensor:
        """Convolve ``x`` (N, C_in', H, W) with weights modulated by ``style`` (N, style_dim).

        Only the first ``x.shape[1]`` input and ``out_channels`` output channels are used (anycost
        sub-network).  Two exact rewritings of the reference arithmetic, picked by cost: for one sample
        whose activations outnumber the weights (high resolutions) the modulation and demodulation are
        folded into the weight; otherwise the input is scaled per channel, convolved with the shared
        weight, and the output scaled by the demodulation coefficients.
        """
        n, cin, h, w_ = x.shape
        cout = out_channels or self.out_channel
        s = self.modulation(style, cin) * self.scale  # (N, cin), includes the equalised-lr weight scale
        weight = self.weight[0, :cout, :cin]  # (cout, cin, k, k), a view
        big_activations = weight.numel() < x[0].numel()
        # oneDNN convolutions are much faster on channels-last activations at high resolution, but at low
        # resolution (few pixels, large weights) plain NCHW is faster
        x = x.contiguous(memory_format=torch.channels_last if big_activations else torch.contiguous_format)
        if n == 1 and big_activations:
            wm = weight * s.view(1, cin, 1, 1)
            if self.demodulate:
                wm = wm * torch.rsqrt(wm.square().sum((1, 2, 3), keepdim=True) + 1e-8)
            return self._conv(x, wm.to(x.dtype))
        out = self._conv(x * s.view(n, cin, 1, 1).to(x.dtype), weight.to(x.dtype))
        if not self.demodulate:
            return out
        demod = torch.rsqrt(s.square() @ weight.square().sum((2, 3)).t() + 1e-8).view(n, cout, 1, 1)
        return out.mul_(demod.to(out.dtype)) if not torch.is_grad_enabled() else out * demod.to(out.dtype)

    def _conv(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        if self.upsample:
            out = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)
            return self.blur(out)
        return F.conv2d(x, w, padding=self.padding)


class NoiseInjection(nn.Module):
    """Add per-pixel noise scaled by a learned strength ``weight`` (1,)."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if noise is None:
            return x
        if not torch.is_grad_enabled():
            return x.add_(noise.to(x.dtype), alpha=float(self.weight))
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    """Bias + leaky ReLU (0.2) + gain sqrt(2); key ``bias``."""

    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_leaky_relu(x, self.bias[:x.shape[1]])


def _clamp(x: torch.Tensor, limit: float | None) -> torch.Tensor:
    if limit is None:
        return x
    return x.clamp_(-limit, limit) if not torch.is_grad_enabled() else x.clamp(-limit, limit)


class StyledConv(nn.Module):
    """Modulated conv + noise + bias/leaky ReLU (keys ``conv.*``, ``noise.weight``, ``activate.bias``).

    ``clamp`` (NVlabs ``conv_clamp``, None = off) limits the activations to [-clamp, clamp].
    """

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, style_dim: int,
                 upsample: bool = False, blur_kernel: Sequence[float] = (1, 3, 3, 1), clamp: float | None = None):
        super().__init__()
        self.conv = ModulatedConv2d(in_channel, out_channel, kernel_size, style_dim, upsample=upsample,
                                    blur_kernel=blur_kernel)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channel)
        self.clamp = clamp

    def forward(self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None,
                out_channels: int | None = None) -> torch.Tensor:
        out = self.conv(x, style, out_channels)
        out = self.noise(out, noise)
        return _clamp(self.activate(out), self.clamp)


class ToRGB(nn.Module):
    """1x1 modulated conv to RGB (no demodulation) + bias [+ clamp], plus the upsampled skip image."""

    def __init__(self, in_channel: int, style_dim: int, upsample: bool = True,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), clamp: float | None = None):
        super().__init__()
        if upsample:
            self.upsample = Upsample(blur_kernel)
        self.conv = ModulatedConv2d(in_channel, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self.clamp = clamp

    def forward(self, x: torch.Tensor, style: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        out = self.conv(x, style)
        out = _clamp(out + self.bias.to(out.dtype), self.clamp)
        if skip is not None:
            out = out + self.upsample(skip)
        return out


class ConstantInput(nn.Module):
    """The learned 4x4 constant (key ``input``)."""

    def __init__(self, channel: int, size: int = 4):
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channel, size, size))

    def forward(self, batch: int, channels: int | None = None) -> torch.Tensor:
        return self.input[:, :channels].expand(batch, -1, -1, -1)

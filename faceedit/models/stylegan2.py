"""StyleGAN2 (config-f family) generator and discriminator in plain PyTorch.

The parameter layout is the one of the anycost-gan / rosinality ``stylegan2-pytorch`` checkpoints
(``style.N``, ``input.input``, ``conv1``, ``to_rgb1``, ``convs.N``, ``to_rgbs.N``, ``noises.noise_N``), so
their ``g_ema`` state dicts load as they are.  Channel widths follow anycost-gan's formula
``min(channel_max, G_CHANNEL_CONFIG[res] * channel_multiplier)``, which equals the original config-f
widths for ``channel_multiplier=2, channel_max=512``.

Rendering never mutates the module: the preview options (``channel_ratio``, early stop at
``resolution``) are arguments of :meth:`Generator.synthesis`, and sub-networks are taken by slicing the
weights per call, so several threads may render from one generator.  :class:`SynthesisCache` re-uses the
activations of the layers whose W+ rows did not change between consecutive renders.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .upfirdn import make_kernel, upfirdn2d

# Channels per resolution before the multiplier (anycost-gan); config-f = x2, capped at 512.
G_CHANNEL_CONFIG = {4: 4096, 8: 2048, 16: 1024, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
SQRT2 = math.sqrt(2.0)
NOISE_MODES = ("const", "random", "none")
CHANNEL_RATIOS = (0.25, 0.5, 0.75, 1.0)


def seeded_z(n: int, style_dim: int, seed: int = 0) -> torch.Tensor:
    """``n`` standard normal latents ``(n, style_dim)`` float32, reproducible from ``seed``.

    Drawn from numpy's PCG64 stream, never torch's: a generator built after ``torch.manual_seed(s)``
    keeps first mapping-layer weights almost equal to the ``torch.randn`` rows of stream ``s`` (the 0.01
    learning-rate multiplier barely moves them), so z drawn from that same torch stream line up with them
    and map far outside the learned W distribution (a 128-px model seeded 0: 74.5 % of 200 samples had a
    face dlib could find with torch's stream 0, 96.5 % with stream 1)."""
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.standard_normal((n, style_dim), dtype=np.float32))


def channel_widths(resolution: int, channel_multiplier: float = 2, channel_max: int = 512) -> dict[int, int]:
    """Feature channels at every resolution 4..``resolution`` (anycost-gan formula)."""
    return {r: min(channel_max, int(G_CHANNEL_CONFIG[r] * channel_multiplier))
            for r in G_CHANNEL_CONFIG if r <= resolution}


def _check_resolution(resolution: int) -> int:
    if resolution not in G_CHANNEL_CONFIG or resolution < 8:
        raise ValueError(f"resolution must be a power of two in 8..1024, got {resolution}")
    return int(math.log2(resolution))


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


class _Noises(nn.Module):
    """Holds the fixed noise buffers ``noise_0 .. noise_{L-1}``."""


@dataclass(frozen=True)
class _Layer:
    """One step of the synthesis network, in execution order."""

    kind: str  # "const_conv" | "rgb1" | "up" | "conv" | "rgb"
    index: int  # index into convs / to_rgbs (or 0)
    row: int  # W+ row it reads
    resolution: int  # output resolution
    noise: int  # noise buffer index (-1 for RGB layers)


@dataclass
class _State:
    """Activations between two synthesis layers."""

    out: torch.Tensor | None = None
    skip: torch.Tensor | None = None


class Generator(nn.Module):
    """StyleGAN2 generator: mapping network ``style`` and synthesis network.

    Args:
        resolution: output size, a power of two in 8..1024.
        style_dim: size of z and w.
        n_mlp: layers of the mapping network.
        channel_multiplier, channel_max: widths ``min(channel_max, G_CHANNEL_CONFIG[res] * multiplier)``.
        conv_clamp: clamp activations and RGB outputs to +-conv_clamp (NVlabs networks trained with mixed
            precision use 256); None = off, as in the original StyleGAN2.
        model_id: a stable name of the weights (set by the checkpoint loader).
    """

    def __init__(self, resolution: int, style_dim: int = 512, n_mlp: int = 8, channel_multiplier: float = 2,
                 channel_max: int = 512, blur_kernel: Sequence[float] = (1, 3, 3, 1), lr_mlp: float = 0.01,
                 conv_clamp: float | None = None, model_id: str = "unnamed"):
        super().__init__()
        log_size = _check_resolution(resolution)
        self.resolution = resolution
        self.style_dim = style_dim
        self.n_mlp = n_mlp
        self.channel_multiplier = channel_multiplier
        self.channel_max = channel_max
        self.conv_clamp = conv_clamp
        self.model_id = model_id
        self.channels = channel_widths(resolution, channel_multiplier, channel_max)

        self.style = nn.Sequential(PixelNorm(), *[
            EqualLinear(style_dim, style_dim, lr_mul=lr_mlp, activation="fused_lrelu") for _ in range(n_mlp)])

        c4 = self.channels[4]
        self.input = ConstantInput(c4)
        self.conv1 = StyledConv(c4, c4, 3, style_dim, blur_kernel=blur_kernel, clamp=conv_clamp)
        self.to_rgb1 = ToRGB(c4, style_dim, upsample=False, clamp=conv_clamp)
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.noises = _Noises()
        self.num_layers = (log_size - 2) * 2 + 1
        for i in range(self.num_layers):
            res = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, res, res))
        in_ch = c4
        for i in range(3, log_size + 1):
            out_ch = self.channels[2 ** i]
            self.convs.append(StyledConv(in_ch, out_ch, 3, style_dim, upsample=True, blur_kernel=blur_kernel,
                                         clamp=conv_clamp))
            self.convs.append(StyledConv(out_ch, out_ch, 3, style_dim, blur_kernel=blur_kernel, clamp=conv_clamp))
            self.to_rgbs.append(ToRGB(out_ch, style_dim, blur_kernel=blur_kernel, clamp=conv_clamp))
            in_ch = out_ch
        self.n_latent = log_size * 2 - 2
        self.layers = self._build_layers(log_size)
        # the tracked average w of the original training run, when the checkpoint has one (NVlabs w_avg)
        self.register_buffer("w_avg", None, persistent=False)

    # ----------------------------------------------------------------------------------------- structure
    @property
    def config(self) -> dict:
        """The constructor arguments that define the architecture."""
        cfg = {"resolution": self.resolution, "style_dim": self.style_dim, "n_mlp": self.n_mlp,
               "channel_multiplier": self.channel_multiplier, "channel_max": self.channel_max}
        if self.conv_clamp is not None:
            cfg["conv_clamp"] = self.conv_clamp
        return cfg

    @staticmethod
    def _build_layers(log_size: int) -> tuple[_Layer, ...]:
        layers = [_Layer("const_conv", 0, 0, 4, 0), _Layer("rgb1", 0, 1, 4, -1)]
        row = 1
        for s, i in enumerate(range(3, log_size + 1)):
            res = 2 ** i
            layers.append(_Layer("up", 2 * s, row, res, 2 * s + 1))
            layers.append(_Layer("conv", 2 * s + 1, row + 1, res, 2 * s + 2))
            layers.append(_Layer("rgb", s, row + 2, res, -1))
            row += 2
        return tuple(layers)

    def sub_channels(self, channel_ratio: float) -> dict[int, int]:
        """Output channels per resolution of the anycost sub-generator with a uniform ``channel_ratio``."""
        if not 0 < channel_ratio <= 1:
            raise ValueError(f"channel_ratio must be in (0, 1], got {channel_ratio}")
        if channel_ratio == 1:
            return dict(self.channels)
        mult = self.channels[self.resolution] / G_CHANNEL_CONFIG[self.resolution]
        return {r: max(1, min(self.channel_max, int(G_CHANNEL_CONFIG[r] * channel_ratio * mult)))
                for r in self.channels}

    # ----------------------------------------------------------------------------------------- mapping
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """Map z (..., style_dim) to w (..., style_dim)."""
        if z.shape[-1] != self.style_dim:
            raise ValueError(f"z must end with style_dim={self.style_dim}, got shape {tuple(z.shape)}")
        return self.style(z)

    @torch.no_grad()
    def mean_latent(self, n: int | None = None, seed: int = 0) -> torch.Tensor:
        """The truncation centre ``(1, style_dim)``: the mean of ``mapping`` over ``n`` seeded normal z.

        With ``n=None`` the checkpoint's tracked ``w_avg`` is returned when it has one, else n = 4096.
        """
        if n is None and self.w_avg is not None:
            return self.w_avg.view(1, -1).clone()
        n = n or 4096
        dev = self.input.input.device
        z = seeded_z(n, self.style_dim, seed).to(dev)
        return self.style(z).mean(0, keepdim=True)

    # ----------------------------------------------------------------------------------------- synthesis
    def _broadcast_w(self, w: torch.Tensor) -> torch.Tensor:
        if w.ndim == 2:
            w = w[:, None]
        if w.ndim != 3 or w.shape[-1] != self.style_dim:
            raise ValueError(f"W/W+ must be (N, style_dim) or (N, n_latent, style_dim); got {tuple(w.shape)}")
        if w.shape[1] == 1:
            return w.expand(-1, self.n_latent, -1)
        if w.shape[1] != self.n_latent:
            raise ValueError(f"W+ has {w.shape[1]} rows, the generator needs {self.n_latent}")
        return w

    def plan(self, channel_ratio: float = 1.0, resolution: int | None = None) -> tuple[tuple[_Layer, ...], dict]:
        """The layers to run (up to ``resolution``) and the output channels per resolution."""
        res = self.resolution if resolution is None else int(resolution)
        if res not in self.channels or res < 4:
            raise ValueError(f"resolution must be a power of two in 4..{self.resolution}, got {resolution}")
        layers = tuple(layer for layer in self.layers if layer.resolution <= res)
        return layers, self.sub_channels(channel_ratio)

    def _noise(self, layer: _Layer, like: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
        """The noise input of ``layer`` for a batch like ``like`` (its batch size, device, dtype)."""
        if noise_mode == "none":
            return None
        if noise_mode == "random":
            r = layer.resolution
            return torch.randn(like.shape[0], 1, r, r, device=like.device, dtype=like.dtype)
        return getattr(self.noises, f"noise_{layer.noise}")

    def run_layer(self, layer: _Layer, w_plus: torch.Tensor, state: _State, channels: dict[int, int],
                  noise_mode: str = "const") -> _State:
        """Run one synthesis layer on ``state``; returns the new state (the input state is not modified)."""
        style = w_plus[:, layer.row]
        if layer.kind == "const_conv":
            x = self.input(w_plus.shape[0], channels[4])
            x = self.conv1(x, style, self._noise(layer, x, noise_mode), channels[4])
            return _State(x, state.skip)
        if layer.kind == "rgb1":
            return _State(state.out, self.to_rgb1(state.out, style))
        if layer.kind in ("up", "conv"):
            noise = self._noise(layer, state.out, noise_mode)
            return _State(self.convs[layer.index](state.out, style, noise, channels[layer.resolution]), state.skip)
        return _State(state.out, self.to_rgbs[layer.index](state.out, style, state.skip))

    def synthesis(self, w_plus: torch.Tensor, noise_mode: str = "const", channel_ratio: float = 1.0,
                  resolution: int | None = None, return_rgbs: bool = False):
        """Render W+ ``(N, n_latent, style_dim)`` (or W ``(N, style_dim)``) to NCHW images in about [-1, 1].

        ``noise_mode``: "const" (the fixed buffers), "random" or "none".  ``channel_ratio`` < 1 renders
        the anycost sub-generator (first channels of every conv); ``resolution`` stops early.  Nothing in
        the module is modified.  ``return_rgbs=True`` returns ``(image, [skip RGB per resolution])``.
        """
        if noise_mode not in NOISE_MODES:
            raise ValueError(f"noise_mode must be one of {NOISE_MODES}, got {noise_mode!r}")
        w_plus = self._broadcast_w(w_plus)
        layers, channels = self.plan(channel_ratio, resolution)
        state = _State()
        rgbs = []
        for layer in layers:
            state = self.run_layer(layer, w_plus, state, channels, noise_mode)
            if layer.kind in ("rgb1", "rgb"):
                rgbs.append(state.skip.contiguous())
        return (rgbs[-1], rgbs) if return_rgbs else rgbs[-1]

    def forward(self, styles: torch.Tensor, input_is_style: bool = False, truncation: float = 1.0,
                truncation_style: torch.Tensor | None = None, noise_mode: str = "const",
                channel_ratio: float = 1.0, resolution: int | None = None, return_rgbs: bool = False):
        """z or w (``input_is_style``) -> image, with optional truncation towards ``truncation_style``."""
        w = styles if input_is_style else self.mapping(styles)
        if truncation != 1:
            if truncation_style is None:
                truncation_style = self.mean_latent()
            w = truncation_style + truncation * (w - truncation_style)
        return self.synthesis(w, noise_mode=noise_mode, channel_ratio=channel_ratio, resolution=resolution,
                              return_rgbs=return_rgbs)


class SynthesisCache:
    """Re-use activations between consecutive renders that share the first W+ rows.

    ``cache.render(w_plus)`` equals ``generator.synthesis(w_plus, "const", channel_ratio, resolution)``
    exactly; when only rows >= k changed since the previous call with the same settings, the layers before
    the first one that reads row k are skipped.  Thread-safe (one lock); call :meth:`clear` after the
    generator's weights change.
    """

    def __init__(self, generator: Generator):
        self.generator = generator
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._w: torch.Tensor | None = None
        self._states: list[_State | None] = []  # state before each layer of the plan (None: not kept)
        self.last_reused_layers = 0

    def clear(self) -> None:
        """Forget the cached activations."""
        with self._lock:
            self._key, self._w, self._states = None, None, []

    @torch.inference_mode()
    def render(self, w_plus: torch.Tensor, channel_ratio: float = 1.0, resolution: int | None = None,
               noise_mode: str = "const") -> torch.Tensor:
        """Render like :meth:`Generator.synthesis` (constant or no noise), re-using what did not change."""
        if noise_mode == "random":
            raise ValueError("SynthesisCache renders deterministic noise only ('const' or 'none')")
        g = self.generator
        w_plus = g._broadcast_w(w_plus).contiguous()
        layers, channels = g.plan(channel_ratio, resolution)
        dtype = torch.get_autocast_dtype("cpu") if torch.is_autocast_enabled("cpu") else None
        key = (tuple(w_plus.shape), w_plus.dtype, w_plus.device, channel_ratio, len(layers), noise_mode, dtype)
        with self._lock:
            start = 0
            if key == self._key and self._w is not None:
                changed = (w_plus != self._w).any(dim=(0, 2)).nonzero()
                first_row = int(changed[0]) if len(changed) else g.n_latent
                while start < len(layers) and layers[start].row < first_row:
                    start += 1
            state = self._states[start] if start else _State()
            states = self._states[:start + 1] if start else [state]
            for i, layer in enumerate(layers[start:], start + 1):
                state = g.run_layer(layer, w_plus, state, channels, noise_mode)
                # a render restarts only where the W+ row increases (or returns the final state): keep those
                restart = i == len(layers) or layers[i].row > layers[i - 1].row
                states.append(state if restart else None)
            self._key, self._w, self._states = key, w_plus.clone(), states
            self.last_reused_layers = start
            return state.skip.contiguous()


# --------------------------------------------------------------------------------------- discriminator
class ConvLayer(nn.Sequential):
    """[Blur] + EqualConv2d + [FusedLeakyReLU] (rosinality ``ConvLayer`` keys ``0``, ``1``, ``2``)."""

    def __init__(self, in_channel: int, out_channel: int, kernel_size: int, downsample: bool = False,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), bias: bool = True, activate: bool = True):
        layers: list[nn.Module] = []
        if downsample:
            p = (len(blur_kernel) - 2) + (kernel_size - 1)
            layers.append(Blur(blur_kernel, pad=((p + 1) // 2, p // 2)))
            stride, padding = 2, 0
        else:
            stride, padding = 1, kernel_size // 2
        layers.append(EqualConv2d(in_channel, out_channel, kernel_size, stride=stride, padding=padding,
                                  bias=bias and not activate))
        if activate:
            layers.append(FusedLeakyReLU(out_channel))
        super().__init__(*layers)


class ResBlock(nn.Module):
    """Two convs (the second downsampling) plus a 1x1 downsampling skip, summed / sqrt(2)."""

    def __init__(self, in_channel: int, out_channel: int, blur_kernel: Sequence[float] = (1, 3, 3, 1)):
        super().__init__()
        self.conv1 = ConvLayer(in_channel, in_channel, 3)
        self.conv2 = ConvLayer(in_channel, out_channel, 3, downsample=True, blur_kernel=blur_kernel)
        self.skip = ConvLayer(in_channel, out_channel, 1, downsample=True, activate=False, bias=False,
                              blur_kernel=blur_kernel)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) / SQRT2


class Discriminator(nn.Module):
    """StyleGAN2 residual discriminator (rosinality layout: ``convs.*``, ``final_conv``, ``final_linear``).

    ``features(x)`` returns the activations after the input layer and every residual block (a perceptual
    feature pyramid); ``forward(x)`` the realness logit ``(N, 1)``.
    """

    def __init__(self, resolution: int, channel_multiplier: float = 2, channel_max: int = 512,
                 blur_kernel: Sequence[float] = (1, 3, 3, 1), stddev_group: int = 4):
        super().__init__()
        log_size = _check_resolution(resolution)
        self.resolution = resolution
        self.channel_multiplier = channel_multiplier
        self.channel_max = channel_max
        ch = channel_widths(resolution, channel_multiplier, channel_max)
        convs: list[nn.Module] = [ConvLayer(3, ch[resolution], 1)]
        in_ch = ch[resolution]
        for i in range(log_size, 2, -1):
            out_ch = ch[2 ** (i - 1)]
            convs.append(ResBlock(in_ch, out_ch, blur_kernel))
            in_ch = out_ch
        self.convs = nn.Sequential(*convs)
        self.stddev_group = stddev_group
        self.final_conv = ConvLayer(in_ch + 1, ch[4], 3)
        self.final_linear = nn.Sequential(EqualLinear(ch[4] * 16, ch[4], activation="fused_lrelu"),
                                          EqualLinear(ch[4], 1))

    @property
    def config(self) -> dict:
        """The constructor arguments that define the architecture."""
        return {"resolution": self.resolution, "channel_multiplier": self.channel_multiplier,
                "channel_max": self.channel_max, "stddev_group": self.stddev_group}

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after the input layer and after each residual block (high to low resolution)."""
        feats = []
        for block in self.convs:
            x = block(x)
            feats.append(x)
        return feats

    def _minibatch_stddev(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        group = min(n, self.stddev_group)
        if n % group:
            group = 1
        y = x.view(group, -1, 1, c, h, w)
        y = torch.sqrt(y.var(0, unbiased=False) + 1e-8).mean((2, 3, 4), keepdim=True).squeeze(2)
        y = y.repeat(group, 1, h, w)
        return torch.cat([x, y], 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[-1] != self.resolution or x.shape[-2] != self.resolution:
            raise ValueError(f"expected (N, 3, {self.resolution}, {self.resolution}) images, got {tuple(x.shape)}")
        out = self.convs(x)
        out = self.final_conv(self._minibatch_stddev(out))
        return self.final_linear(out.flatten(1))

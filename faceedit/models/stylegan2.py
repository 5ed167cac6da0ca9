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
from torch import nn

from .stylegan2_layers import (
    SQRT2,
    Blur,
    ConstantInput,
    EqualConv2d,
    EqualLinear,
    FusedLeakyReLU,
    PixelNorm,
    StyledConv,
    ToRGB,
)

# Channels per resolution before the multiplier (anycost-gan); config-f = x2, capped at 512.
G_CHANNEL_CONFIG = {4: 4096, 8: 2048, 16: 1024, 32: 512, 64: 256, 128: 128, 256: 64, 512: 32, 1024: 16}
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

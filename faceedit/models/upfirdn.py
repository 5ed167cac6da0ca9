"""Pure-PyTorch FIR resampling (``upfirdn2d``): upsample by zero insertion, pad, filter, downsample.

This is the resampling primitive of StyleGAN2 (blur after a transposed convolution, skip-RGB upsampling,
blur before a strided convolution in the discriminator).  It runs on any device with ordinary ops; the
filter is applied depthwise (one 2-D FIR kernel shared by every channel).
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F


def make_kernel(taps: Sequence[float]) -> torch.Tensor:
    """The separable 2-D FIR kernel ``outer(taps, taps)`` normalised to sum 1 (e.g. ``[1, 3, 3, 1]``)."""
    k = torch.tensor(list(taps), dtype=torch.float32)
    if k.ndim != 1:
        raise ValueError("FIR taps must be one-dimensional")
    k = k[None, :] * k[:, None]
    return k / k.sum()


def _depthwise(x: torch.Tensor, kernel: torch.Tensor, padding: int = 0) -> torch.Tensor:
    """Convolve (true convolution: flipped kernel) every channel of ``x`` with ``kernel``, zero padding."""
    c = x.shape[1]
    w = torch.flip(kernel, (0, 1)).to(dtype=x.dtype, device=x.device)
    w = w[None, None].expand(c, 1, *kernel.shape)
    return F.conv2d(x, w, padding=padding, groups=c)


def _pad(x: torch.Tensor, pad0: int, pad1: int) -> torch.Tensor:
    """Pad (positive) or crop (negative) both spatial axes by ``pad0`` before and ``pad1`` after."""
    if pad0 == pad1 == 0:
        return x
    if pad0 >= 0 and pad1 >= 0:
        return F.pad(x, (pad0, pad1, pad0, pad1))
    x = F.pad(x, (max(pad0, 0), max(pad1, 0), max(pad0, 0), max(pad1, 0)))
    h, w = x.shape[-2:]
    return x[..., max(-pad0, 0):h - max(-pad1, 0), max(-pad0, 0):w - max(-pad1, 0)]


def _window(y: torch.Tensor, dim: int, start: int, length: int) -> torch.Tensor:
    """``y[start:start + length]`` along ``dim``, reading zeros outside ``y``."""
    size = y.shape[dim]
    before, after = max(-start, 0), max(start + length - size, 0)
    if before or after:
        pads = [0, 0, 0, 0]
        pads[(0 if dim == -1 else 2)] = before
        pads[(1 if dim == -1 else 3)] = after
        y = F.pad(y, pads)
        start += before
    return y.narrow(dim, start, length)


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
              pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """Upsample ``x`` (NCHW) by ``up`` (zero insertion), pad by ``pad``, FIR-filter, keep every ``down``-th pixel.

    Output size per axis: ``(size * up + pad[0] + pad[1] - kernel_size) // down + 1``.  For ``up == 2`` the
    zero insertion and the filter are done at once with a depthwise transposed convolution (no upsampled
    copy of the input is made).
    """
    pad0, pad1 = pad
    if up > 1:
        # A depthwise transposed convolution (stride ``up``) is the full convolution of the zero-inserted
        # signal with the kernel; the requested output is a window of it starting at ``kh - 1 - pad0``.
        c = x.shape[1]
        kh, kw = kernel.shape
        w = kernel.to(dtype=x.dtype, device=x.device)[None, None].expand(c, 1, kh, kw)
        y = F.conv_transpose2d(x, w, stride=up, groups=c)
        h_out = x.shape[-2] * up + pad0 + pad1 - kh + 1
        w_out = x.shape[-1] * up + pad0 + pad1 - kw + 1
        y = _window(y, -2, kh - 1 - pad0, h_out)
        y = _window(y, -1, kw - 1 - pad0, w_out)
        return y[..., ::down, ::down] if down > 1 else y
    if pad0 == pad1 >= 0:  # symmetric padding: let the convolution pad (no padded copy)
        y = _depthwise(x, kernel, padding=pad0)
    else:
        y = _depthwise(_pad(x, pad0, pad1), kernel)
    if down > 1:
        y = y[..., ::down, ::down]
    return y


def upfirdn2d_reference(x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1,
                        pad: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """The literal definition (zero insertion, pad, filter, subsample); used by tests to check the fast path."""
    n, c, h, w = x.shape
    if up > 1:
        x = x.reshape(n, c, h, 1, w, 1)
        x = F.pad(x, (0, up - 1, 0, 0, 0, up - 1))
        x = x.reshape(n, c, h * up, w * up)
    x = _pad(x, pad[0], pad[1])
    y = _depthwise(x, kernel)
    return y[..., ::down, ::down] if down > 1 else y

"""Render W+ codes of a generator to RGB uint8 images: the one bridge from latents to pictures."""
from __future__ import annotations

from typing import Any

import numpy as np


def synthesize(generator: Any, w_plus: np.ndarray, batch_size: int = 32, noise_mode: str = "const",
               **render: Any) -> np.ndarray:
    """RGB uint8 images ``(N, H, W, 3)`` of W+ codes ``(N, n_latent, style_dim)`` (a single W row per
    code, ``(N, style_dim)``, is broadcast to every layer), rendered in batches without gradients.

    ``render`` passes preview arguments (``channel_ratio``, ``resolution``) to ``generator.synthesis``.
    """
    import torch

    from .devices import module_device
    from .images import to_image

    device = module_device(generator)  # the generator's device: cpu, cuda or mps
    w_plus = np.asarray(w_plus, dtype=np.float32)
    if w_plus.ndim == 2:
        w_plus = np.repeat(w_plus[:, None], generator.n_latent, axis=1)
    out = []
    with torch.inference_mode():
        for i in range(0, len(w_plus), batch_size):
            w = torch.from_numpy(np.ascontiguousarray(w_plus[i:i + batch_size])).to(device)
            out.append(to_image(generator.synthesis(w, noise_mode=noise_mode, **render)))
    return np.concatenate(out)

"""The embedding → W+ mapper (issue 22): an MLP from a 128-d dlib face descriptor to a W+ code.

The input is the project's canonical descriptor (:func:`faceedit.faces.identity.descriptor`: dlib's face-recognition
ResNet on the FFHQ-aligned face).  Inputs and outputs are standardised by buffers saved with the weights (the
descriptor mean/std and the per-coordinate W+ mean/std of the training pairs), so the network itself only
learns a residual around the mean face.  Trained by ``faceedit train embedding-mapper``
(:mod:`faceedit.train.embedding_mapper`); shipped as ``faceedit/assets/embedding_mapper.safetensors`` + ``.json``.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ._files import ASSETS_DIR, build_from_safetensors

KIND = "embedding_mapper"
DEFAULT_MAPPER = ASSETS_DIR / "embedding_mapper.safetensors"
#: the one embedding the mapper reads: dlib's 128-d face descriptor
EMBEDDING_DIM = 128


class EmbeddingMapper(nn.Module):
    """``forward(desc (N, 128)) -> W+ (N, n_latent, style_dim)``: standardise the descriptor, an MLP of
    ``depth`` hidden layers of ``hidden`` units (LeakyReLU, dropout), un-standardise the W+ code."""

    def __init__(self, n_latent: int = 10, style_dim: int = 128, embedding_dim: int = EMBEDDING_DIM,
                 hidden: int = 512, depth: int = 3, dropout: float = 0.1) -> None:
        super().__init__()
        self.n_latent, self.style_dim, self.embedding_dim = n_latent, style_dim, embedding_dim
        self.hidden, self.depth, self.dropout_p = hidden, depth, dropout
        layers: list[nn.Module] = []
        cin = embedding_dim
        for _ in range(depth):
            layers += [nn.Linear(cin, hidden), nn.LeakyReLU(0.2), nn.Dropout(dropout)]
            cin = hidden
        layers.append(nn.Linear(cin, n_latent * style_dim))
        self.net = nn.Sequential(*layers)
        nn.init.zeros_(self.net[-1].weight)  # start at the mean W+ code
        nn.init.zeros_(self.net[-1].bias)
        self.register_buffer("desc_mean", torch.zeros(embedding_dim))
        self.register_buffer("desc_std", torch.ones(embedding_dim))
        self.register_buffer("w_mean", torch.zeros(n_latent, style_dim))
        self.register_buffer("w_std", torch.ones(n_latent, style_dim))
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"n_latent": self.n_latent, "style_dim": self.style_dim, "embedding_dim": self.embedding_dim,
                "hidden": self.hidden, "depth": self.depth, "dropout": self.dropout_p}

    def set_statistics(self, desc: torch.Tensor, w: torch.Tensor) -> None:
        """Set the standardisation buffers from training descriptors ``(N, 128)`` and codes ``(N, L, D)``."""
        self.desc_mean.copy_(desc.mean(0))
        self.desc_std.copy_(desc.std(0).clamp_min(1e-4))
        self.w_mean.copy_(w.mean(0))
        self.w_std.copy_(w.std(0).clamp_min(1e-4))

    def normalized(self, desc: torch.Tensor) -> torch.Tensor:
        """The standardised W+ prediction ``(N, n_latent, style_dim)`` (the space of the latent loss)."""
        x = (desc - self.desc_mean) / self.desc_std
        return self.net(x).view(-1, self.n_latent, self.style_dim)

    def forward(self, desc: torch.Tensor) -> torch.Tensor:
        return self.w_mean + self.w_std * self.normalized(desc)


def load_embedding_mapper(path: str | os.PathLike | None = None) -> EmbeddingMapper:
    """Load a mapper in eval mode: ``None`` → the built-in one (``faceedit/assets/embedding_mapper``), else a
    faceedit ``.safetensors`` + ``.json`` pair; a missing or bad file raises :class:`CheckpointError`."""
    p = Path(path) if path is not None else DEFAULT_MAPPER
    p = p if p.suffix else p.with_suffix(".safetensors")
    if not p.is_file():
        raise CheckpointError(f"no embedding mapper at {p}: train one with `faceedit train embedding-mapper`")
    return build_from_safetensors(p, KIND, {"EmbeddingMapper": EmbeddingMapper})

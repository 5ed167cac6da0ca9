"""A differentiable student of dlib's face descriptor (issue 22, refinement): a small CNN trained by the
project to imitate :func:`faceedit.faces.identity.descriptor` on 64 px FFHQ-aligned faces (photos and renders), so that
a W+ code can be optimised by gradient towards a target descriptor.  It only ever steers the optimisation;
every reported number is measured by dlib itself."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from ._files import ASSETS_DIR, build_from_safetensors
from .resnet import CompactResNet

KIND = "descriptor_student"
DEFAULT_STUDENT = ASSETS_DIR / "descriptor_student.safetensors"


class DescriptorStudent(nn.Module):
    """``forward(images (N, 3, S, S) in [-1, 1]) -> (N, 128)`` predicted dlib descriptors (input resized to
    ``input_size``)."""

    def __init__(self, input_size: int = 64, width: int = 16, blocks: tuple[int, ...] | list = (1, 1, 1, 1),
                 dim: int = 128) -> None:
        super().__init__()
        self.input_size, self.width, self.blocks, self.dim = input_size, width, tuple(blocks), dim
        self.trunk = CompactResNet(width, self.blocks)
        self.head = nn.Linear(self.trunk.out_channels, dim)
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"input_size": self.input_size, "width": self.width, "blocks": list(self.blocks), "dim": self.dim}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .encoder import resize_input

        h = self.trunk(resize_input(x, self.input_size))
        return self.head(h.mean((2, 3)))


def load_descriptor_student(path: str | os.PathLike | None = None) -> DescriptorStudent:
    """Load a student (``.safetensors`` + ``.json``; ``None``: the built-in one) in eval mode; CheckpointError
    when missing or bad."""
    p = Path(path) if path is not None else DEFAULT_STUDENT
    p = p if p.suffix else p.with_suffix(".safetensors")
    if not p.is_file():
        raise CheckpointError(f"no descriptor student at {p}: train one with `faceedit train descriptor-student`")
    return build_from_safetensors(p, KIND, {"DescriptorStudent": DescriptorStudent})

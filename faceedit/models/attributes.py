"""Face attribute predictors: the 40 CelebA attributes, and age / gender / race where the model has them.

- :class:`AttributePredictor`: the compact multi-task default model (a
  :class:`~faceedit.models.resnet.CompactResNet` trunk on 64-px aligned faces, heads: 40 CelebA logits,
  age in years, a gender logit (P(female)), 5 UTKFace race logits).
- :class:`AnycostAttributePredictor`: anycost-gan's predictor (torchvision resnet50, ``fc`` = Linear(2048,
  80) viewed ``(N, 40, 2)``, softmax index 1 = P(attribute)), 256-px input.

Both offer ``predict(images uint8) -> dict[str, np.ndarray]`` keyed by CelebA names (+ ``age``,
``gender``, ``race``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError
from ._files import ASSETS_DIR, build_from_safetensors, load_strict, save_model_file, torch_state_dict
from .encoder import resize_input
from .resnet import Bottleneck, CompactResNet, ResNet

CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow", "Arched_Eyebrows", "Attractive", "Bags_Under_Eyes", "Bald", "Bangs", "Big_Lips",
    "Big_Nose", "Black_Hair", "Blond_Hair", "Blurry", "Brown_Hair", "Bushy_Eyebrows", "Chubby",
    "Double_Chin", "Eyeglasses", "Goatee", "Gray_Hair", "Heavy_Makeup", "High_Cheekbones", "Male",
    "Mouth_Slightly_Open", "Mustache", "Narrow_Eyes", "No_Beard", "Oval_Face", "Pale_Skin", "Pointy_Nose",
    "Receding_Hairline", "Rosy_Cheeks", "Sideburns", "Smiling", "Straight_Hair", "Wavy_Hair",
    "Wearing_Earrings", "Wearing_Hat", "Wearing_Lipstick", "Wearing_Necklace", "Wearing_Necktie", "Young",
]
"""The 40 CelebA attributes in the official column order."""

UTKFACE_RACES = ["White", "Black", "Asian", "Indian", "Others"]
"""UTKFace race classes, in label order (0..4)."""


class _Predicts:
    """``predict`` for models whose ``probabilities(x)`` returns a dict of per-image tensors."""

    input_size: int

    def predict(self, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 64) -> dict[str, np.ndarray]:
        """RGB uint8 face image(s) (aligned; any size, resized to ``input_size``) → name → values ``(N,)``
        (``race`` is ``(N, 5)``)."""
        from ..images import to_tensor

        if isinstance(images, np.ndarray) and images.ndim == 3:
            images = images[None]
        self.eval()
        parts: list[dict[str, torch.Tensor]] = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                parts.append(self.probabilities(to_tensor(images[i:i + batch_size], size=self.input_size)))
        return {k: torch.cat([p[k] for p in parts]).numpy() for k in parts[0]}


class AttributePredictor(_Predicts, nn.Module):
    """Compact multi-task predictor; ``forward`` returns raw outputs: ``attributes`` logits ``(N, 40)``,
    ``age`` in years ``(N,)``, ``gender`` logit ``(N,)`` (P(female) after sigmoid), ``race`` logits ``(N, 5)``.
    """

    def __init__(self, input_size: int = 64, width: int = 32, blocks: tuple[int, ...] = (1, 2, 2, 2),
                 age_mean: float = 35.0, age_std: float = 20.0, dropout: float = 0.1) -> None:
        super().__init__()
        self.input_size, self.width, self.blocks = input_size, width, tuple(blocks)
        self.age_mean, self.age_std, self.dropout_p = age_mean, age_std, dropout
        self.trunk = CompactResNet(width, self.blocks)
        c = self.trunk.out_channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.attributes = nn.Linear(c, len(CELEBA_ATTRIBUTES))
        self.age = nn.Linear(c, 1)
        self.gender = nn.Linear(c, 1)
        self.race = nn.Linear(c, len(UTKFACE_RACES))
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"input_size": self.input_size, "width": self.width, "blocks": list(self.blocks),
                "age_mean": self.age_mean, "age_std": self.age_std, "dropout": self.dropout_p}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.dropout(self.pool(self.trunk(resize_input(x, self.input_size))).flatten(1))
        return {"attributes": self.attributes(h), "age": self.age_mean + self.age_std * self.age(h)[:, 0],
                "gender": self.gender(h)[:, 0], "race": self.race(h)}

    def probabilities(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-attribute probabilities (CelebA names), ``age`` (years), ``gender`` (P(female)), ``race``."""
        out = self(x)
        probs = torch.sigmoid(out["attributes"])
        result = {name: probs[:, i] for i, name in enumerate(CELEBA_ATTRIBUTES)}
        result.update(age=out["age"], gender=torch.sigmoid(out["gender"]), race=out["race"].softmax(1))
        return result


class AnycostAttributePredictor(_Predicts, ResNet):
    """anycost-gan's attribute predictor: resnet50 with ``fc`` = Linear(2048, 80), input 256 in [-1, 1]."""

    def __init__(self, input_size: int = 256) -> None:
        super().__init__(Bottleneck, [3, 4, 6, 3], 2 * len(CELEBA_ATTRIBUTES))
        self.input_size = input_size
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"input_size": self.input_size}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, 80)`` (pairs per attribute)."""
        return super().forward(resize_input(x, self.input_size))

    def probabilities(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """P(attribute) per CelebA name: softmax over each logit pair, index 1."""
        probs = self(x).view(-1, len(CELEBA_ATTRIBUTES), 2).softmax(-1)[..., 1]
        return {name: probs[:, i] for i, name in enumerate(CELEBA_ATTRIBUTES)}


_ARCHITECTURES = {"AttributePredictor": AttributePredictor, "AnycostAttributePredictor": AnycostAttributePredictor}
DEFAULT_ATTRIBUTE_PREDICTOR = ASSETS_DIR / "attributes.safetensors"


def save_attribute_predictor(model: AttributePredictor | AnycostAttributePredictor, path: str | os.PathLike,
                             meta: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Save as ``path`` (``.safetensors``) + ``.json`` (architecture, config, ``meta`` such as validation
    metrics); ``half`` stores float16.  Returns the safetensors path."""
    return save_model_file(model, path, "attribute_predictor", meta, half=half)


def load_attribute_predictor(path: str | os.PathLike | None = None) -> AttributePredictor | AnycostAttributePredictor:
    """Load a predictor in eval mode: ``None`` → the built-in default (``faceedit/assets/attributes.*``);
    an anycost-gan ``.pt``/``.pth`` (resnet50, fc 80) → :class:`AnycostAttributePredictor`; a faceedit
    ``.safetensors`` file → its architecture.  Bad files raise :class:`CheckpointError` naming the file."""
    p = Path(path) if path is not None else DEFAULT_ATTRIBUTE_PREDICTOR
    if path is None and not p.is_file():
        raise CheckpointError(f"the built-in attribute predictor ({p}) is not installed yet; train one with "
                              "`faceedit train attributes` or pass a checkpoint path")
    if p.suffix.lower() in (".pt", ".pth", ".ckpt"):
        state = torch_state_dict(p, required=("fc.weight",))
        if tuple(state["fc.weight"].shape) != (2 * len(CELEBA_ATTRIBUTES), 2048):
            raise CheckpointError(f"{p}: not an anycost-gan attribute predictor (fc.weight is "
                                  f"{tuple(state['fc.weight'].shape)}, expected (80, 2048))")
        model = AnycostAttributePredictor()
        load_strict(model, state, p)
        model.meta = {"source": str(p), "format": "anycost"}
        return model.eval()
    return build_from_safetensors(p if p.suffix else p.with_suffix(".safetensors"), "attribute_predictor",
                                  _ARCHITECTURES)

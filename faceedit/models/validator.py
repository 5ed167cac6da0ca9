"""The validator: an independent attribute model that judges edits (issue 19, target 3).

It shares nothing with the fitting predictor (:class:`~faceedit.models.attributes.AttributePredictor`,
a CompactResNet on 64-px crops, which fits and calibrates the translations): another architecture (a
MobileNet-style network of inverted residual blocks with depthwise convolutions), another input size
(128 px), another seed, other state-dict keys, trained by ``faceedit train validator``.  Its heads are the
same tasks: the 40 CelebA attributes, age in years, gender (P(female), the fitting predictor's convention)
and the 5 UTKFace race classes, so ``predict(images) -> dict`` is a drop-in for the fitting predictor's.

Calibration never reads it: it only accepts or rejects edits.  Its JSON sidecar lists what it may judge
(``meta.judged``: outputs that reached the bar on held-out real faces, see :func:`judged_outputs`).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from ..errors import CheckpointError
from ._files import ASSETS_DIR, build_from_safetensors, save_model_file
from .attributes import CELEBA_ATTRIBUTES, UTKFACE_RACES, _Predicts
from .encoder import resize_input

#: the bar a head must reach on held-out real faces before the validator may judge it (issue 19)
BAR: dict[str, float] = {"gender_acc": 0.93, "age_mae": 8.0, "attr_acc": 0.80, "race_acc": 0.80}

DEFAULT_VALIDATOR = ASSETS_DIR / "validator.safetensors"

#: (expansion, output channels, repeats, first stride) per stage after the stem (stem: 128 → 64 px)
DEFAULT_STAGES: tuple[tuple[int, int, int, int], ...] = (
    (1, 16, 1, 1),   # 64 px
    (4, 24, 2, 2),   # 32 px
    (4, 40, 2, 2),   # 16 px
    (4, 80, 3, 2),   # 8 px
    (4, 128, 2, 1),  # 8 px
    (4, 192, 2, 2),  # 4 px
)


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand → 3x3 depthwise (stride) → 1x1 project, residual when shapes match."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        mid = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), nn.ReLU6(inplace=True)]
        layers += [nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid),
                   nn.ReLU6(inplace=True), nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class AttributeValidator(_Predicts, nn.Module):
    """MobileNet-style multi-task judge; ``forward`` returns the fitting predictor's raw outputs:
    ``attributes`` logits ``(N, 40)``, ``age`` in years ``(N,)``, ``gender`` logit ``(N,)`` (P(female)
    after sigmoid), ``race`` logits ``(N, 5)``.  In eval mode with ``flip_average`` the outputs are the mean
    over the image and its mirror (a face's attributes do not depend on its side)."""

    def __init__(self, input_size: int = 128, stem: int = 24,
                 stages: tuple[tuple[int, int, int, int], ...] | list = DEFAULT_STAGES, features: int = 512,
                 age_mean: float = 35.0, age_std: float = 20.0, dropout: float = 0.2,
                 flip_average: bool = True) -> None:
        super().__init__()
        self.input_size, self.stem_width = input_size, stem
        self.stages_cfg = tuple(tuple(int(v) for v in s) for s in stages)
        self.features, self.age_mean, self.age_std = features, age_mean, age_std
        self.dropout_p, self.flip_average = dropout, flip_average
        self.stem = nn.Sequential(nn.Conv2d(3, stem, 3, 2, 1, bias=False), nn.BatchNorm2d(stem),
                                  nn.ReLU6(inplace=True))
        blocks: list[nn.Module] = []
        cin = stem
        for expand, cout, repeats, stride in self.stages_cfg:
            for r in range(repeats):
                blocks.append(InvertedResidual(cin, cout, stride if r == 0 else 1, expand))
                cin = cout
        self.body = nn.Sequential(*blocks)
        self.neck = nn.Sequential(nn.Conv2d(cin, features, 1, bias=False), nn.BatchNorm2d(features),
                                  nn.ReLU6(inplace=True), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout))
        self.head_attributes = nn.Linear(features, len(CELEBA_ATTRIBUTES))
        self.head_age = nn.Linear(features, 1)
        self.head_gender = nn.Linear(features, 1)
        self.head_race = nn.Linear(features, len(UTKFACE_RACES))
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"input_size": self.input_size, "stem": self.stem_width, "stages": [list(s) for s in self.stages_cfg],
                "features": self.features, "age_mean": self.age_mean, "age_std": self.age_std,
                "dropout": self.dropout_p, "flip_average": self.flip_average}

    def _heads(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        h = self.neck(self.body(self.stem(resize_input(x, self.input_size))))
        return {"attributes": self.head_attributes(h), "age": self.age_mean + self.age_std * self.head_age(h)[:, 0],
                "gender": self.head_gender(h)[:, 0], "race": self.head_race(h)}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.training or not self.flip_average:
            return self._heads(x)
        n = x.shape[0]
        both = self._heads(torch.cat([x, x.flip(3)]))
        return {k: 0.5 * (v[:n] + v[n:]) for k, v in both.items()}

    def probabilities(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-attribute probabilities (CelebA names), ``age`` (years), ``gender`` (P(female)), ``race``."""
        out = self(x)
        probs = torch.sigmoid(out["attributes"])
        result = {name: probs[:, i] for i, name in enumerate(CELEBA_ATTRIBUTES)}
        result.update(age=out["age"], gender=torch.sigmoid(out["gender"]), race=out["race"].softmax(1))
        return result

    def judged(self) -> list[str]:
        """The outputs this model may judge (``meta.judged``; empty for an unmeasured model)."""
        return list(self.meta.get("judged", []))


def judged_outputs(metrics: Mapping[str, Any], bar: Mapping[str, float] = BAR) -> dict[str, Any]:
    """What a model with these held-out ``metrics`` (from :func:`faceedit.train.attributes.evaluate`) may
    judge: ``judged`` (output names of ``predict``: CelebA attributes at ≥ ``attr_acc``, ``gender`` at ≥
    ``gender_acc`` on adult faces (``gender_acc_adults``; all faces when that was not measured), ``age`` at
    MAE ≤ ``age_mae``, ``race`` (skin tone) at ≥ ``race_acc``) and
    ``not_judged`` (name → why)."""
    judged: list[str] = []
    why: dict[str, str] = {}
    for name, acc in metrics.get("attr_acc", {}).items():
        if acc >= bar["attr_acc"]:
            judged.append(name)
        else:
            why[name] = f"accuracy {acc:.3f} < {bar['attr_acc']}"
    # sex edits are made for, and judged on, adults: the gender bar applies to adult faces when measured
    # (children's gender is read far less reliably by any 128 px model, and no edit targets them)
    gender_key = "gender_acc_adults" if metrics.get("gender_acc_adults") is not None else "gender_acc"
    for name, key, bar_key, sign in (("gender", gender_key, "gender_acc", ">="), ("age", "age_mae", "age_mae", "<="),
                                     ("race", "race_acc", "race_acc", ">=")):
        value, limit = metrics.get(key), bar[bar_key]
        if value is not None and (value >= limit if sign == ">=" else value <= limit):
            judged.append(name)
        else:
            why[name] = f"{key} {value if value is None else round(float(value), 4)} misses the bar ({sign} {limit})"
    return {"judged": judged, "not_judged": why, "bar": dict(bar),
            "gender_population": "adults (CelebA, UTKFace >= 15 years)" if gender_key == "gender_acc_adults" else "all"}


def save_validator(model: AttributeValidator, path: str | os.PathLike, meta: dict[str, Any] | None = None,
                   half: bool = False) -> Path:
    """Save as ``path`` (``.safetensors``) + ``.json`` (kind ``validator``; ``meta``: held-out metrics, the
    judged list, how it was trained); ``half`` stores float16.  Returns the safetensors path."""
    return save_model_file(model, path, "validator", meta, half=half)


def validator_path(path: str | os.PathLike | None = None) -> Path:
    """The validator file: ``path``, else ``$FACEEDIT_VALIDATOR``, else the shipped
    ``faceedit/assets/validator.safetensors``."""
    given = path or os.environ.get("FACEEDIT_VALIDATOR")
    if given:
        p = Path(given)
        return p if p.suffix else p.with_suffix(".safetensors")
    return DEFAULT_VALIDATOR


def validator_available(path: str | os.PathLike | None = None) -> bool:
    """Whether :func:`load_validator` with this ``path`` would find a file."""
    return validator_path(path).is_file()


def load_validator(path: str | os.PathLike | None = None) -> AttributeValidator:
    """Load the validator in eval mode (see :func:`validator_path` for where ``None`` looks).  A missing
    or bad file raises :class:`CheckpointError` saying how to rebuild it."""
    p = validator_path(path)
    if not p.is_file():
        raise CheckpointError(f"no validator at {p}: rebuild it with `faceedit train validator --cache "
                              "faces128.npz --out runs/validator` (after `faceedit train prepare-data --size 128 "
                              "--cache faces128.npz`), then pass its path or set $FACEEDIT_VALIDATOR")
    return build_from_safetensors(p, "validator", {"AttributeValidator": AttributeValidator})

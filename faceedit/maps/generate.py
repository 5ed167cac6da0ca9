"""Faces from segmentation maps: :func:`from_map` (map → W+ → face), optionally in the style of another face.

The map encoder (:mod:`faceedit.models.map_encoder`) turns a checked map (:mod:`faceedit.maps.io`) into W+.
With a ``style`` (a :class:`~faceedit.types.Latent`, a W+ array, an aligned face image, or a photo / ``.npy``
path), the W+ rows below ``split`` come from the map and the rows from ``split`` on from the style face (coarse
rows decide the layout of the parts, fine rows colours and texture: :data:`DEFAULT_SPLIT` was chosen by
measurement, see ``benchmarks/maps.py --splits``).  ``steps`` > 0 then optimises the code: ``strength`` weighs the
tiny parser's agreement with the map against staying close to the mixed code (1: only the map counts).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInput, ModelMismatch
from ..types import Latent

DEFAULT_SPLIT = 6  # rows [0, 6) from the map (4-16 px layers), [6, 10) from the style (32-64 px) at 64 px


@dataclass
class FromMapSettings:
    """How :func:`from_map` mixes and refines the code."""

    split: int | None = None  # None: DEFAULT_SPLIT scaled to the generator's rows
    strength: float = 0.5  # map agreement vs closeness to the mixed code, in the optimisation
    steps: int = 0  # optimisation steps (0: encoder only)
    lr: float = 0.01  # 0.05 left visible artefacts (the tiny parser is easy to fool) on the built-in model


@dataclass
class MapModels:
    """The generator, map encoder and tiny parser used together (load once, reuse for many maps)."""

    generator: Any
    encoder: Any
    parser: Any = None
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, generator: Any = None, encoder: str | os.PathLike | None = None,
             parser: str | os.PathLike | None = None) -> "MapModels":
        """Load the models (defaults: the built-in ones); the map encoder must belong to the generator."""
        from ..models.checkpoints import load_generator
        from ..models.map_encoder import load_map_encoder

        G = generator if generator is not None and not isinstance(generator, (str, os.PathLike)) \
            else load_generator(generator).eval()
        E = load_map_encoder(encoder)
        made_for = E.meta.get("generator_model_id")
        if (E.n_latent, E.style_dim) != (G.n_latent, G.style_dim) or (made_for and made_for != G.model_id):
            raise ModelMismatch(f"the map encoder was trained for generator {made_for!r} "
                                f"({E.n_latent}x{E.style_dim} codes), not {G.model_id!r}; train one with "
                                f"`faceedit train map-encoder --generator ...`")
        return cls(G, E, parser)

    def tiny_parser(self) -> Any:
        """The tiny parser (loaded on first use: only the optimisation needs it)."""
        if self.parser is None or isinstance(self.parser, (str, os.PathLike)):
            from ..models.map_encoder import load_tiny_parser

            self.parser = load_tiny_parser(self.parser)
        return self.parser


def encode_map(labels: np.ndarray, models: MapModels) -> np.ndarray:
    """W+ ``(n_latent, style_dim)`` of one checked map (at the encoder's size)."""
    import torch

    with torch.inference_mode():
        return models.encoder(torch.from_numpy(labels[None]).long())[0].numpy()


def style_code(style: Any, generator: Any) -> np.ndarray:
    """The W+ of a style: a Latent (model checked), a W+ array, an aligned RGB face (encoded), or a path to a
    ``.npy`` latent or a photo (aligned, then encoded with the built-in encoder: ``project`` preset ``fast``)."""
    from ..edit.layouts import read_latent

    shape = (generator.n_latent, generator.style_dim)
    if isinstance(style, Latent):
        style.check_model(generator.model_id)
        return style.w
    if isinstance(style, (str, os.PathLike)):
        if str(style).lower().endswith(".npy"):
            rows = read_latent(style, shape)
            return rows[0] if rows.ndim == 3 else rows
        from ..faces.alignment import align

        style = align(style, size=generator.resolution)[0].image
    arr = np.asarray(style)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3:
        from ..images import resize
        from ..projection.project import project

        return project(generator, resize(arr, generator.resolution), preset="fast")[0].w
    if arr.shape != shape:
        raise ModelMismatch(f"a style latent must be {shape}, got {arr.shape}")
    return arr.astype(np.float32)


def mix_rows(w_map: np.ndarray, w_style: np.ndarray, split: int) -> np.ndarray:
    """Rows ``[0, split)`` from the map's code, the rest from the style's."""
    if not 0 <= split <= len(w_map):
        raise InvalidInput(f"split must be in 0..{len(w_map)}, got {split}")
    return np.concatenate([w_map[:split], w_style[split:]]).astype(np.float32)


def refine(w: np.ndarray, labels: np.ndarray, models: MapModels, s: FromMapSettings) -> np.ndarray:
    """``s.steps`` Adam steps on ``w``: strength · cross-entropy(tiny parser(G(w)), map) + (1 − strength) ·
    mean squared distance to the starting code."""
    import torch
    import torch.nn.functional as F

    if not 0.0 <= s.strength <= 1.0:
        raise InvalidInput(f"strength must be in [0, 1], got {s.strength}")
    G, P = models.generator, models.tiny_parser()
    start = torch.from_numpy(w)[None]
    target = torch.from_numpy(labels[None]).long()
    if target.shape[-1] != G.resolution:
        target = F.interpolate(target[:, None].float(), size=G.resolution, mode="nearest")[:, 0].long()
    x = start.clone().requires_grad_(True)
    opt = torch.optim.Adam([x], lr=s.lr)
    for _ in range(s.steps):
        ce = F.cross_entropy(P(G.synthesis(x, noise_mode="const")), target)
        loss = s.strength * ce + (1 - s.strength) * (x - start).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return x.detach()[0].numpy()


@dataclass
class MapResult:
    """A face made from a map: the render (RGB uint8), its latent and the map it was made from."""

    image: np.ndarray
    latent: Latent
    map: np.ndarray


def from_map(map: Any, style: Any = None, strength: float = 0.5, steps: int = 0, split: int | None = None,
             models: MapModels | None = None) -> MapResult:
    """A face that follows ``map`` (a map file, ``(H, W)`` ids or ``(H, W, 3)`` palette colours, any size);
    see the module docstring for ``style``, ``split``, ``steps`` and ``strength``."""
    import torch

    from ..synthesis import synthesize
    from .io import as_map

    models = models or MapModels.load()
    G = models.generator
    labels = as_map(map, models.encoder.size)
    s = FromMapSettings(split=split, strength=strength, steps=steps)
    w = encode_map(labels, models)
    if style is not None:
        k = s.split if s.split is not None else round(DEFAULT_SPLIT * G.n_latent / 10)
        w = mix_rows(w, style_code(style, G), k)
    if s.steps > 0:
        with torch.enable_grad():
            w = refine(w, labels, models, s)
    image = synthesize(G, w[None])[0]
    return MapResult(image, Latent(w, G.model_id), labels)

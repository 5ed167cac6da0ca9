"""Per-checkpoint evaluation of a generative family model (``eval.jsonl`` of a run; the background study).

Against two identity-disjoint sets of held-out crops of the *same* data variant (raw, blurred or grey
background; ``eval.sources``, CelebA by default):

- realism (:mod:`faceedit.measure.realism`, the one implementation): Fréchet distance of dlib 128-d descriptors of
  ``eval.n`` seeded samples to the first real set, its floor (second real set vs the first) and their ratio;
  sharpness ratio (Laplacian energy vs the real crops), pixel diversity, dlib's face detection rate;
- for models with an encoder (the VAE): reconstruction PSNR (dB, 0..255) of the first real set;
- latent interpretability (the question of "Behind the Face"): PCA of the latent — the VAE's posterior means
  of the real set, StyleGAN2's W, the DCGAN's first hidden layer (its z is isotropic) — and, for the first
  ``eval.components`` components, the Pearson correlation of each component's score with the 40 CelebA
  attribute probabilities that the attribute predictor reads from the model's own images for those latents
  (the samples; the VAE's reconstructions).  Reported: the strongest |r| per component and its attribute,
  their mean, and the predictor's accuracy on this variant's labelled held-out crops (it was trained on raw
  backgrounds, so a lower accuracy on a variant qualifies that variant's correlations).

Inception-based FID is not computed: its ImageNet Inception weights are not available offline.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DataError
from .data import FaceData

EVAL_DEFAULTS: dict[str, Any] = {"every": 1000, "n": 200, "seed": 0, "components": 10, "attributes": "",
                                 "sources": ["celeba"], "detection": True}


def pca_attribute_correlation(latents: np.ndarray, attributes: dict[str, np.ndarray],
                              components: int = 10) -> dict[str, Any]:
    """PCA of ``latents`` ``(N, D)`` and, per component, Pearson r of its scores with every attribute
    ``(N,)``: ``{"explained": (k,), "r": (k, A), "names": [...], "best": [(name, |r|) per component]}``."""
    x = np.asarray(latents, np.float64)
    x = x - x.mean(0)
    k = int(min(components, x.shape[0] - 1, x.shape[1]))
    if k < 1:
        raise DataError(f"PCA needs at least 2 latents, got {x.shape}")
    _, s, vt = np.linalg.svd(x, full_matrices=False)
    scores = x @ vt[:k].T
    explained = (s[:k] ** 2) / max(float((s ** 2).sum()), 1e-30)
    names = list(attributes)
    a = np.stack([np.asarray(attributes[n], np.float64) for n in names], 1)
    sc, ac = scores - scores.mean(0), a - a.mean(0)
    denom = np.outer(np.sqrt((sc ** 2).sum(0)), np.sqrt((ac ** 2).sum(0)))
    r = np.where(denom > 1e-12, sc.T @ ac / np.maximum(denom, 1e-12), 0.0)
    best = [(names[int(np.argmax(np.abs(row)))], float(np.abs(row).max())) for row in r]
    return {"explained": explained, "r": r, "names": names, "best": best}


def predictor_accuracy(predictor: Any, images: np.ndarray, labels: np.ndarray) -> float:
    """Mean accuracy over the 40 CelebA attributes (labels 0/1, NaN = unknown) of ``predictor`` at p > 0.5."""
    from ..models.attributes import CELEBA_ATTRIBUTES

    known = ~np.isnan(labels)
    if not known.any():
        return float("nan")
    probs = predictor.predict(images)
    pred = np.stack([probs[n] for n in CELEBA_ATTRIBUTES], 1) > 0.5
    return float((pred == (labels > 0.5))[known].mean())


class Evaluator:
    """Evaluates models against one data variant; the real sets, their descriptors and the attribute
    predictor are computed once and reused at every checkpoint."""

    def __init__(self, data: FaceData, ec: dict[str, Any], device: torch.device | None = None) -> None:
        from ..measure.realism import held_out_sets

        self.ec = {**EVAL_DEFAULTS, **ec}
        sources = tuple(self.ec["sources"])
        rows = data.val & np.isin(data.source, list(sources))
        n = min(int(self.ec["n"]), int(rows.sum()) // 2)
        if n < 2:
            raise DataError(f"evaluation needs held-out crops of {list(sources)}; the data has {int(rows.sum())}")
        self.n = n
        self.real, self.other = held_out_sets(data, n, int(self.ec["seed"]), sources=sources)
        self.labelled = data.images[rows], data.attrs[rows]
        self.device = device or torch.device("cpu")
        self._cache: dict[str, Any] = {}

    def _real_descriptors(self) -> tuple[np.ndarray, float]:
        from ..faces.identity import descriptors
        from ..measure.realism import frechet_distance

        if "real" not in self._cache:
            d_real = descriptors(self.real)
            self._cache["real"] = d_real, frechet_distance(descriptors(self.other), d_real)
        return self._cache["real"]

    def predictor(self) -> Any:
        """The attribute predictor (``eval.attributes``, default the built-in) and its accuracy here."""
        if "predictor" not in self._cache:
            from ..models.attributes import load_attribute_predictor

            p = load_attribute_predictor(self.ec["attributes"] or None)
            self._cache["predictor"] = p, predictor_accuracy(p, *self.labelled)
        return self._cache["predictor"]

    @torch.no_grad()
    def pca_inputs(self, model: nn.Module, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(latents for PCA, the model's images for them) — see the module docstring."""
        from ..images import to_image, to_tensor
        from ..models.families import seeded_latents

        dev = next(model.parameters()).device
        if hasattr(model, "encode"):
            mu = torch.cat([model.encode(to_tensor(self.real[i:i + 64]).to(dev))[0] for i in range(0, self.n, 64)])
            images = np.concatenate([to_image(model.decode(mu[i:i + 64]).cpu()) for i in range(0, self.n, 64)])
            return mu.cpu().numpy(), images
        z = seeded_latents(self.n, model.z_dim, int(self.ec["seed"]))
        feats = torch.cat([model.features(z[i:i + 64].to(dev)).float().cpu() for i in range(0, self.n, 64)])
        return feats.numpy(), samples

    def __call__(self, model: nn.Module) -> dict[str, Any]:
        """One row of measures for ``model`` (a :class:`~faceedit.models.families.GenerativeModel`)."""
        from ..faces.identity import descriptors
        from ..measure.metrics import psnr
        from ..models.attributes import CELEBA_ATTRIBUTES
        from ..models.families import sample_images
        from ..measure.realism import detection_rate, diversity, frechet_distance, sharpness_ratio

        was_training = model.training
        model.eval()
        try:
            samples = sample_images(model, self.n, int(self.ec["seed"]))
            d_real, floor = self._real_descriptors()
            fd = frechet_distance(descriptors(samples), d_real)
            row: dict[str, Any] = {"n": self.n, "frechet": fd, "frechet_floor": floor,
                                   "frechet_ratio": fd / max(floor, 1e-12),
                                   "sharpness_ratio": sharpness_ratio(samples, self.real),
                                   "diversity": diversity(samples)}
            if self.ec["detection"]:
                row["detection_rate"] = detection_rate(samples)
            latents, images = self.pca_inputs(model, samples)
            if hasattr(model, "encode"):
                row["psnr"] = float(np.mean([psnr(a, b) for a, b in zip(images, self.real)]))
            predictor, accuracy = self.predictor()
            probs = predictor.predict(images)
            corr = pca_attribute_correlation(latents, {n: probs[n] for n in CELEBA_ATTRIBUTES},
                                             int(self.ec["components"]))
        finally:
            model.train(was_training)
        best = corr["best"]
        row.update(pca_attr_r_mean=float(np.mean([r for _, r in best])), pca_attr_r_max=max(r for _, r in best),
                   pca_explained=float(np.sum(corr["explained"])), predictor_accuracy=accuracy,
                   pca_components=";".join(f"{name}:{r:.2f}" for name, r in best))
        return row

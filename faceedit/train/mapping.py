"""Fit a generator's mapping network to the codes of real faces (``faceedit train fit-mapping``).

The default generator is the decoder of an autoencoder: its synthesis network renders the codes its encoder
gives real faces, but nothing ties ``mapping(z)`` to where those codes lie.  This module trains the mapping
network alone (the synthesis network, hence every W+ file, translation and encoder, is untouched) so that
``mapping(z)``, z ~ N(0, I), is distributed like the encoded training faces:

1. a regression onto the affine Gaussian map ``mean + chol(cov) @ z`` (``z`` as the network sees it, after
   its pixel norm) — a quick start that gets the mean and the main axes;
2. sliced-Wasserstein matching (:func:`sliced_wasserstein`) of ``mapping(z)`` batches to batches of the codes
   themselves, which needs no pairing and corrects the spread.

The regression alone under-disperses (an MLP whose last layer is a leaky ReLU cannot be exactly affine): the
first shipped mapping, fitted by 600 regression steps, had half the codes' variance, so samples were
average-looking faces.  The matching gets the variance and covariance right; strongly non-Gaussian shapes
(a skewed coordinate) are followed only weakly by a small mapping network.  :func:`mapping_report` measures the fit.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F


def _normalized(z: torch.Tensor) -> torch.Tensor:
    """``z`` as StyleGAN2's mapping sees it after its pixel norm (unit root-mean-square per row)."""
    return z * torch.rsqrt(z.pow(2).mean(1, keepdim=True) + 1e-8)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: torch.Tensor) -> torch.Tensor:
    """Squared sliced-Wasserstein distance between two equal-sized point sets ``a``, ``b`` (N, D) along the
    unit columns of ``projections`` (D, P): sort each 1-d projection and compare them."""
    if a.shape != b.shape:
        raise ValueError(f"the two sets differ in shape: {tuple(a.shape)} vs {tuple(b.shape)}")
    pa, _ = (a @ projections).sort(0)
    pb, _ = (b @ projections).sort(0)
    return F.mse_loss(pa, pb)


def _optimizer(G, lr: float, steps: int) -> tuple[torch.optim.Optimizer, Any]:
    lr_mul = getattr(G.style[1], "lr_mul", 0.01) if len(G.style) > 1 else 0.01  # equalised-lr layers
    opt = torch.optim.Adam(G.style.parameters(), lr=lr / lr_mul)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps)))
    return opt, sched


def fit_mapping(G, codes: torch.Tensor | np.ndarray, steps: int, seed: int = 0, match_steps: int | None = None,
                batch: int = 512, progress: bool = True) -> dict[str, float]:
    """Train ``G.mapping`` (in place, nothing else) so that ``mapping(z)``, z ~ N(0, I), follows the
    distribution of ``codes`` (N, style_dim): ``steps`` regression steps onto the Gaussian map, then
    ``match_steps`` (default: as many) sliced-Wasserstein steps against the codes.  Seeded (``seed``);
    returns :func:`mapping_report` of the result."""
    from tqdm import tqdm

    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float32).cpu()
    if codes.ndim != 2 or codes.shape[1] != G.style_dim:
        raise ValueError(f"codes must be (N, {G.style_dim}), got {tuple(codes.shape)}")
    if len(codes) < 8:
        raise ValueError(f"{len(codes)} codes are too few to fit a distribution to (need at least 8)")
    match_steps = steps if match_steps is None else match_steps
    device = next(G.parameters()).device
    c64 = codes.double()
    mean = c64.mean(0)
    cov = torch.cov(c64.T) + 1e-5 * torch.eye(codes.shape[1], dtype=torch.float64)
    chol, mean = torch.linalg.cholesky(cov).float().to(device), mean.float().to(device)
    gen = torch.Generator().manual_seed(seed)
    codes_dev = codes.to(device)
    if steps:
        opt, sched = _optimizer(G, 3e-2, steps)
        for _ in tqdm(range(steps), desc="fit mapping (regression)", disable=not progress):
            z = torch.randn(batch, G.style_dim, generator=gen).to(device)
            loss = F.mse_loss(G.mapping(z), mean + _normalized(z) @ chol.T)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    if match_steps:
        opt, sched = _optimizer(G, 5e-4, match_steps)
        for _ in tqdm(range(match_steps), desc="fit mapping (sliced Wasserstein)", disable=not progress):
            z = torch.randn(batch, G.style_dim, generator=gen).to(device)
            w = G.mapping(z)
            target = codes_dev[torch.randint(0, len(codes), (batch,), generator=gen).to(device)]
            proj = F.normalize(torch.randn(G.style_dim, 2 * G.style_dim, generator=gen), dim=0).to(device)
            loss = sliced_wasserstein(w, target, proj) + F.mse_loss(w.mean(0), mean)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return mapping_report(G, codes, seed=seed + 1)


@torch.no_grad()
def mapping_report(G, codes: torch.Tensor | np.ndarray, n: int = 4000, seed: int = 1) -> dict[str, float]:
    """How close ``mapping(z)`` (``n`` seeded z) is to ``codes``: distance of the means (in units of the codes'
    root-mean-square spread), variance ratio (mean per-coordinate variance, 1 = equal spread) and the relative
    Frobenius error of the covariance."""
    from ..models.stylegan2 import seeded_z

    codes = torch.as_tensor(np.asarray(codes), dtype=torch.float64).cpu()
    device = next(G.parameters()).device
    w = G.mapping(seeded_z(n, G.style_dim, seed).to(device)).double().cpu()
    spread = codes.var(0).sum().sqrt()
    c_codes, c_w = torch.cov(codes.T), torch.cov(w.T)
    return {"mean_distance": float((w.mean(0) - codes.mean(0)).norm() / spread),
            "variance_ratio": float(w.var(0).mean() / codes.var(0).mean()),
            "covariance_error": float((c_w - c_codes).norm() / c_codes.norm()), "samples": n, "codes": len(codes)}


def training_codes(cache: str, latents: str | None = None, encoder: Any = None,
                   sources: tuple[str, ...] = ("celeba",)) -> np.ndarray:
    """The W codes (N, style_dim) of the training crops of ``sources`` in the data ``cache``: read from a
    ``latents`` file (one row per training crop, e.g. rebuild-suite's ``train_latents.npy``) or encoded now
    with the ``encoder`` model (made for the generator being fitted).  W+ rows are averaged to one w per face."""
    from ..edit.builder import training_subset
    from ..errors import DataError
    from .data import load_cache

    train = training_subset(load_cache(cache))
    if latents:
        try:
            lat = np.load(latents, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as e:
            raise DataError(f"{latents}: not a readable .npy latents file ({e})") from e
        if lat.ndim not in (2, 3) or len(lat) != len(train.images):
            raise DataError(f"{latents}: shape {lat.shape} does not hold one code per training crop of {cache} "
                            f"({len(train.images)} crops)")
    elif encoder is not None:
        from ..edit.directions import encode_images

        lat = encode_images(encoder, train.images)
    else:
        raise DataError("give the encoded training faces (a latents file) or an encoder to encode them")
    keep = np.isin(train.source, list(sources))
    if not keep.any():
        raise DataError(f"{cache}: no training crops from {list(sources)}")
    lat = np.asarray(lat[keep], dtype=np.float32)
    return lat.mean(1) if lat.ndim == 3 else lat


def refit_mapping(generator: str | None, out: str, codes: np.ndarray, steps: int = 3000,
                  regression_steps: int = 1000, seed: int = 0, model_id: str | None = None,
                  progress: bool = True) -> tuple[Path, dict[str, Any]]:
    """Load ``generator`` (None: the built-in one), fit its mapping network to ``codes`` (:func:`fit_mapping`),
    recompute ``w_avg`` and write it to ``out`` (``.safetensors`` + ``.json``) with the synthesis network
    unchanged, its meta kept and a ``mapping_fit`` record (before / after).  Returns the file written and that
    record."""
    from ..models.checkpoints import GENERATOR, _locate, build_generator, read_checkpoint, save_model

    ck = read_checkpoint(_locate(generator, "generator"), GENERATOR)
    G = build_generator(ck).eval()
    before = mapping_report(G, codes)
    after = fit_mapping(G, codes, regression_steps, seed, match_steps=steps, progress=progress)
    with torch.no_grad():
        G.w_avg = G.mean_latent(4096)
    record = {"before": before, "after": after, "steps": steps, "regression_steps": regression_steps,
              "seed": seed, "method": "regression onto the codes' Gaussian, then sliced-Wasserstein matching"}
    meta = {**ck.meta, "mapping_fit": record}
    meta.pop("mapping_mse", None)  # the first fit's number, no longer this mapping's
    return save_model(G, out, model_id=model_id or ck.model_id, meta=meta), record

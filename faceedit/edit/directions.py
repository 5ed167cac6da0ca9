"""Direction finders in W / W+ (scikit-learn style: ``fit(...)`` then ``.direction_``), conditioning, labels.

Unsupervised
- :class:`PCAFinder` (GANSpace): principal components of sampled W codes, explained variance, and per
  component the range of W+ layers it acts on (:meth:`PCAFinder.estimate_layer_ranges`); stats save/load.
- :class:`SeFaFinder` (closed-form factorisation): eigenvectors of ``AᵀA`` where ``A`` stacks the
  (row-normalised) style-modulation weights of the chosen synthesis layers.

Supervised (``fit(X, y)``; ``X`` is ``(N, style_dim)`` W codes or ``(N, n_latent, style_dim)`` W+ codes;
W+ is fitted as one flattened vector, or row by row with ``per_row=True``; NaN labels are ignored)
- :class:`SVMFinder` (InterFaceGAN: linear SVM on the top/bottom quantiles of a score, or on two classes),
  :class:`LogisticFinder`, :class:`RidgeFinder` (continuous labels such as age; ``slope_`` gives label
  units per unit of latent distance), :class:`MeanDifferenceFinder` (difference of class means).

Conditioning and reports: :func:`orthogonalize` removes the components along any number of other
directions; :func:`cosine_matrix` compares directions; :func:`group_levels` gives the mean coordinate of
label groups along a direction (to calibrate "set to level" targets).

Label sources: :func:`encode_images` (real labelled photos through an encoder), :func:`sample_generated`
(generated samples scored by the attribute predictor), :func:`read_label_csv` (a user CSV
``image,label``).
"""
from __future__ import annotations

import csv
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import CheckpointError, DataError, InvalidInput
from ..io import atomic_path
from ..synthesis import synthesize

# ----------------------------------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------------------------------


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to Euclidean norm 1 over all its entries (float32)."""
    v = np.asarray(v, dtype=np.float64)
    n = np.linalg.norm(v)
    if not np.isfinite(n) or n == 0:
        raise InvalidInput("a direction of norm 0 (or not finite) has no orientation")
    return (v / n).astype(np.float32)


def _flat(X: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    X = np.asarray(X, dtype=np.float32)
    if X.ndim not in (2, 3):
        raise InvalidInput(f"latents must be (N, style_dim) or (N, n_latent, style_dim); got {X.shape}")
    return X.reshape(len(X), -1), X.shape[1:]


def coordinates(X: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The coordinate of each latent along the unit ``direction`` (same trailing shape as the latents)."""
    flat, shape = _flat(X)
    d = np.asarray(direction, dtype=np.float32)
    if d.shape != shape:
        if d.ndim == 1 and len(shape) == 2 and d.shape[0] == shape[1]:
            d = np.repeat(d[None], shape[0], axis=0)  # a W direction applied to every W+ row
        else:
            raise InvalidInput(f"direction shape {d.shape} does not fit latents of shape {shape}")
    return flat @ unit(d).ravel()


def _labels(y: Sequence[float] | np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, dtype=np.float64).ravel()
    if y.shape[0] != n:
        raise InvalidInput(f"{n} latents but {y.shape[0]} labels")
    return y


def is_binary(y: np.ndarray) -> bool:
    """True when the (non-NaN) labels take at most the two values 0 and 1."""
    vals = np.unique(y[np.isfinite(y)])
    return set(vals.tolist()) <= {0.0, 1.0}


def binarize(y: np.ndarray, quantile: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """``(keep mask, 0/1 labels)``: binary labels as they are, continuous ones by their bottom/top quantile."""
    y = np.asarray(y, dtype=np.float64)
    finite = np.isfinite(y)
    if is_binary(y):
        return finite, np.where(finite, y, 0).astype(int)
    if not 0 < quantile <= 0.5:
        raise InvalidInput(f"quantile must be in (0, 0.5]; got {quantile}")
    lo, hi = np.quantile(y[finite], [quantile, 1 - quantile])
    keep = finite & ((y <= lo) | (y >= hi))
    return keep, (np.where(finite, y, lo) >= hi).astype(int)


def _check_two_classes(labels: np.ndarray, name: str) -> None:
    counts = np.bincount(labels, minlength=2)
    if counts.min() < 2:
        raise DataError(f"{name}: need at least 2 samples of each class; got {counts.tolist()}")


# ----------------------------------------------------------------------------------------------------
# supervised finders
# ----------------------------------------------------------------------------------------------------


class _LinearFinder:
    """Shared ``fit`` plumbing: flatten W+, drop NaN labels, fit per row or jointly, store a unit direction.

    Attributes after ``fit``: ``direction_`` (unit, shape of one latent), ``score_`` (training accuracy or
    R²), ``n_samples_``.
    """

    per_row: bool = False

    def fit(self, X: np.ndarray, y: Sequence[float] | np.ndarray) -> "_LinearFinder":
        X = np.asarray(X, dtype=np.float32)
        flat, shape = _flat(X)
        y = _labels(y, len(X))
        if len(shape) == 2 and shape[0] > 1 and np.array_equal(X, np.broadcast_to(X[:, :1], X.shape)):
            # W codes repeated on every W+ row (e.g. a W encoder): fit in W, spread over the rows
            d, self.score_ = self._fit_flat(X[:, 0], y)
            self.direction_ = unit(np.repeat(unit(d)[None], shape[0], axis=0))
            self.n_samples_ = int(np.isfinite(y).sum())
            return self
        if self.per_row and len(shape) == 2:
            rows, scores = [], []
            for r in range(shape[0]):
                d, s = self._fit_flat(X[:, r, :], y)
                rows.append(unit(d))
                scores.append(s)
            self.direction_ = unit(np.stack(rows))
            self.score_ = float(np.mean(scores))
        else:
            d, self.score_ = self._fit_flat(flat, y)
            self.direction_ = unit(d).reshape(shape)
        self.n_samples_ = int(np.isfinite(y).sum())
        return self

    def _fit_flat(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, float]:
        raise NotImplementedError

    def transform(self, X: np.ndarray) -> np.ndarray:
        """Coordinates of latents along ``direction_``."""
        return coordinates(X, self.direction_)


def _fit_classifier(clf: Any, X: np.ndarray, y: np.ndarray, quantile: float, name: str) -> tuple[np.ndarray, float]:
    """Fit a linear sklearn classifier on standardised features; the weight vector in latent units + accuracy."""
    keep, labels = binarize(y, quantile)
    _check_two_classes(labels[keep], name)
    mean, std = X[keep].mean(0), X[keep].std(0) + 1e-6
    Z = (X[keep] - mean) / std
    clf.fit(Z, labels[keep])
    return clf.coef_[0] / std, float(clf.score(Z, labels[keep]))


class SVMFinder(_LinearFinder):
    """InterFaceGAN: a linear SVM separating the bottom and top ``quantile`` of the labels (or two classes)."""

    def __init__(self, quantile: float = 0.25, C: float = 0.1, per_row: bool = False, max_iter: int = 5000):
        self.quantile, self.C, self.per_row, self.max_iter = quantile, C, per_row, max_iter

    def _fit_flat(self, X, y):
        from sklearn.svm import LinearSVC

        clf = LinearSVC(C=self.C, class_weight="balanced", max_iter=self.max_iter, dual=False)
        return _fit_classifier(clf, X, y, self.quantile, "SVM")


class LogisticFinder(_LinearFinder):
    """Logistic regression on two classes (continuous labels are split at their quantiles)."""

    def __init__(self, C: float = 0.05, quantile: float = 0.25, per_row: bool = False, max_iter: int = 500):
        self.C, self.quantile, self.per_row, self.max_iter = C, quantile, per_row, max_iter

    def _fit_flat(self, X, y):
        from sklearn.linear_model import LogisticRegression

        clf = LogisticRegression(C=self.C, class_weight="balanced", max_iter=self.max_iter)
        return _fit_classifier(clf, X, y, self.quantile, "logistic regression")


class RidgeFinder(_LinearFinder):
    """Ridge regression of a continuous label (e.g. age in years).

    ``slope_``: label units per unit of latent distance along ``direction_`` (joint fit only).
    """

    def __init__(self, alpha: float = 10.0, per_row: bool = False):
        self.alpha, self.per_row = alpha, per_row

    def _fit_flat(self, X, y):
        from sklearn.linear_model import Ridge

        keep = np.isfinite(y)
        if keep.sum() < 3:
            raise DataError(f"ridge regression: need at least 3 labelled samples; got {int(keep.sum())}")
        mean, std = X[keep].mean(0), X[keep].std(0) + 1e-6
        reg = Ridge(alpha=self.alpha).fit((X[keep] - mean) / std, y[keep])
        coef = reg.coef_ / std
        self.slope_ = float(np.linalg.norm(coef))
        return coef, float(reg.score((X[keep] - mean) / std, y[keep]))


class MeanDifferenceFinder(_LinearFinder):
    """The difference of the class means (positive minus negative; continuous labels: top minus bottom
    quantile).  ``distance_``: the length of that difference."""

    def __init__(self, quantile: float = 0.25, per_row: bool = False):
        self.quantile, self.per_row = quantile, per_row

    def _fit_flat(self, X, y):
        keep, labels = binarize(y, self.quantile)
        _check_two_classes(labels[keep], "mean difference")
        pos, neg = X[keep & (labels == 1)], X[keep & (labels == 0)]
        d = pos.mean(0) - neg.mean(0)
        self.distance_ = float(np.linalg.norm(d))
        proj = X[keep] @ unit(d)
        threshold = 0.5 * (proj[labels[keep] == 1].mean() + proj[labels[keep] == 0].mean())
        return d, float(np.mean((proj > threshold) == (labels[keep] == 1)))


FINDERS: dict[str, type] = {
    "svm": SVMFinder, "logistic": LogisticFinder, "ridge": RidgeFinder, "mean": MeanDifferenceFinder,
}


def make_finder(method: str, **kwargs: Any) -> _LinearFinder:
    """A supervised finder by name (``svm``, ``logistic``, ``ridge``, ``mean``)."""
    if method not in FINDERS:
        raise InvalidInput(f"unknown finder {method!r} (use one of {', '.join(FINDERS)})")
    return FINDERS[method](**kwargs)


# ----------------------------------------------------------------------------------------------------
# conditioning, comparison, levels
# ----------------------------------------------------------------------------------------------------


def orthogonalize(direction: np.ndarray, others: Sequence[np.ndarray]) -> np.ndarray:
    """Remove from ``direction`` its components along every direction in ``others`` (any number; they
    need not be orthogonal to each other); returns a unit vector of the same shape.

    Raises :class:`InvalidInput` when ``direction`` lies (almost) in the span of ``others``.
    """
    d = np.asarray(direction, dtype=np.float64)
    if not len(others):
        return unit(d)
    basis = np.stack([np.asarray(o, dtype=np.float64).reshape(-1) for o in others], axis=1)
    if basis.shape[0] != d.size:
        raise InvalidInput(f"conditioning directions have {basis.shape[0]} entries; the direction has {d.size}")
    q, r = np.linalg.qr(basis)
    q = q[:, np.abs(np.diag(r)) > 1e-8 * max(1.0, np.abs(r).max())]  # drop dependent columns
    flat = d.reshape(-1)
    rest = flat - q @ (q.T @ flat)
    if np.linalg.norm(rest) < 1e-6 * np.linalg.norm(flat):
        raise InvalidInput("the direction lies in the span of the conditioning directions")
    return unit(rest.reshape(d.shape))


def cosine_matrix(directions: Mapping[str, np.ndarray]) -> tuple[list[str], np.ndarray]:
    """Names and the matrix of cosines between the given directions (all of one shape)."""
    names = list(directions)
    if not names:
        return [], np.zeros((0, 0), np.float32)
    M = np.stack([unit(directions[n]).ravel() for n in names])
    return names, (M @ M.T).astype(np.float32)


def format_cosine_matrix(names: Sequence[str], matrix: np.ndarray) -> str:
    """A plain-text table of a cosine matrix."""
    width = max(6, *(len(n) for n in names)) if names else 6
    lines = [" " * width + " " + " ".join(f"{n[:6]:>6}" for n in names)]
    for n, row in zip(names, matrix):
        lines.append(f"{n:>{width}} " + " ".join(f"{v:6.2f}" for v in row))
    return "\n".join(lines)


def group_levels(X: np.ndarray, direction: np.ndarray, groups: np.ndarray) -> dict[int, dict[str, float]]:
    """For each group value (NaN / negative = unlabelled), the mean, std and count of the coordinates."""
    c = coordinates(X, direction)
    groups = np.asarray(groups, dtype=np.float64)
    out = {}
    for g in np.unique(groups[np.isfinite(groups) & (groups >= 0)]):
        sel = groups == g
        out[int(g)] = {"mean": float(c[sel].mean()), "std": float(c[sel].std()), "count": int(sel.sum())}
    return out


# ----------------------------------------------------------------------------------------------------
# unsupervised finders
# ----------------------------------------------------------------------------------------------------


def sample_w(generator: Any, n: int, seed: int = 0, batch_size: int = 256) -> np.ndarray:
    """``n`` W codes ``(n, style_dim)`` from ``generator.mapping`` on seeded Gaussian z."""
    import torch

    from ..devices import module_device
    from ..models.stylegan2 import seeded_z

    zs = seeded_z(n, generator.style_dim, seed).to(module_device(generator))
    out = []
    with torch.no_grad():
        for i in range(0, n, batch_size):
            out.append(generator.mapping(zs[i:i + batch_size]).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


class PCAFinder:
    """GANSpace: PCA of sampled W codes.

    After ``fit(W)``: ``components_`` (k, style_dim) unit rows, ``explained_variance_``,
    ``explained_variance_ratio_``, ``mean_``, ``direction_`` (= first component).  After
    :meth:`estimate_layer_ranges`: ``layer_ranges_`` (k pairs ``(first, last)`` of W+ rows).
    """

    def __init__(self, n_components: int = 10):
        self.n_components = n_components

    def fit(self, W: np.ndarray) -> "PCAFinder":
        W = np.asarray(W, dtype=np.float64)
        if W.ndim == 3:
            W = W.reshape(-1, W.shape[-1])
        if W.ndim != 2 or len(W) < 2:
            raise InvalidInput(f"PCA needs (N >= 2, style_dim) codes; got {W.shape}")
        k = min(self.n_components, W.shape[1], len(W))
        self.mean_ = W.mean(0).astype(np.float32)
        _, s, vt = np.linalg.svd(W - self.mean_, full_matrices=False)
        var = s ** 2 / (len(W) - 1)
        signs = np.sign(vt[:k, np.argmax(np.abs(vt[:k]), axis=1)].diagonal())  # deterministic sign
        self.components_ = (vt[:k] * signs[:, None]).astype(np.float32)
        self.explained_variance_ = var[:k].astype(np.float32)
        self.explained_variance_ratio_ = (var[:k] / var.sum()).astype(np.float32)
        self.direction_ = self.components_[0]
        self.layer_ranges_: list[tuple[int, int]] | None = None
        return self

    def fit_generator(self, generator: Any, n_samples: int = 10000, seed: int = 0) -> "PCAFinder":
        """Sample W from ``generator`` and fit."""
        return self.fit(sample_w(generator, n_samples, seed))

    def estimate_layer_ranges(self, generator: Any, n_samples: int = 4, sigmas: float = 2.0,
                              threshold: float = 0.5, seed: int = 0) -> list[tuple[int, int]]:
        """For each component, the contiguous W+ rows whose isolated shift changes the image by at least
        ``threshold`` times the largest per-row change (shift = ``sigmas`` standard deviations)."""
        import torch

        from ..devices import module_device

        w = torch.from_numpy(sample_w(generator, n_samples, seed)).to(module_device(generator))
        n_latent = generator.n_latent
        base = w[:, None, :].repeat(1, n_latent, 1)
        ranges = []
        with torch.no_grad():
            ref = generator.synthesis(base, noise_mode="const")
            for comp, var in zip(self.components_, self.explained_variance_):
                step = torch.from_numpy(comp).to(w.device) * float(sigmas * np.sqrt(var))
                effect = []
                for layer in range(n_latent):
                    moved = base.clone()
                    moved[:, layer] += step
                    effect.append(float((generator.synthesis(moved, noise_mode="const") - ref).abs().mean()))
                effect = np.array(effect)
                on = np.flatnonzero(effect >= threshold * effect.max())
                ranges.append((int(on.min()), int(on.max())))
        self.layer_ranges_ = ranges
        return ranges

    def save(self, path: str | os.PathLike) -> None:
        """Write the stats as ``.npz`` (atomically)."""
        data = {k: getattr(self, k) for k in ("components_", "explained_variance_", "explained_variance_ratio_",
                                               "mean_")}
        if self.layer_ranges_ is not None:
            data["layer_ranges_"] = np.array(self.layer_ranges_, dtype=np.int64)
        with atomic_path(Path(path).with_suffix(".npz")) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **data)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "PCAFinder":
        try:
            with np.load(Path(path), allow_pickle=False) as z:
                self = cls(len(z["components_"]))
                for k in ("components_", "explained_variance_", "explained_variance_ratio_", "mean_"):
                    setattr(self, k, z[k])
                self.layer_ranges_ = [tuple(r) for r in z["layer_ranges_"].tolist()] if "layer_ranges_" in z else None
        except (OSError, KeyError, ValueError) as e:
            raise DataError(f"{path}: not a PCA stats file ({e})") from None
        self.direction_ = self.components_[0]
        return self


_MODULATION = re.compile(r"^(?:.*\.)?(conv1|to_rgb1|convs\.(\d+)|to_rgbs\.(\d+))\.conv\.modulation\.weight$")


def modulation_weights(state_dict: Mapping[str, Any], include_rgb: bool = False) -> dict[int, list[np.ndarray]]:
    """The style-modulation weights ``(channels, style_dim)`` of a StyleGAN2 synthesis network, by the W+ row
    that feeds them (rosinality / anycost layout: conv1→0, to_rgb1→1, convs.i→i+1, to_rgbs.k→2k+3);
    the to_rgb layers only with ``include_rgb``."""
    out: dict[int, list[np.ndarray]] = {}
    for key, value in state_dict.items():
        m = _MODULATION.match(key)
        if not m:
            continue
        name = m.group(1)
        if name.startswith("to_rgb") and not include_rgb:
            continue
        if name == "conv1":
            row = 0
        elif name == "to_rgb1":
            row = 1
        elif m.group(2) is not None:
            row = int(m.group(2)) + 1
        else:
            row = 2 * int(m.group(3)) + 3
        arr = value.detach().cpu().numpy() if hasattr(value, "detach") else np.asarray(value)
        out.setdefault(row, []).append(arr.astype(np.float64))
    return out


class SeFaFinder:
    """Closed-form factorisation (SeFa) of the style-modulation weights of the chosen W+ rows.

    ``fit(generator_or_state_dict)`` → ``components_`` (k, style_dim) unit rows (eigenvectors of ``AᵀA``,
    largest eigenvalue first; ``A`` stacks the unit-normalised weight rows), ``eigenvalues_``,
    ``direction_``, ``layers_`` (W+ rows used).
    """

    def __init__(self, n_components: int = 10, layers: Any = None, include_rgb: bool = False):
        self.n_components, self.layers, self.include_rgb = n_components, layers, include_rgb

    def fit(self, generator: Any) -> "SeFaFinder":
        from .translations import layer_mask

        state = generator.state_dict() if hasattr(generator, "state_dict") else generator
        weights = modulation_weights(state, self.include_rgb)
        if not weights:
            raise CheckpointError("no style-modulation weights (*.conv.modulation.weight) in this generator")
        rows = np.flatnonzero(layer_mask(self.layers, max(weights) + 1)).tolist()
        mats = [w for row in rows for w in weights.get(row, [])]
        if not mats:
            raise InvalidInput(f"SeFa: no modulation weights on layers {self.layers!r}")
        A = np.concatenate(mats, axis=0)
        A = A / (np.linalg.norm(A, axis=1, keepdims=True) + 1e-12)
        vals, vecs = np.linalg.eigh(A.T @ A)
        order = np.argsort(vals)[::-1][: self.n_components]
        comps = vecs[:, order].T
        comps *= np.sign(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)])[:, None]
        self.components_ = comps.astype(np.float32)
        self.eigenvalues_ = vals[order].astype(np.float32)
        self.direction_ = self.components_[0]
        self.layers_ = [r for r in rows if r in weights]
        return self


# ----------------------------------------------------------------------------------------------------
# label sources
# ----------------------------------------------------------------------------------------------------


def encode_images(encoder: Any, images: np.ndarray | Sequence[np.ndarray], batch_size: int = 64,
                  progress: bool = True) -> np.ndarray:
    """W+ codes ``(N, n_latent, style_dim)`` float32 of aligned RGB uint8 faces through ``encoder``."""
    import torch
    from tqdm import tqdm

    from ..images import to_tensor

    n = len(images)
    if n == 0:
        raise InvalidInput("no images to encode")
    size = getattr(encoder, "input_size", None)
    out = []
    with torch.no_grad():
        for i in tqdm(range(0, n, batch_size), desc="encode", disable=not progress, unit="batch"):
            x = to_tensor(images[i:i + batch_size], size=size)
            out.append(encoder(x).float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def sample_generated(generator: Any, predictor: Any, n: int, seed: int = 0, truncation: float = 1.0,
                     batch_size: int = 32, progress: bool = True) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` generated faces: their W codes ``(n, style_dim)`` and the attribute predictor's scores."""
    from tqdm import tqdm

    w = sample_w(generator, n, seed)
    if truncation != 1.0:
        import torch

        with torch.no_grad():
            mean = generator.mean_latent(4096).float().cpu().numpy()[0]
        w = (mean + truncation * (w - mean)).astype(np.float32)
    scores: dict[str, list[np.ndarray]] = {}
    for i in tqdm(range(0, n, batch_size), desc="score samples", disable=not progress, unit="batch"):
        wp = np.repeat(w[i:i + batch_size, None], generator.n_latent, axis=1)
        pred = predictor.predict(synthesize(generator, wp, batch_size))
        for k, v in pred.items():
            scores.setdefault(k, []).append(np.asarray(v))
    return w, {k: np.concatenate(v) for k, v in scores.items()}


def read_label_csv(path: str | os.PathLike) -> tuple[list[Path], np.ndarray]:
    """A user CSV with columns ``image,label`` (header optional): image paths (relative to the CSV's
    folder) and float labels (empty = NaN)."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: label CSV not found")
    with open(path, newline="") as f:
        rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    if rows and rows[0][0].strip().lower() in ("image", "file", "filename", "path"):
        rows = rows[1:]
    images, labels = [], []
    for i, row in enumerate(rows):
        if len(row) < 2:
            raise DataError(f"{path}:{i + 1}: expected 'image,label'; got {row}")
        p = Path(row[0].strip())
        images.append(p if p.is_absolute() else path.parent / p)
        text = row[1].strip()
        try:
            labels.append(float(text) if text else np.nan)
        except ValueError:
            raise DataError(f"{path}:{i + 1}: label {text!r} is not a number") from None
    if not images:
        raise DataError(f"{path}: no rows")
    return images, np.array(labels, dtype=np.float64)


def load_labelled_images(path: str | os.PathLike, size: int) -> tuple[np.ndarray, np.ndarray]:
    """The aligned face images (resized to ``size``) and labels of a user CSV ``image,label``."""
    from ..images import load_image, resize

    paths, labels = read_label_csv(path)
    return np.stack([resize(load_image(p), size) for p in paths]), labels


def fit_direction(method: str, X: np.ndarray, y: np.ndarray, conditioned_on: Sequence[np.ndarray] = (),
                  **kwargs: Any) -> tuple[np.ndarray, _LinearFinder]:
    """Fit a supervised finder and condition its direction on ``conditioned_on``; ``(direction, finder)``."""
    finder = make_finder(method, **kwargs).fit(X, y)
    return orthogonalize(finder.direction_, conditioned_on), finder


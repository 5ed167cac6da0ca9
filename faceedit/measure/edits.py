"""How well an edit does what it says: target attribute change vs every other attribute vs identity drift.

For W+ latents, a W+ delta and a list of strengths, the generator renders every edited face, the attribute
predictor scores it, and dlib's face-recognition descriptor measures the identity distance to the
unedited render.  Results are a JSON-ready dict; :func:`plot_evaluation` draws it when matplotlib is
installed (it is optional: without it only the JSON is written).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import InvalidInput
from ..io import atomic_path, save_json

Scores = Mapping[str, np.ndarray]


def flatten_predictions(pred: Scores) -> dict[str, np.ndarray]:
    """Predictor output with 2-D entries (e.g. ``race`` (N, 5)) split into one column each (``race_0``...)."""
    out = {}
    for k, v in pred.items():
        v = np.asarray(v, dtype=np.float64)
        if v.ndim == 1:
            out[k] = v
        else:
            for i in range(v.shape[1]):
                out[f"{k}_{i}"] = v[:, i]
    return out


def evaluate_edit(
    generator: Any,
    predictor: Any,
    latents: np.ndarray,
    delta: np.ndarray,
    strengths: Sequence[float] = (0.5, 1.0, 1.5, 2.0),
    target: str | Callable[[Scores], np.ndarray] = "Smiling",
    sign: float = 1.0,
    identity: bool = True,
    batch_size: int = 32,
    progress: bool = True,
) -> dict[str, Any]:
    """Change of the target score, of every other predicted attribute, and identity distance per strength.

    ``target`` is a predictor output name or a function of the (flattened) predictions; ``sign`` the
    intended direction (+1 increase).  Returned lists are per strength: ``target_change`` (mean),
    ``success`` (fraction of faces moved in the intended direction), ``others`` (mean absolute change per
    other attribute), ``identity`` (mean dlib distance to the unedited render; None without ``identity``).
    """
    from tqdm import tqdm

    from ..synthesis import synthesize

    latents = np.asarray(latents, dtype=np.float32)
    delta = np.asarray(delta, dtype=np.float32)
    if latents.ndim != 3 or latents.shape[1:] != delta.shape:
        raise InvalidInput(f"latents {latents.shape} and delta {delta.shape} do not fit (N, n_latent, style_dim)")
    target_fn = target if callable(target) else (lambda p, t=target: p[t])
    target_name = target if isinstance(target, str) else getattr(target, "__name__", "target")

    base_images = synthesize(generator, latents, batch_size)
    base = flatten_predictions(predictor.predict(base_images))
    base_target = np.asarray(target_fn(base), dtype=np.float64)
    result: dict[str, Any] = {"target": target_name, "sign": sign, "n_faces": len(latents),
                              "strengths": [float(s) for s in strengths], "target_change": [], "success": [],
                              "others": {k: [] for k in base if k != target_name}, "identity": []}
    for s in tqdm(strengths, desc=f"evaluate {target_name}", disable=not progress):
        images = synthesize(generator, latents + np.float32(s) * delta, batch_size)
        pred = flatten_predictions(predictor.predict(images))
        change = np.asarray(target_fn(pred), dtype=np.float64) - base_target
        result["target_change"].append(float(change.mean()))
        result["success"].append(float(np.mean(sign * change > 0)))
        for k in result["others"]:
            result["others"][k].append(float(np.abs(pred[k] - base[k]).mean()))
        if identity:
            from ..faces.identity import identity_distance

            result["identity"].append(float(identity_distance(base_images, images).mean()))
        else:
            result["identity"].append(None)
    return result


def most_entangled(result: Mapping[str, Any], k: int = 3, exclude: Sequence[str] = ()) -> list[tuple[str, float]]:
    """The ``k`` other attributes with the largest mean change at the largest strength."""
    last = [(name, vals[-1]) for name, vals in result["others"].items() if name not in exclude]
    return sorted(last, key=lambda kv: -kv[1])[:k]


def plot_evaluation(result: Mapping[str, Any], path: str | os.PathLike, top: int = 5) -> bool:
    """Draw target change, the ``top`` most changed other attributes and identity drift vs strength as a
    PNG.  Returns False (and draws nothing) when matplotlib is not installed."""
    try:  # the object API: no pyplot, no global backend switch
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    s = result["strengths"]
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2)
    axes[0].plot(s, result["target_change"], "o-", lw=2, label=f"{result['target']} (target)")
    for name, _ in most_entangled(result, top):
        axes[0].plot(s, result["others"][name], ".--", label=name)
    axes[0].set_xlabel("strength")
    axes[0].set_ylabel("mean change")
    axes[0].legend(fontsize=7)
    if any(v is not None for v in result["identity"]):
        axes[1].plot(s, result["identity"], "o-")
        axes[1].axhline(0.6, color="gray", ls=":", label="same-person threshold")
        axes[1].legend(fontsize=7)
    axes[1].set_xlabel("strength")
    axes[1].set_ylabel("identity distance (dlib)")
    fig.tight_layout()
    with atomic_path(Path(path)) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return True


def save_evaluation(result: Mapping[str, Any], out_dir: str | os.PathLike, name: str) -> list[Path]:
    """Write ``<name>.json`` and, when matplotlib is available, ``<name>.png``; return the files written."""
    out_dir = Path(out_dir)
    save_json(out_dir / f"{name}.json", result)
    written = [out_dir / f"{name}.json"]
    if plot_evaluation(result, out_dir / f"{name}.png"):
        written.append(out_dir / f"{name}.png")
    return written

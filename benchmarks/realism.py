"""Realism measures of a generator (issue 19, target 1), used by ``benchmarks/models.py``.

At the model's resolution, ``n`` seeded generator samples against ``n`` held-out real crops aligned the same
way (the ``val`` identities of ``faceedit.train.data``, CelebA only, as the generator was trained on CelebA):

- Fréchet distance of dlib 128-d descriptors (:mod:`faceedit.faces.identity`, the one implementation: both sets
  resized to 256 px alike, landmarks on the known box of an aligned face), samples vs real, and the floor:
  the same real set vs another, identity-disjoint real set of the same size;
- sharpness: mean Laplacian energy of the samples / of the real crops;
- diversity (the caller's measure) of both.

The measuring functions live in :mod:`faceedit.measure.realism` (the one implementation, also used by the per-checkpoint
evaluation of ``faceedit train``); they are re-exported here so that the benchmark's names keep working.
Plain functions, no work at import time; ``tests/test_realism.py`` loads this file by its path.
"""
from __future__ import annotations

from typing import Any

from faceedit.measure.realism import (
    _psd_sqrt,
    _split_by_identity,
    detection_rate,
    diversity,
    frechet_distance,
    frechet_from_stats,
    gaussian_stats,
    generator_samples,
    held_out_sets,
    laplacian_energy,
    real_sets,
    realism,
    sharpness_ratio,
)

#: issue 19's targets (the Fréchet ratio at N >= 400 per set)
TARGETS = {"frechet_ratio": 2.0, "sharpness_ratio": 0.8, "diversity": 85.0}


def report(r: dict[str, Any]) -> list[str]:
    """Lines that print the realism numbers next to issue 19's targets."""
    def mark(ok: bool) -> str:
        return "met" if ok else "NOT met"

    t = TARGETS
    fd_ok = mark(r["frechet_ratio"] <= t["frechet_ratio"]) if min(r["samples"], r["real"], r["other_real"]) >= 400 \
        else "not judged below N = 400"
    return [f"  sets: {r['samples']} samples vs {r['real']} real; floor: {r['other_real']} other real "
            f"(identity-disjoint); {r['descriptor_dim']}-d descriptors",
            f"  frechet (dlib descriptors): {r['frechet']:.4g}  floor (real vs real): {r['frechet_floor']:.4g}  "
            f"ratio {r['frechet_ratio']:.2f}x  (target <= {t['frechet_ratio']:g}x: {fd_ok}; "
            f"{r['frechet_ratio_half']:.2f}x on {r['half']} per set: compare ratios only at equal N)",
            f"  sharpness: Laplacian energy {r['laplacian_energy']:.4g} vs real {r['laplacian_energy_real']:.4g}  "
            f"ratio {r['sharpness_ratio']:.3f}  (target >= {t['sharpness_ratio']:g}: "
            f"{mark(r['sharpness_ratio'] >= t['sharpness_ratio'])})",
            f"  diversity: {r['diversity']:.1f} vs real {r['diversity_real']:.1f}  (target >= {t['diversity']:g}: "
            f"{mark(r['diversity'] >= t['diversity'])})"]

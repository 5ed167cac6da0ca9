"""How well the person masks of ``faceedit data background`` keep the face (issue 23's measure).

On ``--n`` held-out CelebA crops of a 64 px data cache: the person mask of :func:`faceedit.train.background.person_mask`
(parser on the known face box) against the hull of dlib's 68 landmarks found *independently* (the frontal
detector on the crop upscaled to 256 px, then the shape predictor in the detected box).  A face is covered
when at least ``--inside`` (default 99 %) of its hull pixels are in the kept region; target: >= 95 % of faces.
Also: the share of background pixels that a blur / grey variant changes, and a contact sheet of 24 masks
(photo, mask, blur, grey) to check by eye that the hair is kept.

    python benchmarks/background_masks.py [--cache faces64.npz] [--n 100] [--sheet masks.png] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def hull_mask(points: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Boolean mask of the convex hull of ``points`` (x, y) on an image of ``shape``."""
    import cv2

    hull = cv2.convexHull(np.round(points).astype(np.int32))
    out = np.zeros(shape, np.uint8)
    cv2.fillConvexPoly(out, hull, 1)
    return out.astype(bool)


def measure(images: np.ndarray, inside: float = 0.99) -> dict:
    """Coverage of the landmark hulls by the person masks, and background change, over ``images``."""
    from faceedit.faces.alignment import detect_faces
    from faceedit.train.background import apply, compute_masks, default_feather, default_sigma, feather_alpha
    from faceedit.images import resize

    size = images.shape[1]
    masks, parsed = compute_masks(images)
    scale = size / 256
    fractions, detected = [], 0
    for im, m in zip(images, masks):
        faces = detect_faces(resize(im, 256))
        if not faces:
            continue
        detected += 1
        hull = hull_mask((faces[0][1] + 0.5) * scale - 0.5, m.shape)  # pixel centres
        fractions.append(float(m[hull].mean()) if hull.any() else 0.0)
    fractions = np.array(fractions)
    outside = np.stack([feather_alpha(m, default_feather(size)) == 0 for m in masks])
    changed = {}
    for mode in ("blur", "grey"):
        out = apply(images, masks, mode, default_sigma(size), default_feather(size))
        changed[mode] = float((np.abs(out.astype(int) - images).max(-1) > 0)[outside].mean())
    return {"faces": len(images), "parsed": int(parsed.sum()), "detected": detected,
            "covered": float((fractions >= inside).mean()) if len(fractions) else float("nan"),
            "covered_entirely": float((fractions >= 1.0).mean()) if len(fractions) else float("nan"),
            "hull_kept_mean": float(fractions.mean()) if len(fractions) else float("nan"),
            "hull_kept_min": float(fractions.min()) if len(fractions) else float("nan"),
            "kept_area": float(masks.mean()), "background_changed": changed, "inside": inside}, masks


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cache", help="64 px data cache (default: the usual one)")
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--inside", type=float, default=0.99, help="share of hull pixels that must be kept")
    ap.add_argument("--sheet", help="write a contact sheet of 24 faces (photo, mask, blur, grey)")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args()

    from faceedit.train.background import apply, default_feather, default_sigma
    from faceedit.images import image_grid, save_image
    from faceedit.train.data import default_cache_dir, load_cache

    data = load_cache(args.cache or default_cache_dir() / "faces64.npz")
    rows = np.where(data.val & (data.source == "celeba"))[0]
    rows = rows[np.random.default_rng(0).permutation(len(rows))[:args.n]]
    images = data.images[rows]
    r, masks = measure(images, args.inside)
    print(f"{r['faces']} held-out faces, {r['parsed']} parsed, dlib detected {r['detected']}: the landmark hull is "
          f">= {r['inside']:.0%} kept on {r['covered']:.1%} of them (target >= 95 %), entirely on {r['covered_entirely']:.1%}; hull kept mean "
          f"{r['hull_kept_mean']:.3f}, min {r['hull_kept_min']:.3f}; kept area {r['kept_area']:.1%}; background "
          f"pixels changed: blur {r['background_changed']['blur']:.1%}, grey {r['background_changed']['grey']:.1%}")
    if args.sheet:
        s, f = default_sigma(images.shape[1]), default_feather(images.shape[1])
        blur, grey = apply(images[:24], masks[:24], "blur", s, f), apply(images[:24], masks[:24], "grey", s, f)
        cells = []
        for im, m, b, g in zip(images[:24], masks[:24], blur, grey):
            cells += [im, (m[..., None] * 255).repeat(3, 2).astype(np.uint8), b, g]
        save_image(args.sheet, image_grid(np.stack(cells), ncol=16))
        print(f"wrote {args.sheet}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

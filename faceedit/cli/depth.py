"""``faceedit depth IMG... --out DIR``: relative inverse depth maps (larger = nearer)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "depth", help="relative inverse depth of face images (16-bit PNG for viewing + float .npy)",
        description="Writes DIR/{stem}_depth.png (16-bit, 65535 = nearest) and DIR/{stem}_depth.npy "
        "(float32 in [0, 1]).")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--backend", default="template", choices=["template", "dpt"])
    p.add_argument("--weights", help="dpt: MiDaS v3 checkpoint (dpt_hybrid-midas-501f0c75.pt or "
                   "dpt_large-midas-2f21e586.pt; else $FACEEDIT_DPT or the weights cache)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2
    import numpy as np

    from ..faces.depth import estimate_depth
    from ..images import load_image
    from ..io import atomic_path, save_npy
    from ._batch import for_each_image

    out = Path(args.out)

    def process(path: Path) -> None:
        depth = estimate_depth(load_image(path), backend=args.backend, weights=args.weights)
        save_npy(out / f"{path.stem}_depth.npy", depth)
        with atomic_path(out / f"{path.stem}_depth.png") as tmp:
            cv2.imwrite(str(tmp), np.round(np.clip(depth, 0, 1) * 65535).astype(np.uint16))

    return for_each_image(args.images, "depth", process)

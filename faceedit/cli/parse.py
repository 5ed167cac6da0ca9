"""``faceedit parse IMG... --out DIR``: face parsing label maps (19 CelebAMask-HQ classes) and overlays."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "parse", help="face parsing: label map PNG (class indices 0-18) and a colour overlay",
        description="Writes DIR/{stem}_labels.png (one channel, the class index of each pixel: 0 background, "
        "1 skin, ..., 17 hair, 18 hat) and DIR/{stem}_overlay.png.")
    p.add_argument("images", nargs="+", help="image files or folders (aligned faces or photos)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--backend", default="landmarks", choices=["landmarks", "bisenet", "facexlib", "facexlib-bisenet"],
                   help="landmarks: classic CV from the 68 landmarks (default, offline); bisenet: face-parsing.PyTorch "
                   "79999_iter.pth; facexlib: facexlib's ParseNet (parsing_parsenet.pth); facexlib-bisenet: "
                   "facexlib's BiSeNet (parsing_bisenet.pth); the facexlib package is not needed")
    p.add_argument("--weights", help="weight file of a network backend (else bisenet: $FACEEDIT_BISENET or the "
                   "registry; facexlib*: the registry or an installed facexlib's weights folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import cv2

    from ..images import load_image, save_image
    from ..io import atomic_path
    from ..faces.parsing import CLASSES, overlay, parse
    from ._batch import for_each_image

    out = Path(args.out)

    def process(path: Path) -> None:
        image = load_image(path)
        labels = parse(image, backend=args.backend, weights=args.weights)
        with atomic_path(out / f"{path.stem}_labels.png") as tmp:
            cv2.imwrite(str(tmp), labels)
        save_image(out / f"{path.stem}_overlay.png", overlay(image, labels))
        present = ", ".join(CLASSES[c] for c in sorted(set(labels.ravel().tolist())))
        print(f"{path.name}: {present}")

    return for_each_image(args.images, "parse", process)

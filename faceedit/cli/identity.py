"""``faceedit identity``: the canonical 128-d dlib descriptor of the face in a photo (issue 22)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``identity`` command."""
    p = subparsers.add_parser(
        "identity", help="write the 128-d dlib identity descriptor of a photo's face (.npy)",
        description="Detect and FFHQ-align the face (faceedit align, 256 px), then compute dlib's 128-d face "
                    "descriptor on the aligned face (faceedit.faces.identity.descriptor): the canonical descriptor "
                    "that "
                    "'faceedit from-embedding' reads. One photo gives a (128,) array, several an (N, 128) array. "
                    "Descriptors made the face_recognition way (dlib's chip of the raw photo) are close but not "
                    "equal; see benchmarks/embedding.py.")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo(s) with a face")
    p.add_argument("--face", type=int, default=0, help="which face when there are several (0 = largest)")
    p.add_argument("--out", required=True, help="output .npy")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Compute every descriptor first, then write the file atomically."""
    import numpy as np

    from ..embedding import photo_descriptor
    from ..errors import InvalidInput
    from ..io import save_npy

    if not args.out.lower().endswith(".npy"):
        raise InvalidInput(f"--out must be a .npy file, got {args.out}")
    desc = np.stack([photo_descriptor(p, face=args.face) for p in args.photos])
    save_npy(args.out, desc[0] if len(desc) == 1 else desc)
    print(f"{args.out}: {desc.shape[0]} descriptor(s) of 128 values (dlib, FFHQ-aligned face)")
    return 0

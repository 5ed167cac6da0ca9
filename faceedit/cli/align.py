"""``faceedit align PHOTO... --out DIR``: detect and FFHQ-align faces; writes ``{stem}.png`` + ``{stem}.json``."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "align", help="detect faces in photos and FFHQ-align them (aligned PNG + JSON with the transform)",
        description="For each photo write DIR/{stem}.png (the aligned face, N x N) and DIR/{stem}.json (the "
        "transform back to the photo, landmarks, box). The largest face is taken unless --face or --all. "
        "Exit code 1 if any photo failed (they are listed).")
    p.add_argument("photos", nargs="+", help="photo files or folders")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--size", type=int, default=None,
                   help="aligned size N (default: the default model's resolution, else 256)")
    p.add_argument("--face", type=int, default=None, help="index of the face to take (0 = largest)")
    p.add_argument("--all", action="store_true", help="write every face as {stem}_{i}.png / .json")
    p.set_defaults(func=run)


def default_size() -> int:
    """The default generator's resolution, or :data:`faceedit.faces.alignment.DEFAULT_SIZE` without a default model."""
    from ..faces.alignment import DEFAULT_SIZE
    from ..errors import FaceEditError

    try:
        from ..models.checkpoints import load_generator

        return int(load_generator().resolution)
    except (FaceEditError, ImportError, OSError):
        return DEFAULT_SIZE


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..faces.alignment import align, face_record
    from ..errors import InvalidInput
    from ..images import save_image
    from ..io import save_json
    from ._batch import for_each_image

    if args.all and args.face is not None:
        raise InvalidInput("--all and --face exclude each other")
    size = args.size or default_size()
    out = Path(args.out)
    print(f"aligning at {size}x{size} into {out}")

    def process(path: Path) -> None:
        faces = align(path, size=size, face=args.face)
        for face in faces if args.all else faces[:1]:
            stem = f"{path.stem}_{face.meta['index']}" if args.all else path.stem
            save_image(out / f"{stem}.png", face.image)
            save_json(out / f"{stem}.json", face_record(face))

    return for_each_image(args.photos, "align", process)

"""``faceedit data background IN OUT --mode blur|grey|keep``: background variants of aligned face data."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("data", help="derive data sets from aligned face data (background variants)",
                                   description="Derive data sets from aligned face data.")
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    p = sub.add_parser("background", help="keep the person (face + hair + neck), blur or grey out the background",
                       description="Write a background variant of a data cache of `faceedit train prepare-data` "
                                   "(IN.npz -> OUT.npz, with OUT.masks.npz, OUT.manifest.json and a contact sheet "
                                   "OUT.sheet.png) or of a folder of aligned face images (-> a folder OUT with "
                                   "masks/, manifest.json, sheet.png).  Train on the variant with --cache OUT.npz.")
    p.add_argument("input", help="data cache (.npz) or folder of aligned face images")
    p.add_argument("out", help="output cache (.npz) or folder")
    p.add_argument("--mode", required=True, choices=["blur", "grey", "keep"], help="what to do with the background")
    p.add_argument("--sigma", type=float, help="background blur in px (default: side / 16, 4 px at 64 px)")
    p.add_argument("--feather", type=float, help="feather width in px outside the person (default: side / 32)")
    p.add_argument("--sources", help="caches: keep only these comma-separated sources (celeba, utkface)")
    p.add_argument("--limit", type=int, help="caches: only the first N crops (quick looks)")
    p.add_argument("--masks", help="caches: reuse OUT.masks.npz of an earlier run on the same input")
    p.add_argument("--workers", type=int, default=1, help="parallel parser processes (default 1)")
    p.set_defaults(func=run_background)


def run_background(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..train.background import make_folder_variant, make_variant
    from ..errors import InvalidInput

    src = Path(args.input)
    if src.is_dir():
        m = make_folder_variant(src, args.out, args.mode, args.sigma, args.feather, workers=args.workers)
    elif src.suffix.lower() == ".npz" and src.is_file():
        m = make_variant(src, args.out, args.mode, args.sigma, args.feather,
                         args.sources.split(",") if args.sources else None, args.limit, args.masks, args.workers)
    elif not src.exists():
        raise InvalidInput(f"{src}: no such file or folder")
    else:
        raise InvalidInput(f"{src}: expected a data cache (.npz) of `faceedit train prepare-data` or a folder of "
                           "aligned face images")
    print(f"wrote {args.out}: {m['images']} faces, mode {m['mode']}, {m['parsed']} parsed, "
          f"{m['fallback_head_ellipse']} with the head-ellipse fallback ({m['seconds']:.0f} s)")
    return 0

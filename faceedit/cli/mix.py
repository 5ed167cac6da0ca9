"""``faceedit mix ORIGINAL EDITED --name NAME --out OUT``: restore the original where the edit is not about."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "mix",
        help="mix an edited face back into its original (domain / segmentation / depth mixups)",
        description="Keep the edit only where it is about (e.g. the hair for a hair-colour edit) and restore "
        "the original elsewhere. Both images are aligned faces of the same size.",
    )
    parser.add_argument("original", help="the original aligned face image")
    parser.add_argument("edited", help="the edited image (same size)")
    parser.add_argument("--name", required=True,
                        help="translation name or characteristic code, e.g. Hc_1, Pn_max, bald, Sk")
    parser.add_argument("--out", required=True, help="output image file")
    parser.add_argument("--steps", help="comma-separated steps to run (default: domain,segmentation,depth)")
    parser.add_argument("--config", help="TOML file with mixup settings (the keys of faceedit.compose.mixups.DEFAULTS)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override one setting, e.g. depth.feather=0.04 (repeatable)")
    parser.add_argument("--masks", help="folder for the allowed region of each step ({step}.png, white = edit)")
    parser.add_argument("--report", help="JSON file with what was applied, skipped or dropped")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    import numpy as np

    from ..config import load_config
    from ..images import load_image, save_image
    from ..io import save_json
    from ..compose.mixups import DEFAULTS, Mixer

    overrides = list(args.set)
    if args.steps:
        overrides.append("steps=[" + ", ".join(f'"{s.strip()}"' for s in args.steps.split(",")) + "]")
    cfg = load_config(DEFAULTS, args.config, overrides, strict=False)
    mixer = Mixer(cfg)
    result = mixer.mix(load_image(args.original), load_image(args.edited), args.name)
    save_image(args.out, result.image)
    if args.masks:
        for step, allowed in result.masks.items():
            save_image(Path(args.masks) / f"{step}.png", np.where(allowed, 255, 0).astype(np.uint8))
    if args.report:
        save_json(args.report, result.report())
    print(f"{args.out}: applied {', '.join(result.applied) or 'nothing'}")
    for line in result.skipped:
        print(f"  skipped {line}")
    for line in result.dropped:
        print(f"  dropped {line}")
    return 0

"""``faceedit from-map MAP.png --out face.png``: a face from a segmentation map (issue 21)."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``from-map`` command."""
    p = subparsers.add_parser(
        "from-map", help="make a face from a segmentation map (class-index or palette PNG)",
        description="Reads MAP.png (the class-index PNG of `faceedit parse`, {stem}_labels.png, or a colour PNG in "
                    "the CelebAMask-HQ palette; any square size, resized with nearest neighbour), encodes it to W+ "
                    "with the map encoder and renders the face. --style keeps a face's colours and texture on the "
                    "fine W+ rows. With --base-map (the style face's own map, e.g. the labels PNG `faceedit parse` wrote for the "
                    "photo) the result is the style face edited by the change from BASE to MAP (its own code plus the "
                    "map encoder's calibrated answer to that change): what the edit did not touch stays that person. "
                    "Bad maps (unknown ids or colours, not square, empty, no skin) are one error line "
                    "and nothing is written.")
    p.add_argument("map", metavar="MAP.png", help="class-index or palette PNG")
    p.add_argument("--out", required=True, help="output image (.png, .jpg)")
    p.add_argument("--style", metavar="PHOTO_OR_LATENT", help="a photo (aligned, then encoded) or a W+ .npy")
    p.add_argument("--base-map", metavar="BASE.png",
                   help="with --style: the style face's own map; MAP is its edited version (edit, not re-make)")
    p.add_argument("--gain", type=float,
                   help="with --base-map: the edit's gain (default: the map encoder's calibrated one)")
    p.add_argument("--latent-out", metavar="W.npy", help="also write the W+ latent")
    p.add_argument("--strength", type=float, default=0.5,
                   help="with --steps: map agreement vs closeness to the (styled) code, 0..1 (default 0.5)")
    p.add_argument("--steps", type=int, default=10,
                   help="optimisation steps through the tiny parser (default 10, about a second; 0 = encoder only: "
                        "on 200 held-out faces 10 steps lift hair IoU from 0.56 to 0.58 and keep the other parts)")
    p.add_argument("--split", type=int, help="W+ rows taken from the map before the style's (default: built-in)")
    p.add_argument("--model", help="generator checkpoint or registry name (default: the built-in one)")
    p.add_argument("--map-encoder", help="map encoder file (default: the built-in one)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Read and check everything, make the face, then write the files (each atomically)."""
    from ..errors import InvalidInput
    from ..images import save_image
    from ..io import save_npy
    from ..maps.generate import MapModels, from_map
    from ..maps.io import read_map

    if args.steps < 0:
        raise InvalidInput(f"--steps must be 0 or more, got {args.steps}")
    if args.base_map and not args.style:
        raise InvalidInput("--base-map needs --style (the face whose map BASE is)")
    labels = read_map(args.map)  # a bad map fails before any model is loaded
    base = read_map(args.base_map) if args.base_map else None
    models = MapModels.load(args.model, args.map_encoder)
    if base is not None:
        from ..maps.edit import edit_with_map
        from ..maps.generate import style_code

        result = edit_with_map(style_code(args.style, models.generator), base, labels, models=models, gain=args.gain)
    else:
        result = from_map(labels, style=args.style, strength=args.strength, steps=args.steps, split=args.split,
                          models=models)
    if args.latent_out:
        save_npy(args.latent_out, result.latent.w)
    save_image(args.out, result.image)
    print(args.out)
    return 0

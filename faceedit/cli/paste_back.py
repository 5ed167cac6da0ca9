"""``faceedit paste-back PHOTO EDITED TRANSFORM.json --out FILE``: put an edited aligned face back."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "paste-back", help="warp an edited aligned face back into its photo and blend it in",
        description="TRANSFORM.json is the file `faceedit align` wrote for this face. The edited image may "
        "have another size than the aligned one (same framing). The default mask is the parsed face and hair "
        "of the edited face.")
    p.add_argument("photo", help="the original photo")
    p.add_argument("edited", help="the edited aligned face")
    p.add_argument("transform", help="the JSON written by `faceedit align`")
    p.add_argument("--out", required=True, help="output photo file")
    p.add_argument("--mask", help="aligned-space mask image (white = take the edit), instead of the parsed one")
    p.add_argument("--feather", type=float, default=None, help="mask feather in aligned pixels (default 1.5%% of N)")
    p.add_argument("--poisson", action="store_true", help="Poisson (seamless clone) blending")
    p.add_argument("--original", help="the unedited aligned face: paste only the change (keeps the photo's "
                   "detail; same size as EDITED)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ..faces.alignment import rescale_transform, transform_from_record
    from ..errors import InvalidInput
    from ..images import load_image, resize, save_image
    from ..io import load_json
    from ..compose.paste import paste_back

    try:
        record = load_json(args.transform)
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{args.transform}: not a readable transform JSON ({e})") from None
    if not isinstance(record, dict):
        raise InvalidInput(f"{args.transform}: not a transform record")
    transform = transform_from_record(record)
    photo, edited = load_image(args.photo), load_image(args.edited)
    n = edited.shape[0]
    size = int(record.get("size") or n)
    if n != size:
        transform = rescale_transform(transform, size, n)
    mask = None
    if args.mask:
        mask = resize(load_image(args.mask), n).mean(axis=2) / 255.0
    original = load_image(args.original) if args.original else None
    out = paste_back(photo, edited, transform, mask=mask, feather=args.feather, poisson=args.poisson,
                     original_aligned=original)
    save_image(args.out, out)
    changed = float(np.mean(np.any(out != photo, axis=2)))
    print(f"{args.out}: {changed:.1%} of the photo changed")
    return 0

"""``faceedit attributes IMG...``: print the predicted face attributes of photos or aligned faces."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("attributes", help="predict the 40 CelebA attributes, age, gender and race of faces",
                              description="Align each photo (largest face; --aligned skips this) and print the "
                              "attribute predictor's output.")
    p.add_argument("images", nargs="+", metavar="IMG", help="image files or folders")
    p.add_argument("--model", help="attribute predictor file (default: the built-in one)")
    p.add_argument("--aligned", action="store_true", help="the images are already aligned faces")
    p.add_argument("--all", action="store_true", help="print every attribute, not only the likely ones")
    p.add_argument("--threshold", type=float, default=0.5, help="probability above which an attribute is listed")
    p.add_argument("--json", action="store_true", help="print one JSON object per image instead of text")
    p.set_defaults(func=run)


def format_prediction(pred: dict[str, float], show_all: bool = False, threshold: float = 0.5) -> list[str]:
    """Human-readable lines for one face's predictions (``race`` is a list of 5 probabilities)."""
    from ..models.attributes import CELEBA_ATTRIBUTES, UTKFACE_RACES

    lines = []
    if "age" in pred:
        lines.append(f"age: {pred['age']:.0f} years")
    if "gender" in pred:
        lines.append(f"gender: {'female' if pred['gender'] >= 0.5 else 'male'} (P(female) = {pred['gender']:.2f})")
    if "race" in pred:
        race = list(pred["race"])
        best = max(range(len(race)), key=race.__getitem__)
        lines.append(f"race: {UTKFACE_RACES[best]} ({race[best]:.2f})")
    names = [n for n in CELEBA_ATTRIBUTES if n in pred and (show_all or pred[n] >= threshold)]
    names.sort(key=lambda n: -pred[n])
    lines += [f"{n}: {pred[n]:.2f}" for n in names]
    return lines


def run(args: argparse.Namespace) -> int:
    import json

    from ..errors import InvalidInput
    from ..images import list_images, load_image
    from ..models.attributes import load_attribute_predictor

    paths = list_images(args.images)
    if not paths:
        raise InvalidInput("no images given (folders are searched for .png/.jpg/... files)")
    model = load_attribute_predictor(args.model)
    faces = []
    for path in paths:
        if args.aligned:
            faces.append(load_image(path))
        else:
            from ..faces.alignment import align

            faces.append(align(path, size=model.input_size)[0].image)
    preds = model.predict(faces)
    for i, path in enumerate(paths):
        one = {k: (v[i].tolist() if v.ndim > 1 else float(v[i])) for k, v in preds.items()}
        if args.json:
            print(json.dumps({"image": str(path), **one}))
        else:
            print(f"{path}:")
            for line in format_prediction(one, args.all, args.threshold):
                print(f"  {line}")
    return 0


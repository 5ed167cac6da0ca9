"""``faceedit convert IN OUT``: any supported StyleGAN2 checkpoint -> our safetensors + JSON format."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    """Add the ``convert`` command."""
    p = subparsers.add_parser(
        "convert", help="convert a StyleGAN2 checkpoint (anycost/rosinality .pt, NVlabs .pkl) to safetensors",
        description="Read IN without executing code from it and write OUT.safetensors + OUT.json.")
    p.add_argument("input", metavar="IN", help="checkpoint file or registered model name")
    p.add_argument("output", metavar="OUT", help="output path (the .safetensors suffix is added)")
    p.add_argument("--discriminator", action="store_true", help="convert the discriminator instead")
    p.add_argument("--model-id", help="model id to store (default: the source file's id)")
    p.add_argument("--half", action="store_true", help="store float16 weights (half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert; returns the exit code."""
    from ..io import load_json
    from ..models.checkpoints import DISCRIMINATOR, GENERATOR, convert

    kind = DISCRIMINATOR if args.discriminator else GENERATOR
    out = convert(args.input, args.output, kind, model_id=args.model_id, half=args.half)
    info = load_json(out.with_suffix(".json"))
    print(f"{out} ({kind} from {info['meta'].get('source_format')}, model_id {info['model_id']})")
    return 0

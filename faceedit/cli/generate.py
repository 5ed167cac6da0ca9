"""``faceedit generate``: render random faces (or given W+ latents) from a StyleGAN2 generator."""
from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``generate`` command."""
    p = subparsers.add_parser(
        "generate", help="render random faces from a generator (seeded)",
        description="Render faces from seeded z (image i uses seed SEED+i, so a face does not depend on --n), "
        "or render saved W+ latents (--latent, e.g. from 'faceedit project' or 'faceedit translations apply').")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", metavar="PATH",
                     help="generator file (.safetensors+.json, anycost/rosinality .pt, NVlabs .pkl)")
    src.add_argument("--model", metavar="NAME", help="a registered model name in the weights cache")
    p.add_argument("--latent", metavar="NPY", nargs="+",
                   help="render these W+ latents (.npy: (n_latent, style_dim), (1, n_latent, style_dim) or one W row "
                   "(style_dim,) / (1, style_dim)) instead of random z")
    p.add_argument("--seed", type=int, default=0, help="seed of the first image (default 0)")
    p.add_argument("--n", type=int, default=1, help="number of images (default 1)")
    p.add_argument("--truncation", type=float, default=1.0,
                   help="truncation psi towards the average w (default 1 = none; 0.7 is typical)")
    p.add_argument("--channel-ratio", type=float, default=1.0, choices=(0.25, 0.5, 0.75, 1.0),
                   help="render the anycost sub-generator with this fraction of channels (preview)")
    p.add_argument("--resolution", type=int, default=None, help="stop early at this resolution (preview)")
    p.add_argument("--noise", choices=("const", "random", "none"), default="const",
                   help="noise inputs: the fixed buffers (default), random (seeded) or none")
    p.add_argument("--grid", action="store_true", help="with --n > 1: one grid image instead of numbered files")
    p.add_argument("--out", required=True, help="output image (PNG/JPEG); numbered OUT_0000.png.. for --n > 1")
    p.set_defaults(func=run)


def output_paths(out: str | Path, n: int) -> list[Path]:
    """``OUT`` for one image, else ``OUT_0000.png``, ``OUT_0001.png``, ... (stem + index + suffix)."""
    out = Path(out)
    if n == 1:
        return [out]
    suffix = out.suffix or ".png"
    return [out.with_name(f"{out.stem}_{i:04d}{suffix}") for i in range(n)]


def run(args: argparse.Namespace) -> int:
    """Render and save; returns the exit code."""
    import torch

    from ..errors import InvalidInput
    from ..images import save_image, to_image
    from ..models.checkpoints import load_generator
    from ..models.stylegan2 import seeded_z

    if args.n < 1:
        raise InvalidInput(f"--n must be at least 1, got {args.n}")
    g = load_generator(args.model or args.checkpoint)
    if args.resolution is not None and args.resolution not in g.channels:
        raise InvalidInput(f"--resolution must be a power of two in 4..{g.resolution}, got {args.resolution}")
    if args.latent:
        return _render_latents(g, args)
    images = []
    with torch.inference_mode():
        centre = g.mean_latent() if args.truncation != 1 else None
        for i in range(args.n):
            z = seeded_z(1, g.style_dim, args.seed + i)
            if args.noise == "random":
                torch.manual_seed(args.seed + i)
            img = g(z, truncation=args.truncation, truncation_style=centre, noise_mode=args.noise,
                    channel_ratio=args.channel_ratio, resolution=args.resolution)
            images.append(to_image(img)[0])
    if args.grid and args.n > 1:
        import numpy as np

        from ..images import image_grid

        save_image(args.out, image_grid(np.stack(images)))
        print(args.out)
        return 0
    for path, image in zip(output_paths(args.out, args.n), images):
        save_image(path, image)
        print(path)
    return 0


def _render_latents(g, args: argparse.Namespace) -> int:
    """Render each ``--latent`` file; one output per latent (numbered like --n)."""
    from ..images import save_image
    from ..edit.layouts import read_latent
    from ..synthesis import synthesize

    shape = (g.n_latent, g.style_dim)
    ws = [read_latent(latent, shape) for latent in args.latent]  # every file is checked before any render
    for path, w in zip(output_paths(args.out, len(args.latent)), ws):
        save_image(path, synthesize(g, w[None], noise_mode=args.noise, channel_ratio=args.channel_ratio,
                                    resolution=args.resolution)[0])
        print(path)
    return 0

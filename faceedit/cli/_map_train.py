"""``faceedit train map-encoder``: the segmentation-map encoder and its tiny parser (issue 21)."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add ``map-encoder`` to the ``faceedit train`` sub-commands."""
    p = sub.add_parser("map-encoder", help="map encoder (19-class map -> W+) and the tiny parser of its map loss",
                       description="Trains the tiny differentiable parser, then the map encoder, on map pairs "
                       "parsed with the project's parser (--build-pairs makes them; slow: ~10 faces/s per core).")
    p.add_argument("--pairs", required=True, help="folder of the map pairs (maps/pairs chunks)")
    p.add_argument("--out", required=True, help="run folder (checkpoint, logs, map_encoder/tiny_parser files)")
    p.add_argument("--build-pairs", action="store_true", help="parse the missing pairs first (resumable)")
    p.add_argument("--cache", help="data cache for --build-pairs (default: $FACEEDIT_HOME/data/faces64.npz)")
    p.add_argument("--latents", help="train_latents.npy for --build-pairs (the encoded training split, as "
                   "`faceedit train rebuild-suite` writes it)")
    p.add_argument("--real", type=int, default=2000, help="--build-pairs: training photos (and their renders)")
    p.add_argument("--samples", type=int, default=1000, help="--build-pairs: sampled renders")
    p.add_argument("--workers", type=int, default=2, help="--build-pairs: parser processes")
    p.add_argument("--reuse-pairs", metavar="DIR",
                   help="--build-pairs: pairs made for another generator whose photo parses (real, val) are reused")
    p.add_argument("--generator", help="generator checkpoint (default: the built-in one)")
    p.add_argument("--minutes", type=float, help="wall-clock budget (continue later with --resume)")
    p.add_argument("--steps", type=int, help="map-encoder steps (train.steps)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--seed", type=int, help="random seed (overrides train.seed)")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu); under torchrun one process a GPU")
    p.add_argument("--config", help="TOML file with settings")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override one setting")
    p.set_defaults(func=run)

    g = sub.add_parser("map-edit-gain", help="choose a map encoder's edit gain (written into its JSON sidecar)",
                       description="Map edits add gain x (code of the edited map - code of the unedited map) to the "
                       "face's own W+. An encoder trained with a latent L2 loss answers a map change too weakly; this "
                       "measures, on training maps read by the tiny parser, which gain makes the rendered lips, nose "
                       "and hairline change as much as the map asked, without disturbing the other parts, and writes "
                       "it as meta.edit_gain (`faceedit train map-encoder` does this itself at the end).")
    g.add_argument("--encoder", required=True, help="map encoder file to calibrate (its .json is rewritten)")
    g.add_argument("--pairs", required=True, help="folder of the map pairs (the training maps are read)")
    g.add_argument("--maps", type=int, default=120, help="training maps to measure on (default 120)")
    g.add_argument("--generator", help="generator checkpoint (default: the built-in one)")
    g.add_argument("--parser", help="tiny parser file (default: the built-in one)")
    g.add_argument("--threads", type=int, help="CPU threads for torch")
    g.set_defaults(func=run_gain)


def run_gain(args: argparse.Namespace) -> int:
    """Calibrate and report the table."""
    import numpy as np
    import torch

    from ..errors import DataError
    from ..maps.pairs import chunk_files, load_pairs
    from ..models.checkpoints import load_generator
    from ..train.map_encoder import DEFAULTS, calibrate_edit_gain

    if args.threads:
        torch.set_num_threads(args.threads)
    # the kinds the trainer learns from (and calibrates on at the end of its run), those the folder has
    kinds = [k for k in DEFAULTS["train"]["kinds"] if chunk_files(args.pairs, k)]
    if not kinds:
        raise DataError(f"{args.pairs}: no training map pairs; run `faceedit train map-encoder --build-pairs` first")
    maps = np.concatenate([load_pairs(args.pairs, kind)["maps"] for kind in kinds])
    cal = calibrate_edit_gain(args.encoder, maps, args.maps, G=load_generator(args.generator).eval(),
                              parser=args.parser)
    for gain, row in cal.table.items():
        print(f"gain {gain:g}: " + ", ".join(f"{k} {v:+.3f}" if "asked" in k or "rendered" in k else f"{k} {v:.3f}"
                                             for k, v in row.items()))
    print(f"edit_gain {cal.gain:g} written to {args.encoder}")
    return 0


def run(args: argparse.Namespace) -> int:
    import torch

    from ..config import load_config
    from ..train.ddp import launched_by_torchrun
    from ..train.map_encoder import DEFAULTS, train_map_encoder

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = load_config(DEFAULTS, args.config, args.set)
    for key, value in (("seed", args.seed), ("max_minutes", args.minutes), ("steps", args.steps)):
        if value is not None:
            cfg["train"][key] = value
    if args.build_pairs:
        from ..errors import ConfigError
        from ..maps.pairs import PairSettings, build_pairs
        from ..models.checkpoints import load_generator
        from ..train.data import default_cache_dir

        if not args.latents:
            raise ConfigError("--build-pairs needs --latents (the encoded training split)")
        if launched_by_torchrun():
            raise ConfigError("--build-pairs runs in one process: make the pairs first (without torchrun), "
                              "then train with torchrun")
        build_pairs(PairSettings(cache=str(args.cache or default_cache_dir() / "faces64.npz"), latents=args.latents,
                                 out=args.pairs, real=args.real, samples=args.samples, workers=args.workers,
                                 reuse=args.reuse_pairs),
                    G=load_generator(args.generator).eval())
    from ..train.ddp import training_process

    with training_process(args.device) as (world, device):  # under torchrun: with the other processes
        result = train_map_encoder(args.pairs, args.out, cfg, resume=args.resume, generator=args.generator,
                                   device=device)
        if not world.main:
            return 0
    for k, v in result.items():
        print(f"  {k}: {v:.3f}")
    print(f"wrote {args.out}")
    return 0

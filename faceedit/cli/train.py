"""``faceedit train prepare-data|gan|dcgan|vae|encoder|finetune|attributes|validator|fit-mapping|rebuild-suite|...``:
the training framework's command line (``gan``, ``dcgan`` and ``vae`` are the generative families of
:mod:`faceedit.train.families`)."""
from __future__ import annotations

import argparse
from typing import Any


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the default models and the generative families (gan, dcgan, vae)",
                                   description="Prepare the aligned training data and train the models.")
    sub = parser.add_subparsers(dest="train_command", metavar="MODEL", required=True)

    p = sub.add_parser("prepare-data", help="align the shared face photos once and cache them as one .npz")
    p.add_argument("--data", help="data folder (default: ../shared/data beside the project)")
    p.add_argument("--cache", help="output .npz (default: $FACEEDIT_HOME/data/faces<size>.npz)")
    p.add_argument("--size", type=int, default=64, help="aligned crop size in pixels (default 64)")
    p.add_argument("--sources", default="celeba,utkface", help="comma-separated: celeba, utkface")
    p.add_argument("--val-fraction", type=float, default=0.1, help="held-out identities (default 0.1)")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, help="use at most this many photos (for quick tests)")
    p.set_defaults(func=run_prepare)

    p = sub.add_parser("pack-data", help="re-save a data cache with its crops as JPEG (small, to carry)",
                       description="Write a copy of a prepare-data cache whose crops are stored as JPEG files "
                                   "inside the .npz (every loader reads both kinds).")
    p.add_argument("cache", help="input cache from prepare-data")
    p.add_argument("out", help="output .npz")
    p.add_argument("--quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    p.add_argument("--sources", help="keep only these comma-separated sources (celeba, utkface)")
    p.add_argument("--max-val", type=int, help="keep at most this many held-out crops (the first ones)")
    p.set_defaults(func=run_pack)

    for name, helptext in (("gan", "StyleGAN2 generator + discriminator (family gan)"),
                           ("dcgan", "classic 64 px DCGAN generator + discriminator (family dcgan)"),
                           ("vae", "convolutional VAE, reconstruction + beta KL (family vae)"),
                           ("encoder", "W+ encoder for a trained generator"),
                           ("finetune", "sharpen a generator + its encoder against a projected discriminator "
                                        "(frozen attribute-predictor features; default: the built-in suite)"),
                           ("attributes", "multi-task attribute predictor (40 CelebA attributes, age, gender, race)"),
                           ("validator", "independent attribute model that judges edits (128 px; needs a "
                                         "`prepare-data --size 128` cache)")):
        p = sub.add_parser(name, help=helptext)
        size = 128 if name == "validator" else 64
        p.add_argument("--cache", help=f"data cache from prepare-data (default: $FACEEDIT_HOME/data/faces{size}.npz)")
        p.add_argument("--out", required=True, help="run folder (checkpoints, logs, samples, final model)")
        p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
        p.add_argument("--steps", type=int, help="total optimisation steps (overrides train.steps)")
        p.add_argument("--kimg", type=float, help="total thousands of training images (instead of --steps)")
        p.add_argument("--minutes", type=float, help="wall-clock budget: stop, checkpoint and export after this "
                       "many minutes (sets train.max_minutes; continue later with --resume)")
        p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
        p.add_argument("--seed", type=int, help="random seed (overrides train.seed)")
        p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
        p.add_argument("--config", help="TOML file with settings")
        p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                       help="override one setting, e.g. train.batch=32 (repeatable)")
        if name == "encoder":
            p.add_argument("--generator", help="generator checkpoint (default: OUT/../gan/generator or the built-in)")
            p.add_argument("--discriminator", help="discriminator for the perceptual loss")
        p.set_defaults(func=run_train, model=name)

    from ._fit_mapping import register as register_fit_mapping
    from ._map_train import register as register_map_encoder
    from ._train_embedding import register as register_embedding_mapper
    from .suite import register as register_suite

    register_fit_mapping(sub)
    register_suite(sub)
    register_map_encoder(sub)
    register_embedding_mapper(sub)


def run_prepare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..testing import data_dir
    from ..train.data import default_cache_dir, prepare

    cache = Path(args.cache) if args.cache else default_cache_dir() / f"faces{args.size}.npz"
    counts = prepare(args.data or data_dir(), cache, size=args.size, sources=args.sources.split(","),
                     val_fraction=args.val_fraction, workers=args.workers, limit=args.limit)
    print(f"wrote {cache}")
    for k, v in counts.items():
        print(f"  {k}: {v}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    import os

    import numpy as np

    from ..train.data import load_cache

    data = load_cache(args.cache)
    if args.sources:
        data = data.subset(np.isin(data.source, args.sources.split(",")))
    if args.max_val is not None:
        data = data.subset(~data.val | (np.cumsum(data.val) <= args.max_val))
    if not len(data):
        from ..errors import DataError

        raise DataError(f"{args.cache}: no crops left with --sources {args.sources}")
    data.save(args.out, jpeg_quality=args.quality)
    print(f"wrote {args.out}: {len(data)} crops, {os.path.getsize(args.out) / 1e6:.1f} MB")
    return 0


def _config(args: argparse.Namespace, defaults: dict) -> dict:
    from ..config import load_config

    cfg = load_config(defaults, args.config, args.set)
    if args.seed is not None:
        cfg["train"]["seed"] = args.seed
    if args.minutes is not None:
        cfg["train"]["max_minutes"] = args.minutes
    if args.steps is not None:
        cfg["train"]["steps"] = args.steps
    elif args.kimg is not None:
        cfg["train"]["steps"] = max(1, int(round(args.kimg * 1000 / cfg["train"]["batch"])))
    return cfg


def run_train(args: argparse.Namespace) -> int:
    """Train one model; under ``torchrun --nproc-per-node N`` the N processes train it together (DDP)."""
    import torch

    from ..train.ddp import training_process

    if args.threads:
        torch.set_num_threads(args.threads)
    with training_process(args.device) as (world, device):  # under torchrun: with the other processes
        return _train(args, world, device)


def _train(args: argparse.Namespace, world: Any, device: Any) -> int:
    from pathlib import Path

    from ..train.data import default_cache_dir, load_cache

    size = 128 if args.model == "validator" else 64
    data = load_cache(args.cache or default_cache_dir() / f"faces{size}.npz")
    out = Path(args.out)
    if args.model == "validator":
        from ..train.validator import DEFAULTS, train_validator

        metrics = train_validator(data, out, _config(args, DEFAULTS), device, resume=args.resume)
    elif args.model == "attributes":
        from ..train.attributes import DEFAULTS, train_attributes

        metrics = train_attributes(data, out, _config(args, DEFAULTS), device, resume=args.resume)
    elif args.model == "finetune":
        from ..train.finetune import DEFAULTS, train_finetune

        metrics = train_finetune(data, out, _config(args, DEFAULTS), device, resume=args.resume)
    elif args.model in ("gan", "dcgan", "vae"):
        from ..train.families import family

        fam = family(args.model)
        metrics = fam.train(data, out, _config(args, fam.defaults()), device, resume=args.resume)
    else:
        from ..train.encoder import DEFAULTS, train_encoder

        metrics = train_encoder(data, out, _config(args, DEFAULTS), device, resume=args.resume,
                                generator=args.generator, discriminator=args.discriminator)
    if not world.main:
        return 0
    for k, v in metrics.items():
        if not isinstance(v, dict):
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
    print(f"wrote {out}")
    return 0

"""``faceedit train fit-mapping``: refit a generator's mapping network to the encoded training faces
(:mod:`faceedit.train.mapping`); the synthesis network, and with it every W+ file and translation, is unchanged."""
from __future__ import annotations

import argparse


def register(sub) -> None:
    """Add ``fit-mapping`` to the ``faceedit train`` subcommands."""
    p = sub.add_parser(
        "fit-mapping", help="refit a generator's mapping so random faces spread like the encoded real faces",
        description="Train only the mapping network (z → W) of a generator so that mapping(z), z ~ N(0, I), is "
                    "distributed like the codes of the training faces (encoded with --encoder, or read from "
                    "--latents): a regression onto their Gaussian, then sliced-Wasserstein matching. The "
                    "synthesis network is unchanged, so W+ latents, translations and encoders made for the "
                    "generator stay valid and its model id is kept. Random samples (and w_avg, the mean face) "
                    "change. Prints the fit before and after.")
    p.add_argument("--out", required=True, help="output generator file (.safetensors + .json)")
    p.add_argument("--generator", help="generator to refit (default: the built-in one)")
    p.add_argument("--cache", help="data cache from prepare-data (default: $FACEEDIT_HOME/data/faces64.npz)")
    p.add_argument("--latents", help="encoded training faces, one row per training crop of the cache "
                                     "(rebuild-suite's train_latents.npy); default: encode them with --encoder")
    p.add_argument("--encoder", help="encoder made for the generator (default: the built-in one)")
    p.add_argument("--sources", default="celeba", help="comma-separated training sources (default celeba, "
                                                       "what the built-in generator was trained on)")
    p.add_argument("--steps", type=int, default=3000, help="sliced-Wasserstein steps (default 3000)")
    p.add_argument("--regression-steps", type=int, default=1000, help="regression steps first (default 1000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model-id", help="model id of the output (default: the input's)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..errors import ConfigError
    from ..train.data import default_cache_dir
    from ..train.mapping import refit_mapping, training_codes

    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps < 0 or args.regression_steps < 0:
        raise ConfigError("--steps and --regression-steps must be >= 0")
    cache = args.cache or str(default_cache_dir() / "faces64.npz")
    encoder = None
    if not args.latents:
        from ..models.checkpoints import load_generator
        from ..projection.project import resolve_encoder

        encoder = resolve_encoder(args.encoder or "auto", load_generator(args.generator))  # refuses another's
        if encoder is None:
            raise ConfigError("no encoder made for this generator: give --encoder (or --latents)")
    codes = training_codes(cache, args.latents, encoder, tuple(s for s in args.sources.split(",") if s))
    path, record = refit_mapping(args.generator, args.out, codes, args.steps, args.regression_steps, args.seed,
                           args.model_id)
    for when in ("before", "after"):
        r = record[when]
        print(f"{when}: mean distance {r['mean_distance']:.3f} (of the codes' spread), variance ratio "
              f"{r['variance_ratio']:.3f}, covariance error {r['covariance_error']:.3f}")
    print(f"wrote {path}")
    return 0

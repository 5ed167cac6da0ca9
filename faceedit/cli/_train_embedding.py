"""``faceedit train embedding-mapper | descriptor-student | face-recognizer``: the models of issue 22 — the dlib
descriptor → W+ mapper (:mod:`faceedit.train.embedding_mapper`), the differentiable student of dlib's descriptor
(:mod:`faceedit.train.descriptor_student`) and the independent face recogniser that judges identity
(:mod:`faceedit.train.face_recognizer`)."""
from __future__ import annotations

import argparse


def _common(p: argparse.ArgumentParser, steps: int) -> None:
    """The options every one of these trainers takes."""
    p.add_argument("--out", required=True, help="run folder (checkpoint.pt, log.csv, the final model)")
    p.add_argument("--cache", help="data cache from prepare-data (default: $FACEEDIT_HOME/data/faces64.npz)")
    p.add_argument("--steps", type=int, default=steps, help=f"optimisation steps (default {steps})")
    p.add_argument("--minutes", type=float, default=0.0, help="wall-clock budget (0 = none); continue with --resume")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu); under torchrun one process a GPU")


def register(sub) -> None:
    """Add the three trainers to the ``faceedit train`` subcommands."""
    p = sub.add_parser(
        "embedding-mapper", help="128-d dlib descriptor → W+ mapper (for faceedit from-embedding)",
        description="Make training pairs (encoded training faces and sampled W+ renders, each with dlib "
                    "descriptors; the cache's held-out identities are never used; resumable chunks in --pairs), "
                    "then train an MLP from the descriptor to W+ with a latent loss (and, with --cycle-weight, a "
                    "cycle loss through the descriptor student). Writes OUT/embedding_mapper.safetensors + .json, "
                    "OUT/log.csv and OUT/checkpoint.pt.")
    _common(p, 5000)
    p.add_argument("--pairs", help="folder of the pair chunks (default: OUT/pairs)")
    p.add_argument("--latents", help="the encoded training faces (rebuild-suite's train_latents.npy; default: "
                                     "encode them with --encoder into PAIRS/train_latents.npy)")
    p.add_argument("--generator", help="generator (default: the built-in one)")
    p.add_argument("--encoder", help="encoder used when --latents is not given (default: the built-in one)")
    p.add_argument("--n-real", type=int, default=6000, help="encoded real faces as pairs (default 6000)")
    p.add_argument("--n-samples", type=int, default=6000, help="sampled W+ renders as pairs (default 6000)")
    p.add_argument("--target", choices=("render", "photo", "both"), default="render",
                   help="descriptor paired with a real face's code: of its render (default), its photo, or both")
    p.add_argument("--no-samples", action="store_true", help="train on the real pairs only")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--hidden", type=int, default=512)
    p.add_argument("--depth", type=int, default=3)
    p.add_argument("--dropout", type=float, default=0.2)
    p.add_argument("--desc-noise", type=float, default=0.0, help="input noise (share of each coordinate's std)")
    p.add_argument("--cycle-weight", type=float, default=0.0,
                   help="weight of the cycle loss: render the predicted code, read its descriptor with the "
                        "descriptor student, match the input (default 0: latent loss only)")
    p.add_argument("--cycle-batch", type=int, default=16, help="descriptors rendered per step by the cycle loss")
    p.add_argument("--cycle-rows", type=int, default=0,
                   help="the cycle loss moves only the first N W+ rows (default 0: all)")
    p.add_argument("--student", help="descriptor student of the cycle loss (default: the built-in one)")
    p.add_argument("--init", help="start from this mapper's weights (fine-tune), e.g. the built-in one's file")
    p.add_argument("--spread-faces", type=int, default=0,
                   help="calibrate the spread on this many training photos after training (default 0: none, "
                        "spread 1; see `faceedit train embedding-spread`)")
    p.set_defaults(func=run)

    p = sub.add_parser(
        "embedding-spread", help="calibrate an embedding mapper's spread (written into its JSON sidecar)",
        description="An L2-trained mapper predicts codes closer to the average face than the faces it learned "
                    "from. from-embedding moves its code away from the mean code: w_mean + spread x (w - w_mean). "
                    "This renders the codes of training photos' descriptors for each spread in "
                    "faceedit.embedding.SPREADS and keeps the one with the smallest median dlib distance to the "
                    "photo among those whose faces dlib still finds in >= 95 %; it writes meta.spread "
                    "(`faceedit train embedding-mapper --spread-faces N` does this at the end). No held-out photo "
                    "is read. The built-in mapper keeps spread 1: on held-out photos 1.15 lowered dlib's distance "
                    "but the independent recogniser and validator did not see a better likeness.")
    p.add_argument("--mapper", required=True, help="mapper file to calibrate (its .json is rewritten)")
    p.add_argument("--pairs", required=True, help="its pair folder (the real pairs' photo descriptors are read)")
    p.add_argument("--faces", type=int, default=400, help="training photos to measure on (default 400)")
    p.add_argument("--generator", help="generator of the pairs (default: the built-in one)")
    p.add_argument("--measure-only", action="store_true",
                   help="write the table but keep spread 1 (how the built-in mapper's table was recorded)")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.set_defaults(func=run_spread)

    p = sub.add_parser(
        "descriptor-student", help="differentiable imitation of dlib's descriptor (for from-embedding --refine)",
        description="Train a small CNN to predict dlib's 128-d descriptor of 64 px aligned faces, on the "
                    "embedding mapper's pairs (photos and renders with their descriptors; no held-out identity). "
                    "Writes OUT/descriptor_student.safetensors + .json, OUT/log.csv, OUT/checkpoint.pt.")
    _common(p, 6000)
    p.add_argument("--pairs", required=True, help="pair folder of `faceedit train embedding-mapper`")
    p.add_argument("--generator", help="generator (default: the built-in one)")
    p.set_defaults(func=run_student)

    p = sub.add_parser(
        "face-recognizer", help="independent face recogniser (judges the identity of generated faces)",
        description="Metric learning (CosFace) on the CelebA identities of the cache's training split (held-out "
                    "identities excluded), 32 px; never used to train or refine the embedding mapper. "
                    "Writes OUT/face_recognizer.safetensors + .json, OUT/log.csv, OUT/checkpoint.pt.")
    _common(p, 3000)
    p.set_defaults(func=run_recognizer)


def _cache(args: argparse.Namespace) -> str:
    from ..train.data import default_cache_dir

    return args.cache or str(default_cache_dir() / "faces64.npz")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..errors import ConfigError
    from ..train.ddp import launched_by_torchrun, training_process
    from ..train.embedding_mapper import MapperSettings, train_embedding_mapper
    from ..train.embedding_pairs import PairSettings, make_pairs

    pairs = args.pairs or str(Path(args.out) / "pairs")
    if launched_by_torchrun():  # the ranks would all make the same pairs
        if not (Path(pairs) / "pairs.json").is_file():
            raise ConfigError(f"{pairs}: no finished pairs; make them in one process first (without torchrun, "
                              "e.g. with --steps 0), then train with torchrun")
    else:
        make_pairs(PairSettings(out=pairs, n_real=args.n_real, n_samples=args.n_samples, seed=args.seed),
                   cache=_cache(args), latents=args.latents, generator=args.generator, encoder=args.encoder,
                   threads=args.threads)
    with training_process(args.device) as (world, device):  # under torchrun: with the other processes
        path = train_embedding_mapper(MapperSettings(
            pairs=pairs, out=args.out, target=args.target, use_samples=not args.no_samples, steps=args.steps,
            minutes=args.minutes, batch=args.batch, lr=args.lr, hidden=args.hidden, depth=args.depth,
            dropout=args.dropout, desc_noise=args.desc_noise, seed=args.seed, resume=args.resume,
            threads=args.threads, device=str(device), cycle_weight=args.cycle_weight, cycle_batch=args.cycle_batch,
            cycle_rows=args.cycle_rows, student=args.student, cache=_cache(args), generator=args.generator,
            init=args.init, spread_faces=args.spread_faces))
    return _wrote(world, path)


def run_spread(args: argparse.Namespace) -> int:
    """Calibrate, print the table, write the spread."""
    import torch

    from ..errors import DataError
    from ..models.checkpoints import load_generator
    from ..models.embedding_mapper import load_embedding_mapper
    from ..train.embedding_mapper import calibrate_spread, save_spread, training_photo_descriptors

    if args.threads:
        torch.set_num_threads(args.threads)
    photos = training_photo_descriptors(args.pairs, args.faces)
    if photos is None:
        raise DataError(f"{args.pairs}: no real pairs with photo descriptors (make them with "
                        "`faceedit train embedding-mapper`)")
    cal = calibrate_spread(photos, load_generator(args.generator).eval(), load_embedding_mapper(args.mapper))
    for k, row in cal.table.items():
        print(f"spread {k:g}: dlib median {row['median']:.3f}, share < 0.6 {row['share_below_0.6']:.1%}, "
              f"dlib finds {row['detection']:.1%}")
    save_spread(args.mapper, cal, adopt=not args.measure_only)
    print(f"spread {1.0 if args.measure_only else cal.spread:g} written to {args.mapper}"
          + (f" (measured only; the calibration chose {cal.spread:g})" if args.measure_only else ""))
    return 0


def _wrote(world, path) -> int:
    if world.main:
        print(f"wrote {path}")
    return 0


def run_student(args: argparse.Namespace) -> int:
    from ..train.ddp import training_process
    from ..train.descriptor_student import StudentSettings, train_descriptor_student

    with training_process(args.device) as (world, device):
        path = train_descriptor_student(StudentSettings(
            pairs=args.pairs, cache=_cache(args), out=args.out, generator=args.generator, steps=args.steps,
            minutes=args.minutes, seed=args.seed, resume=args.resume, threads=args.threads, device=str(device)))
    return _wrote(world, path)


def run_recognizer(args: argparse.Namespace) -> int:
    from ..train.ddp import training_process
    from ..train.face_recognizer import RecognizerSettings, train_face_recognizer

    with training_process(args.device) as (world, device):
        path = train_face_recognizer(RecognizerSettings(
            cache=_cache(args), out=args.out, steps=args.steps, minutes=args.minutes, seed=args.seed,
            resume=args.resume, threads=args.threads, device=str(device)))
    return _wrote(world, path)

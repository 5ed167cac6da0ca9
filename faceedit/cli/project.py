"""``faceedit project``: put face images into a generator's W+ (encoder, then optimisation), in batches."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._executor import add_executor_arguments


def register(subparsers) -> None:
    """Add the ``project`` command."""
    p = subparsers.add_parser(
        "project", help="project face images into W+ (latents, reconstructions, metrics)",
        description="Project aligned face images (or raw photos with --align) into the generator's W+. Writes "
        "OUT/projected_latents/{stem}.npy (n_latent x style_dim float32), OUT/projected_images/{stem}.png and "
        "OUT/metrics.json. Results are cached by image content + settings; --force recomputes. Exit code 0 "
        "when all images succeeded, 1 when some failed (listed), 2 on bad arguments.")
    p.add_argument("inputs", nargs="+", metavar="IMAGE_OR_DIR", help="image files or folders of images")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--preset", default="balanced", choices=("fast", "balanced", "faithful"),
                   help="fast = encoder only; balanced = short refinement (default); faithful = long refinement")
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                   help="generator (registered name or checkpoint path; default: the built-in model)")
    p.add_argument("--encoder", default=None, metavar="PATH",
                   help="encoder checkpoint (default: the built-in one when --model is not given; 'none' "
                   "starts from the mean W)")
    p.add_argument("--discriminator", default=None, metavar="PATH",
                   help="discriminator for the perceptual loss when LPIPS weights are not available")
    p.add_argument("--align", action="store_true", help="inputs are raw photos: detect and align the largest face")
    p.add_argument("--force", action="store_true", help="recompute images already in the output's cache")
    p.add_argument("--steps", type=int, default=None, help="optimisation steps (overrides the preset)")
    p.add_argument("--batch-size", type=int, default=None, help="images optimised together (default 8)")
    p.add_argument("--config", default=None, metavar="TOML", help="a TOML file of projection settings")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override any projection setting, e.g. --set optimizer=lbfgs --set noise=true")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|mps|auto",
                   help="where the models run (default cpu: reproducible; auto: CUDA, then MPS, then the CPU); "
                   "printed and saved in metrics.json")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_executor_arguments(p)
    p.set_defaults(func=run, parser=p)


def make_projector(args: argparse.Namespace, settings, progress: bool = False):
    """The generator, encoder, discriminator and :class:`~faceedit.projection.project.Projector` the arguments name
    (run here, or once on each Ray worker)."""
    import torch

    from ..models.checkpoints import load_discriminator, load_generator
    from ..models.encoder import load_encoder
    from ..projection.project import Projector

    torch.manual_seed(settings.seed)
    generator = load_generator(args.model)
    encoder = None
    if settings.init == "encoder" and (args.encoder or "").lower() != "none":
        if args.encoder:
            encoder = load_encoder(args.encoder)
        elif args.model is None:
            encoder = load_encoder(None)
    discriminator = load_discriminator(args.discriminator) if args.discriminator else None
    return Projector(generator, encoder, settings, discriminator=discriminator, device=args.device, progress=progress)


def run(args: argparse.Namespace) -> int:
    """Load the models, run :func:`faceedit.projection.project.project_files`, print the summary; exit code 0/1/2."""
    import dataclasses
    import functools

    from ..config import load_config
    from ..devices import check_device_name, describe_device, resolve_device
    from ..distributed import check_executor
    from ..errors import ConfigError, InvalidInput
    from ..images import list_images
    from ..projection.project import ProjectionSettings, project_files

    try:
        defaults = dataclasses.asdict(ProjectionSettings.from_preset(args.preset))
        cfg = load_config(defaults, args.config, args.set)
        for key in ("steps", "batch_size"):
            if getattr(args, key) is not None:
                cfg[key] = getattr(args, key)
        settings = ProjectionSettings.from_preset(args.preset, **cfg)
        check_executor(args.executor)
        if args.executor == "local":
            args.device = str(resolve_device(args.device))
        else:  # resolved on each Ray worker
            args.device = check_device_name(args.device)
    except (ConfigError, InvalidInput) as e:
        return _usage_error(args, str(e))
    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        return _usage_error(args, f"no such file or folder: {', '.join(missing)}")
    files = list_images(args.inputs)
    if not files:
        return _usage_error(args, "no images found (folders are searched for .png/.jpg/.webp/.bmp/.tif files)")
    from ..io import remove_temp_files

    remove_temp_files(args.out)  # the unfinished writes of a killed run (before any worker writes)
    if args.executor == "ray":
        if len({f.stem for f in files}) < len(files):
            return _usage_error(args, "--executor ray needs distinct file names (some inputs share a stem)")
        from ._executor import project_on_ray

        summary, devices = project_on_ray(args, files, functools.partial(make_projector, args, settings),
                                          settings.batch_size)
        where = f"{', '.join(sorted(set(devices))) or args.device} on {len(devices)} Ray worker(s)"
        perceptual = _saved_perceptual(Path(args.out))
    else:
        projector = make_projector(args, settings, progress=not args.quiet)
        where, perceptual = describe_device(projector.device), projector.perceptual_name
        print(f"device: {where}", file=sys.stderr)
        summary = project_files(args.inputs, args.out, projector, align=args.align, force=args.force,
                                progress=not args.quiet)
    n_ok = len(summary.done) + len(summary.cached)
    print(f"projected {n_ok} image(s) ({len(summary.cached)} from cache) with {args.preset!r} "
          f"[perceptual: {perceptual}; device: {where}] -> {args.out}")
    if summary.failures:
        print(f"{len(summary.failures)} failed:", file=sys.stderr)
        for f in summary.failures:
            print(f"  {f['source']}: {f['error']}", file=sys.stderr)
        return 1
    return 0


def _saved_perceptual(out: Path) -> str:
    """The perceptual loss recorded in ``out/metrics.json`` (what the Ray workers used)."""
    from ..io import load_json

    try:
        return str(load_json(out / "metrics.json").get("perceptual", "?"))
    except (OSError, ValueError, AttributeError):
        return "?"


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """Bad arguments: usage + one error line, exit code 2 (as argparse does)."""
    args.parser.print_usage(sys.stderr)
    print(f"error: {message}", file=sys.stderr)
    return 2

"""``faceedit edit PHOTO_OR_DIR... --apply NAME[=STRENGTH] --out DIR``: edit whole photos in one command."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, Callable

from ._executor import add_executor_arguments

EXAMPLES = """\
examples:
  faceedit edit photo.jpg --apply A_2 --out edited/
      older (the A_2 translation at its default strength): edited/photo.jpg, whole photo, JPEG quality 95
  faceedit edit photos/ --apply Hc_1=0.7 --apply B_1 --face 0 --crops --out edited/
      every photo of a folder, blond hair at 0.7 plus bangs on the largest face only; crops in edited/crops/
  faceedit edit group.png --recipe older.json --edit-mode replace --mixups domain,segmentation --out out/
      a saved recipe (e.g. from the editor), the render pasted instead of transferred, no depth mixup

outputs:
  DIR/{stem}.{ext} per photo: the whole photo at its original size, upright (EXIF orientation applied and
  the tag reset), colour profile and EXIF kept; JPEG input -> JPEG (quality 95, the input's chroma
  subsampling), PNG/TIFF/WebP/BMP input -> PNG (an alpha channel is kept; 16-bit input is converted to
  8-bit with a warning). Inputs that share a stem get _2, _3, ... in input order (a/x.jpg -> x.jpg,
  b/x.jpg -> x_2.jpg). With --crops: DIR/crops/{stem}_face{i}_before.png and _after.png (aligned faces).

edit modes:
  transfer (default) carries the generator's edit onto the photo's own pixels (the photo's sharpness and
  detail stay); replace pastes the generator's render (today's look of the built-in 64 px model: blurry).
  Either way the mixups then restrict the edit to its region, and only the change is pasted back: pixels
  the edit does not touch are bit-identical (PNG output).

exit codes: 0 all photos done; 1 some photos failed (no face, unreadable; listed, the others are still
written); 2 bad arguments (unknown translation, strength not a number, wrong-model translation, --out
being an input folder without --overwrite).
"""


def register(subparsers) -> None:
    """Add the ``edit`` command."""
    p = subparsers.add_parser(
        "edit", help="edit the faces of whole photos (align, project, translate, transfer, mix, paste back)",
        description="Edit every face of each photo with the given translations, combined into one latent "
        "edit (as a recipe is), and write the whole edited photo. Projections are cached on disk by aligned "
        "face content, model and preset ($FACEEDIT_HOME/projections, default ~/.cache/faceedit/projections).",
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", metavar="PHOTO_OR_DIR", help="photos or folders of photos (not recursive)")
    p.add_argument("--apply", action="append", default=[], metavar="NAME[=STRENGTH]",
                   help="a translation (name in translations/<model-id>/ or --translations, or a .npy file) and "
                   "its strength (default: the translation's own); repeat to combine edits")
    p.add_argument("--recipe", metavar="JSON", help="a recipe file (steps); --apply edits are added after it")
    p.add_argument("--translations", action="append", default=[], metavar="DIR",
                   help="a folder of translations searched before the shipped ones (repeatable)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument("--face", default="all", metavar="all|I",
                   help="edit every face (default) or only face I (0 = the largest)")
    p.add_argument("--edit-mode", default="transfer", choices=("transfer", "replace"),
                   help="transfer the edit onto the photo's pixels (default) or paste the render")
    p.add_argument("--mixups", default="domain,segmentation,depth", metavar="STEPS",
                   help="comma-separated mixup steps run after the edit, or 'none' (default: all three)")
    p.add_argument("--model", default=None, metavar="NAME_OR_PATH",
                   help="generator (registered name or checkpoint path; default: the built-in model)")
    p.add_argument("--encoder", default="auto", metavar="PATH",
                   help="W+ encoder of --model (e.g. the one `faceedit train rebuild-suite` made for it); default: "
                        "the built-in one when it was trained for the model; 'none': start from the mean W")
    p.add_argument("--preset", default="fast", choices=("fast", "balanced", "faithful"),
                   help="projection: fast = encoder only (default); balanced / faithful refine it")
    p.add_argument("--crops", action="store_true", help="also write the aligned face before and after, per face")
    p.add_argument("--overwrite", action="store_true",
                   help="allow --out to be a folder of the inputs (originals with the output's name are replaced)")
    p.add_argument("--cache", metavar="DIR", default=None,
                   help="projection cache folder (default $FACEEDIT_HOME/projections)")
    p.add_argument("--no-cache", action="store_true", help="do not read or write the projection cache")
    p.add_argument("--timings", action="store_true", help="print the seconds of each stage per photo")
    p.add_argument("--device", default="cpu", metavar="cpu|cuda|mps|auto",
                   help="where the models run (default cpu: reproducible; auto: CUDA, then MPS, then the CPU)")
    add_executor_arguments(p)
    p.set_defaults(func=run, parser=p)


def parse_apply(values: list[str]) -> dict[str, float | None]:
    """``["A_2", "Hc_1=0.7"]`` → ``{"A_2": None, "Hc_1": 0.7}``; a strength that is not a number raises
    :class:`~faceedit.errors.InvalidInput`."""
    import math

    from ..errors import InvalidInput

    out: dict[str, float | None] = {}
    for value in values:
        name, sep, strength = value.rpartition("=") if "=" in value else (value, "", "")
        name = name.strip()
        if not name:
            raise InvalidInput(f"--apply {value!r}: no translation name")
        if sep:
            try:
                number = float(strength)
            except ValueError:
                raise InvalidInput(f"--apply {value!r}: strength {strength!r} is not a number") from None
            if not math.isfinite(number):
                raise InvalidInput(f"--apply {value!r}: strength must be finite")
            out[name] = number
        else:
            out[name] = None
    return out


def run(args: argparse.Namespace) -> int:
    """Check the arguments (exit 2 on a bad one), build one PhotoEditor, edit every photo (exit 0/1)."""
    import functools

    from ..compose.photo_edit import EditSettings, default_cache_dir
    from ..devices import check_device_name, resolve_device
    from ..distributed import check_executor
    from ..errors import CheckpointError, ConfigError, DataError, InvalidInput, InvalidTranslationName, ModelMismatch
    from ..images import list_images
    from . import encoder_option

    try:
        applied = parse_apply(args.apply)
        if not applied and not args.recipe:
            raise InvalidInput("nothing to apply: give --apply NAME[=STRENGTH] or --recipe FILE")
        edits = ([args.recipe] if args.recipe else []) + ([applied] if applied else [])
        face = args.face if args.face == "all" else _face_index(args.face)
        mixups = () if args.mixups.strip().lower() in ("none", "") else tuple(
            s.strip() for s in args.mixups.split(",") if s.strip())
        cache = None if args.no_cache else Path(args.cache) if args.cache else default_cache_dir()
        settings = EditSettings(preset=args.preset, edit_mode=args.edit_mode, mixups=mixups, face=face,
                                cache_dir=cache, device=args.device)
        if check_executor(args.executor) == "local":
            resolve_device(args.device)
        else:  # resolved on each Ray worker
            check_device_name(args.device)
        encoder = encoder_option(args.encoder)
    except (InvalidInput, InvalidTranslationName, ConfigError) as e:
        return _usage_error(args, str(e))
    missing = [p for p in args.inputs if not Path(p).exists()]
    if missing:
        return _usage_error(args, f"no such file or folder: {', '.join(missing)}")
    paths = list_images(args.inputs)
    if not paths:
        return _usage_error(args, "no photos found (folders are searched for .png/.jpg/.webp/.bmp/.tif files)")
    out = Path(args.out)
    clash = _input_folder_clash(out, args.inputs, paths)
    if clash and not args.overwrite:
        return _usage_error(args, f"--out {out} is the folder of input {clash}: refusing to overwrite the "
                            "originals (pick another folder or pass --overwrite)")
    names = output_stems(paths)
    make = functools.partial(photo_process, edits, args.model, settings, list(args.translations), out, names,
                             bool(args.crops), bool(args.timings), encoder)
    if args.executor == "ray":
        from ._executor import for_each_image_on_ray

        return for_each_image_on_ray(args, paths, "edit", make)
    try:
        process = make()
    except (DataError, ModelMismatch, InvalidInput, InvalidTranslationName, CheckpointError) as e:
        return _usage_error(args, str(e))
    print(f"device: {process.device_name}", file=sys.stderr)

    from ._batch import for_each_image

    return for_each_image([str(p) for p in paths], "edit", process)


def photo_process(edits: Any, model: Any, settings: Any, translations: list[str], out: Path,
                  names: dict[Path, str], crops: bool, timings: bool,
                  encoder: Any = "auto") -> Callable[[Path], None]:
    """One :class:`~faceedit.compose.photo_edit.PhotoEditor` (models loaded here: in this process, or once per Ray
    worker) and the function that edits and writes one photo with it (``.device_name``: where it runs)."""
    import time
    import warnings

    from ..devices import describe_device
    from ..compose.photo_edit import PhotoEditor

    editor = PhotoEditor(edits, model, settings, encoder=encoder, translations=translations)

    def process(path: Path) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # the photo's notes are printed below instead
            result = editor.edit(path)
        start = time.perf_counter()
        _write(result, out, names[Path(path)], crops)
        result.timings["save"] = time.perf_counter() - start
        for note in result.notes:
            print(f"warning: {path}: {note}", file=sys.stderr)
        if timings:
            stages = " ".join(f"{k} {v:.2f}" for k, v in result.timings.items())
            print(f"{path}: {len(result.faces)} face(s); seconds: {stages}; total {sum(result.timings.values()):.2f}")

    process.device_name = describe_device(editor.device)  # type: ignore[attr-defined]
    return process


def output_stems(paths: list[Path]) -> dict[Path, str]:
    """One output stem per input: its own, or ``{stem}_2``, ``_3``... when an earlier input (or a name made so)
    already has it (case-insensitive)."""
    taken: set[str] = set()
    out: dict[Path, str] = {}
    for path in paths:
        stem, k = path.stem, 1
        while stem.lower() in taken:
            k += 1
            stem = f"{path.stem}_{k}"
        taken.add(stem.lower())
        out[path] = stem
    return out


def _write(result, out: Path, stem: str, crops: bool) -> None:
    """The edited photo (and the crops) of one input, each written atomically."""
    from ..images import save_image, write_photo

    photo = result.photo
    if crops:
        for fe in result.faces:
            save_image(out / "crops" / f"{stem}_face{fe.index}_before.png", fe.face.image)
            save_image(out / "crops" / f"{stem}_face{fe.index}_after.png", fe.edited)
    write_photo(out / f"{stem}{photo.output_suffix()}", result.image, photo)


def _face_index(value: str) -> int:
    from ..errors import InvalidInput

    try:
        return int(value)
    except ValueError:
        raise InvalidInput(f"--face must be 'all' or a face index (0 = the largest); got {value!r}") from None


def _input_folder_clash(out: Path, inputs: list[str], paths: list[Path]) -> str | None:
    """The first input whose folder is ``out`` (a folder given as input, or the folder of a photo)."""
    target = out.resolve()
    for given in inputs:
        if Path(given).is_dir() and Path(given).resolve() == target:
            return given
    for path in paths:
        if path.resolve().parent == target:
            return str(path)
    return None


def _usage_error(args: argparse.Namespace, message: str) -> int:
    """Bad arguments: usage + one error line, exit code 2 (as argparse does)."""
    args.parser.print_usage(sys.stderr)
    print(f"error: {message}", file=sys.stderr)
    return 2

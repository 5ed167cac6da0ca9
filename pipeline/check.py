"""Validate a challenge submission: ``python -m pipeline.check DIR_OR_ZIP [--references DIR]``.

A submission holds one folder per reference face, named like the reference image without its suffix,
with one ``{translation}.png`` per required change.  The required set comes from the naming rules in
:mod:`faceedit.edit.translations` (``required_targets``); this module only compares it with what is there.
Every problem is listed (missing, extra, unreadable, not PNG, not RGB, wrong size); the exit code is 1 when
there is any.  A zip may wrap the folders in one top-level folder (e.g. ``output_images/``).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

from faceedit.cli import CommandParser
from faceedit.errors import FaceEditError, InvalidInput, InvalidTranslationName

OUTPUT_SIZE = 512


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a submission: where (a path inside it) and what."""

    where: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.what}"


def expected_targets(reference_name: str) -> list[str]:
    """The translation names a reference needs, from its labels (its file or folder name)."""
    from faceedit.edit.translations import parse_reference_labels, required_targets

    return list(required_targets(parse_reference_labels(reference_name)))


def check_submission(
    path: str | os.PathLike,
    references: str | os.PathLike | Sequence[str] | None = None,
    size: int = OUTPUT_SIZE,
) -> list[Problem]:
    """Every problem of the submission at ``path`` (a folder or a ``.zip``); an empty list when it is valid.

    ``references`` is the folder of reference images (or a list of reference names): then the set of
    reference folders must match it exactly; without it the folders present define the references.
    """
    files = _submission_files(Path(path))
    problems: list[Problem] = []
    by_reference: dict[str, dict[str, Callable[[], bytes]]] = defaultdict(dict)
    for rel, read in sorted(files.items()):
        parts = rel.split("/")
        if len(parts) != 2:
            problems.append(Problem(rel, "extra file (outputs must be REFERENCE/TRANSLATION.png)"))
        else:
            by_reference[parts[0]][parts[1]] = read

    if references is None:
        names = sorted(by_reference)
    else:
        names = _reference_names(references)
        for extra in sorted(set(by_reference) - set(names)):
            problems.append(Problem(f"{extra}/", "extra folder (no such reference image)"))
    if not names:
        problems.append(Problem(str(path), "no reference folders found"))

    for name in names:
        try:
            targets = expected_targets(name)
        except (InvalidTranslationName, InvalidInput) as e:
            problems.append(Problem(f"{name}/", f"not a reference label name: {e}"))
            continue
        present = by_reference.get(name, {})
        if not present:
            problems.append(Problem(f"{name}/", f"missing folder ({len(targets)} images expected)"))
            continue
        wanted = {f"{t}.png" for t in targets}
        for file in sorted(wanted - set(present)):
            problems.append(Problem(f"{name}/{file}", "missing"))
        for file in sorted(set(present) - wanted):
            problems.append(Problem(f"{name}/{file}", "extra file (not a required translation)"))
        for file in sorted(wanted & set(present)):
            problems.extend(Problem(f"{name}/{file}", what) for what in image_problems(present[file](), size))
    return sorted(problems)


def image_problems(data: bytes, size: int = OUTPUT_SIZE) -> list[str]:
    """What is wrong with one output file's bytes: not a PNG, unreadable, not RGB, not ``size``×``size``."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            fmt, mode, dims = im.format, im.mode, im.size
            im.load()
    except UnidentifiedImageError:
        return ["not an image file"]
    except (OSError, SyntaxError, ValueError) as e:
        return [f"corrupt or truncated image ({e})"]
    out = []
    if fmt != "PNG":
        out.append(f"not a PNG file (format {fmt})")
    if mode != "RGB":
        out.append(f"not RGB (mode {mode})")
    if dims != (size, size):
        out.append(f"size {dims[0]}x{dims[1]}, expected {size}x{size}")
    return out


def _reference_names(references: str | os.PathLike | Sequence[str]) -> list[str]:
    if isinstance(references, (str, os.PathLike)):
        from faceedit.images import list_images

        folder = Path(references)
        if not folder.is_dir():
            raise InvalidInput(f"{folder}: references folder not found")
        return sorted(p.stem for p in list_images([folder]))
    return sorted(references)


def _submission_files(path: Path) -> dict[str, Callable[[], bytes]]:
    """Relative POSIX path → reader of every file in a folder or zip, minus one wrapping top folder."""
    files: dict[str, Callable[[], bytes]] = {}
    if path.is_dir():
        for p in sorted(path.rglob("*")):
            if p.is_file():
                files[p.relative_to(path).as_posix()] = p.read_bytes
    elif path.is_file() and zipfile.is_zipfile(path):
        archive = zipfile.ZipFile(path)
        for info in archive.infolist():
            if not info.is_dir():
                files[info.filename] = (lambda n=info.filename: archive.read(n))
    elif path.exists():
        raise InvalidInput(f"{path}: neither a folder nor a zip file")
    else:
        raise InvalidInput(f"{path}: no such file or folder")
    return _strip_wrapper(files)


def _strip_wrapper(files: dict[str, Callable[[], bytes]]) -> dict[str, Callable[[], bytes]]:
    parts = [rel.split("/") for rel in files]
    tops = {p[0] for p in parts}
    if len(tops) == 1 and parts and all(len(p) >= 3 for p in parts):
        return {rel.split("/", 1)[1]: read for rel, read in files.items()}
    return files


def format_report(problems: Iterable[Problem], limit: int | None = None) -> str:
    """Problems as ``where: what`` lines, at most ``limit`` of them."""
    problems = list(problems)
    lines = [str(p) for p in (problems if limit is None else problems[:limit])]
    if limit is not None and len(problems) > limit:
        lines.append(f"... and {len(problems) - limit} more")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m pipeline.check`` argument parser."""
    parser = CommandParser(
        prog="python -m pipeline.check",
        description="Validate a Ceteris Paribus Face Challenge submission: exactly the required "
        "REFERENCE/TRANSLATION.png files (from the naming rules), each a 512x512 RGB PNG, nothing extra. "
        "Lists every problem; exit code 1 when there is any.",
    )
    parser.add_argument("submission", help="output folder (e.g. OUT/output_images) or a .zip")
    parser.add_argument(
        "--references", metavar="DIR",
        help="folder of the reference images: the reference folders must match it exactly "
        "(default: the folders present define the references)",
    )
    parser.add_argument("--size", type=int, default=OUTPUT_SIZE, help="required image size (default 512)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the checker; returns 0 when the submission is valid, 1 otherwise."""
    args = build_parser().parse_args(argv)
    try:
        problems = check_submission(args.submission, args.references, args.size)
    except FaceEditError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if problems:
        print(format_report(problems))
        print(f"{len(problems)} problem(s) in {args.submission}", file=sys.stderr)
        return 1
    n = len(_submission_files(Path(args.submission)))
    print(f"OK: {args.submission} holds exactly the required {n} images")
    return 0


if __name__ == "__main__":
    sys.exit(main())

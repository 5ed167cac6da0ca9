"""The ``faceedit`` command line.

Each sub-command lives in its own module of this package and exposes ``register(subparsers)``, which
adds its parser and sets ``func`` (called with the parsed arguments, returns an exit code).  Modules are
discovered, so adding a command never touches this file.  Command modules import heavy libraries only
inside their ``run`` function, so that ``faceedit --help`` stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from typing import Callable, NoReturn, Sequence

from ..errors import FaceEditError


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one ``error:`` line (with where to find help) and exit
    code 2, like every other bad input of the command line; its sub-parsers are of the same class."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"error: {self.prog}: {message} (see `{self.prog} --help`)\n")


def encoder_option(value: str | None) -> str | None:
    """The value of an ``--encoder`` option (``faceedit edit``, the editor): ``"auto"`` (not given, or ``auto``:
    the built-in encoder when it belongs to the model), None (``none``: start from the mean W) or the path of an
    existing model file (``.safetensors`` may be left out); InvalidInput for a path that is not there."""
    from pathlib import Path

    from ..errors import InvalidInput

    if value is None or value == "auto":
        return "auto"
    if value.lower() == "none":
        return None
    if not (Path(value).is_file() or Path(value).with_suffix(".safetensors").is_file()):
        raise InvalidInput(f"--encoder {value}: no such file")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with every discovered sub-command."""
    parser = CommandParser(
        prog="faceedit",
        description="Edit faces in the latent space of a StyleGAN2 generator: align photos, project them "
        "into W+, move them along attribute directions, mix the result back, and train the models.",
    )
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"faceedit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; FaceEditError becomes one ``error:`` line and a non-zero exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return guarded(lambda: args.func(args))


def run() -> NoReturn:
    """The ``faceedit`` program: :func:`main`, then :func:`exit_process` with its code."""
    exit_process(main())


def exit_process(code: int) -> NoReturn:
    """End the process with ``code``.  After Ctrl-C (130) it ends at once: by then every output is written
    (atomically) or cleaned up and every worker stopped, and the interpreter's teardown (torch's, a stopped
    Ray instance's connections) can take seconds more than the 2 s a stop may take."""
    if code == 130:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


def guarded(action: Callable[[], int | None], interrupted: str = "interrupted") -> int:
    """Run ``action`` as a command: its exit code, or one ``error:`` line and the error's exit code for a
    FaceEditError, or ``interrupted`` and 130 on Ctrl-C.  Shared by every faceedit entry point."""
    try:
        return int(action() or 0)
    except FaceEditError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print(interrupted, file=sys.stderr)
        return 130

"""Command line and start-up of the editor, including the scripted ``--screenshot`` mode."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Sequence

from faceedit.cli import CommandParser


def build_parser() -> argparse.ArgumentParser:
    p = CommandParser(
        prog="python -m editor",
        description="faceedit desktop editor: open a photo, move attribute sliders, undo, save the edit.",
    )
    p.add_argument("--model", help="generator checkpoint path or registered name (default: the built-in model)")
    p.add_argument("--encoder", metavar="PATH",
                   help="W+ encoder for the --model given here (e.g. the one `faceedit train rebuild-suite` made for "
                        "it); 'none': projections start from the mean W; default: the built-in encoder when it was "
                        "made for the model. Models opened later from the menu use the default")
    p.add_argument("--open", metavar="PHOTO", help="open (align and project) this photo at start-up")
    p.add_argument("--preset", choices=("fast", "balanced", "faithful"), help="projection preset (default: fast)")
    p.add_argument("--seed", type=int, metavar="N",
                   help="start from the generated face of seed N (default: the last session's face, else seed 0)")
    p.add_argument("--screenshot", metavar="OUT.png",
                   help="start, load, render, save a screenshot of the whole window, and quit")
    p.add_argument("--set", action="append", default=[], metavar="SLIDER=VALUE",
                   help="set a slider once the face is ready (e.g. translation:A_2=1.5, pca:0=-2); repeatable")
    p.add_argument("--in-photo", action="store_true", help="show the edit pasted into the photo")
    p.add_argument("--edit-mode", choices=("transfer", "replace"),
                   help="transfer the edit onto the photo (default) or replace the face by the render (saved)")
    p.add_argument("--translations", metavar="DIR", help="translations root (default: translations/)")
    p.add_argument("--size", default="1280x760", help="window size WxH (default 1280x760)")
    p.add_argument("--timeout", type=float, default=600.0, help="give up a --screenshot run after this many seconds")
    return p


def run(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, open the window, run the Qt event loop; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        width, height = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        print(f"error: --size must look like 1280x760, got {args.size!r}", file=sys.stderr)
        return 2
    from faceedit.cli import encoder_option
    from faceedit.errors import InvalidInput

    try:
        encoder = encoder_option(args.encoder)
    except InvalidInput as e:
        print(f"error: {e}", file=sys.stderr)
        return 2

    from PySide6.QtWidgets import QApplication

    from .prefs import Preferences
    from .window import MainWindow

    app = QApplication.instance() or QApplication([sys.argv[0]])
    app.setApplicationName("faceedit editor")
    prefs = Preferences.load()
    if args.preset:
        prefs.set("preset", args.preset)
    if args.edit_mode:
        prefs.set("edit_mode", args.edit_mode)
    win = MainWindow(prefs, translations_root=args.translations, interactive=args.screenshot is None,
                     encoder=encoder, start_seed=args.seed)
    install_excepthook(win, prefs.folder / "editor.log")
    win.resize(width, height)
    win.show()
    model = args.model or prefs.get("model") or None
    try:
        edits = parse_edits(args.set)
    except ValueError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    win.act_in_photo.setChecked(args.in_photo)
    if args.screenshot:
        script = ScreenshotScript(win, Path(args.screenshot), args.open, args.timeout, edits)
        win.load_model(model)
        app.exec()
        return script.exit_code
    faces = []

    def on_face() -> None:  # the start face, then (with --open) the photo's face
        faces.append(1)
        if args.open and len(faces) == 1:
            win.open_photo(args.open)
        elif len(faces) == (2 if args.open else 1) and edits:
            win.set_sliders(edits, "command line edits")

    win.face_ready.connect(on_face)
    win.load_model(model)
    return app.exec()


def parse_edits(items: Sequence[str]) -> dict[str, float]:
    """``["translation:A_2=1.5"]`` → ``{"translation:A_2": 1.5}``."""
    edits = {}
    for item in items:
        key, sep, value = item.rpartition("=")
        try:
            edits[key] = float(value)
        except ValueError:
            sep = ""
        if not sep or not key:
            raise ValueError(f"--set {item!r}: expected SLIDER=NUMBER, e.g. translation:A_2=1.5")
    return edits


def install_excepthook(win, log: Path) -> None:
    """Unexpected exceptions on the GUI thread become a message box; the traceback goes to ``log``."""
    import traceback

    from .worker import describe_error

    def hook(exc_type, exc, tb) -> None:
        try:
            log.parent.mkdir(parents=True, exist_ok=True)
            with open(log, "a") as f:
                f.write(time.strftime("%Y-%m-%d %H:%M:%S ") + "".join(traceback.format_exception(exc_type, exc, tb)))
        except OSError:
            pass
        win.show_error(f"{describe_error(exc)} (details in {log})")

    sys.excepthook = hook


class ScreenshotScript:
    """Drive the window through start-up (and ``--open``), then grab it, save it and quit."""

    def __init__(self, win, out: Path, photo: str | None, timeout: float, edits: dict[str, float]) -> None:
        from PySide6.QtCore import QTimer

        self.win, self.out, self.photo, self.edits = win, out, photo, dict(edits)
        self.deadline = time.monotonic() + timeout
        self.faces = 0
        self.exit_code = 1
        self.errors: list[str] = []
        win.face_ready.connect(self._on_face)
        win.error_shown.connect(self.errors.append)
        self.timer = QTimer()
        self.timer.timeout.connect(self._tick)
        self.timer.start(50)

    def _on_face(self) -> None:
        self.faces += 1
        if self.faces == 1 and self.photo:
            self.win.open_photo(self.photo)

    def _tick(self) -> None:
        needed = 2 if self.photo else 1
        timed_out = time.monotonic() > self.deadline
        done = self.faces >= needed and not self.win.busy()
        if done and self.edits:
            # an error ends the run; else wait for the render of the edit
            done = not self.win.set_sliders(self.edits, "command line edits")
            self.edits = {}
        if not (done or self.errors or timed_out):
            return
        self.timer.stop()
        self._grab()
        for e in self.errors:
            print(f"error: {e}", file=sys.stderr)
        if timed_out and not done:
            print("error: timed out before the edit was rendered", file=sys.stderr)
        self.exit_code = 0 if done and not self.errors else 1
        self.win.close()
        from PySide6.QtWidgets import QApplication

        QApplication.instance().quit()

    def _grab(self) -> None:
        from faceedit.images import save_image

        from .widgets import from_qimage

        self.win.repaint()
        image = from_qimage(self.win.grab().toImage())
        save_image(self.out, image)
        print(f"screenshot: {self.out} ({image.shape[1]}x{image.shape[0]})")

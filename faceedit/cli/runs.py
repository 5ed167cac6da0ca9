"""``faceedit runs report|video RUN``: curves and training-progress videos of a ``faceedit train`` run folder."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    parser = subparsers.add_parser("runs", help="report curves and make training videos of a training run",
                                   description="Look at a run folder of `faceedit train`.")
    sub = parser.add_subparsers(dest="runs_command", metavar="ACTION", required=True)
    p = sub.add_parser("report", help="loss and evaluation curves (PNG) in a small HTML page (needs matplotlib)")
    p.add_argument("run", help="run folder (log.jsonl, eval.jsonl, samples/)")
    p.add_argument("--out", help="HTML file (default RUN/report.html); plots go to <name>_plots/ beside it")
    p.set_defaults(func=run_report)
    p = sub.add_parser("video", help="the sample grids as a captioned video (.mp4 via OpenCV, or .gif)",
                       description="MP4 uses OpenCV's MPEG-4 Part 2 (mp4v) writer, no ffmpeg binary: VLC, mpv, "
                                   "ffplay and Windows Films & TV play it, most browsers and QuickTime do not; "
                                   "write a .gif for browsers.")
    p.add_argument("run", help="run folder with samples/step*.png")
    p.add_argument("--out", required=True, help="output .mp4 or .gif")
    p.add_argument("--fps", type=float, default=4.0, help="frames per second (default 4)")
    p.add_argument("--skip", type=int, default=1, help="use every N-th grid (default 1; the last is always shown)")
    p.add_argument("--scale", type=int, default=2, help="enlarge the grids N times (default 2)")
    p.set_defaults(func=run_video)


def run_report(args: argparse.Namespace) -> int:
    from ..train.reports import write_report

    print(f"wrote {write_report(args.run, args.out)}")
    return 0


def run_video(args: argparse.Namespace) -> int:
    from ..train.reports import write_video

    path, n = write_video(args.run, args.out, args.fps, args.skip, args.scale)
    print(f"wrote {path}: {n} frames")
    return 0

"""Training runs as pictures: loss and metric curves in a small HTML report, and the sample grids as a video.

A run folder of ``faceedit train`` holds ``log.jsonl`` (losses every ``log_every`` steps), ``eval.jsonl``
(per-checkpoint evaluation, when enabled), ``config.toml`` and ``samples/stepNNNNNNN.png``.

- :func:`write_report`: one PNG plot per logged quantity (matplotlib — the optional ``faceedit[plots]`` extra,
  imported only here and drawn on an off-screen Agg canvas, so no global backend is set), the last evaluation
  as a table, the config, and the last sample grid, in ``report.html`` beside the plots.
- :func:`write_video`: every ``skip``-th sample grid with a "step N · K kimg" caption, as MP4 (OpenCV's own
  writer, codec ``mp4v`` = MPEG-4 Part 2: VLC, mpv, ffplay and Windows' Films & TV play it; browsers and
  QuickTime usually do not) or as an animated GIF (plays in every browser).
"""
from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DataError, FaceEditError, InvalidInput

_STEP = re.compile(r"step(\d+)\.png$")
#: the keys of a log that are not curves
_NOT_CURVES = {"step", "kimg", "n"}


class MissingExtra(FaceEditError):
    """An optional dependency (an ``extras_require`` of setup.py) is not installed."""


def read_log(path: str | os.PathLike) -> list[dict[str, Any]]:
    """The rows of a ``.jsonl`` log (empty when the file does not exist); DataError for a damaged line."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except ValueError:
                raise DataError(f"{path}:{i}: not a JSON line") from None
    return rows


def sample_grids(run: str | os.PathLike) -> list[tuple[int, Path]]:
    """``(step, path)`` of the run's sample grids in step order."""
    folder = Path(run) / "samples"
    found = [(int(m.group(1)), p) for p in folder.glob("step*.png") if (m := _STEP.search(p.name))] \
        if folder.is_dir() else []
    return sorted(found)


def _check_run(run: str | os.PathLike) -> Path:
    run = Path(run)
    if not run.is_dir():
        raise InvalidInput(f"{run}: no such run folder")
    if not (run / "log.jsonl").is_file() and not sample_grids(run):
        raise DataError(f"{run}: not a training run (no log.jsonl and no samples/step*.png)")
    return run


def _batch(run: Path) -> int | None:
    """``train.batch`` of the run's config (for kimg captions), if known."""
    import tomllib

    try:
        return int(tomllib.loads((run / "config.toml").read_text())["train"]["batch"])
    except (OSError, KeyError, ValueError, TypeError):
        return None


def curves(rows: list[dict[str, Any]]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Numeric quantity → (steps, values) over the rows that have it (strings and the step counters skipped)."""
    out: dict[str, tuple[list[float], list[float]]] = {}
    for r in rows:
        for k, v in r.items():
            if k not in _NOT_CURVES and isinstance(v, (int, float)) and not isinstance(v, bool):
                out.setdefault(k, ([], []))
                out[k][0].append(float(r.get("step", len(out[k][0]))))
                out[k][1].append(float(v))
    return {k: (np.array(s), np.array(v)) for k, (s, v) in out.items()}


def _plot(path: Path, name: str, steps: np.ndarray, values: np.ndarray) -> None:
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingExtra("plots need matplotlib: pip install 'faceedit[plots]' (or matplotlib)") from None
    fig = Figure(figsize=(4.8, 3.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(steps, values, lw=1.0, marker="o" if len(steps) < 30 else None, ms=3)
    if len(values) >= 50:  # a running mean over ~1/20 of the run makes noisy losses readable
        k = max(len(values) // 20, 2)
        ax.plot(steps[k - 1:], np.convolve(values, np.ones(k) / k, mode="valid"), lw=1.8)
    ax.set_title(name)
    ax.set_xlabel("step")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


def write_report(run: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write ``report.html`` (default: in the run folder) with its PNG plots in ``<out stem>_plots/``."""
    run = _check_run(run)
    out = Path(out) if out else run / "report.html"
    plots = out.parent / f"{out.stem}_plots"
    plots.mkdir(parents=True, exist_ok=True)
    log, ev = read_log(run / "log.jsonl"), read_log(run / "eval.jsonl")
    parts = [f"<h1>{html.escape(run.name)}</h1>",
             f"<p>{len(log)} log rows, last step {log[-1]['step'] if log else '-'}; "
             f"{len(ev)} evaluations; {len(sample_grids(run))} sample grids.</p>"]
    for title, rows, prefix in (("Losses", log, "log"), ("Evaluation per checkpoint", ev, "eval")):
        if not rows:
            continue
        parts.append(f"<h2>{title}</h2><div>")
        for name, (s, v) in curves(rows).items():
            png = plots / f"{prefix}_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png"
            _plot(png, name, s, v)
            parts.append(f'<img src="{html.escape(os.path.relpath(png, out.parent))}" alt="{html.escape(name)}">')
        parts.append("</div>")
    if ev:
        cells = "".join(f"<tr><td>{html.escape(str(k))}</td><td>{html.escape(_fmt(v))}</td></tr>"
                        for k, v in ev[-1].items())
        parts.append(f"<h2>Last evaluation</h2><table>{cells}</table>")
        parts.append("<p>Inception FID is not computed (its weights are not available offline); realism is the "
                     "Fréchet distance of dlib descriptors to held-out real faces, with its real-vs-real floor.</p>")
    grids = sample_grids(run)
    if grids:
        parts.append(f"<h2>Samples at step {grids[-1][0]}</h2>"
                     f'<img src="{html.escape(os.path.relpath(grids[-1][1], out.parent))}" class="grid">')
    if (run / "config.toml").is_file():
        parts.append(f"<h2>Config</h2><pre>{html.escape((run / 'config.toml').read_text())}</pre>")
    style = ("body{font-family:sans-serif;margin:1.5em}img{margin:4px;border:1px solid #ddd}"
             "img.grid{image-rendering:pixelated;width:768px}td{padding:2px 10px}")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(run.name)}</title>"
            f"<style>{style}</style></head><body>{''.join(parts)}</body></html>\n")
    from ..io import atomic_path

    with atomic_path(out) as tmp:
        tmp.write_text(page)
    return out


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _captioned(image: np.ndarray, text: str, scale: int) -> np.ndarray:
    """The grid enlarged ``scale`` times (nearest) under a caption bar; even width and height (for codecs)."""
    import cv2

    big = cv2.resize(image, (image.shape[1] * scale, image.shape[0] * scale), interpolation=cv2.INTER_NEAREST)
    bar = np.full((28, big.shape[1], 3), 255, np.uint8)
    cv2.putText(bar, text, (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    frame = np.concatenate([bar, big])
    h, w = frame.shape[0] // 2 * 2, frame.shape[1] // 2 * 2
    return np.ascontiguousarray(frame[:h, :w])


def video_frames(run: str | os.PathLike, skip: int = 1, scale: int = 2) -> list[np.ndarray]:
    """The captioned frames (RGB uint8) of every ``skip``-th sample grid; the last grid is always included."""
    from ..images import load_image

    run = _check_run(run)
    if skip < 1:
        raise InvalidInput(f"--skip must be >= 1, got {skip}")
    grids = sample_grids(run)
    if not grids:
        raise DataError(f"{run}: no sample grids (samples/step*.png) to make a video of")
    chosen = grids[::skip]
    if chosen[-1] != grids[-1]:
        chosen.append(grids[-1])
    batch = _batch(run)
    frames = []
    for step, path in chosen:
        text = f"step {step}" + (f"  {step * batch / 1000:.1f} kimg" if batch else "")
        frames.append(_captioned(load_image(path), text, scale))
    size = frames[0].shape
    return [f if f.shape == size else _fit(f, size) for f in frames]


def _fit(frame: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    import cv2

    return cv2.resize(frame, (shape[1], shape[0]), interpolation=cv2.INTER_AREA)


def write_video(run: str | os.PathLike, out: str | os.PathLike, fps: float = 4.0, skip: int = 1,
                scale: int = 2) -> tuple[Path, int]:
    """Write the run's training-progress video (``.mp4`` or ``.gif``); returns (path, frame count)."""
    import cv2

    out = Path(out)
    suffix = out.suffix.lower()
    if suffix not in (".mp4", ".gif"):
        raise InvalidInput(f"{out}: the video must be .mp4 or .gif")
    if fps <= 0:
        raise InvalidInput(f"--fps must be positive, got {fps}")
    frames = video_frames(run, skip, scale)
    out.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".gif":
        from PIL import Image

        images = [Image.fromarray(f) for f in frames]
        images[0].save(out, save_all=True, append_images=images[1:], duration=int(round(1000 / fps)), loop=0)
        return out, len(frames)
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (w, h))
    if not writer.isOpened():
        raise FaceEditError(f"{out}: OpenCV cannot write MPEG-4 video here; write a .gif instead")
    try:
        for f in frames:
            writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    finally:
        writer.release()
    return out, len(frames)

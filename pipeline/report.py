"""What a pipeline run did: per-output records, step timings, ``report.json``, ``report.html``, contact sheets.

The run loop records every output (``edited``, ``skipped`` because it already existed, or ``copy`` of the
reference with the reason) in a :class:`RunReport`; at the end it is written as JSON, as an HTML page with
one contact sheet per face (original + every output) and as a short text summary.
"""
from __future__ import annotations

import html
import math
import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from faceedit.io import atomic_path, save_json

EDITED, SKIPPED, COPY = "edited", "skipped", "copy"


@dataclass
class ReferenceRecord:
    """The outcome for one reference face."""

    name: str
    source: str
    labels: Any = None
    error: str | None = None  # why the whole reference fell back to copies, if it did
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)  # translation → {status, reason}


class RunReport:
    """Thread-safe record of a run: outputs per reference and seconds per step."""

    def __init__(self) -> None:
        self.references: dict[str, ReferenceRecord] = {}
        self.seconds: dict[str, float] = defaultdict(float)
        self.counters: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        self.meta: dict[str, Any] = {}  # how the run ran: device, executor (saved in report.json)
        self._lock = threading.Lock()
        self._start = time.perf_counter()

    def add_reference(self, name: str, source: str, labels: Any = None) -> ReferenceRecord:
        """Register a reference (in run order)."""
        with self._lock:
            rec = self.references[name] = ReferenceRecord(name, source, labels)
            return rec

    def fail_reference(self, name: str, reason: str) -> None:
        """Mark a whole reference as failed (its outputs become copies of the reference image)."""
        with self._lock:
            self.references[name].error = reason

    def output(self, reference: str, translation: str, status: str, reason: str | None = None, **extra: str) -> None:
        """Record one output file's outcome (``extra``: e.g. ``used=`` the translation file applied)."""
        entry = {"status": status, **extra}
        if reason:
            entry["reason"] = reason
        with self._lock:
            self.references[reference].outputs[translation] = entry

    def add_seconds(self, seconds: dict[str, float]) -> None:
        """Add step timings measured elsewhere (a worker process)."""
        with self._lock:
            for step, dt in seconds.items():
                self.seconds[step] += dt

    def count(self, group: str, counts: dict[str, int]) -> None:
        """Add to named counters (e.g. projections computed / taken from the cache)."""
        with self._lock:
            for k, v in counts.items():
                self.counters[group][k] += v

    def export(self) -> dict[str, Any]:
        """Outputs, failures, seconds and counters as plain data (what a Ray worker sends back)."""
        with self._lock:
            return {"references": {n: {"error": r.error, "outputs": dict(r.outputs)} for n, r in self.references.items()},
                    "seconds": dict(self.seconds), "counters": {g: dict(c) for g, c in self.counters.items()}}

    def absorb(self, data: dict[str, Any]) -> None:
        """Add what :meth:`export` gave (another process's part of this run) to this report."""
        for name, rec in data["references"].items():
            for translation, entry in rec["outputs"].items():
                entry = dict(entry)
                self.output(name, translation, entry.pop("status"), entry.pop("reason", None), **entry)
            if rec["error"]:
                self.fail_reference(name, rec["error"])
        self.add_seconds(data["seconds"])
        for group, counts in data["counters"].items():
            self.count(group, counts)

    @contextmanager
    def timed(self, step: str) -> Iterator[None]:
        """Add the wall time of the ``with`` body to ``step`` (summed over worker threads)."""
        t0 = time.perf_counter()
        try:
            yield
        finally:
            dt = time.perf_counter() - t0
            with self._lock:
                self.seconds[step] += dt

    def counts(self) -> dict[str, int]:
        """Number of outputs per status, and of references that failed as a whole."""
        out = {EDITED: 0, SKIPPED: 0, COPY: 0}
        for rec in self.references.values():
            for entry in rec.outputs.values():
                out[entry["status"]] += 1
        out["outputs"] = sum(len(r.outputs) for r in self.references.values())
        out["references"] = len(self.references)
        out["failed_references"] = sum(r.error is not None for r in self.references.values())
        return out

    def failures(self) -> list[tuple[str, str, str]]:
        """``(reference, translation or '*', reason)`` for every copy made instead of an edit."""
        rows = []
        for rec in self.references.values():
            if rec.error:
                rows.append((rec.name, "*", rec.error))
            for name, entry in rec.outputs.items():
                if entry["status"] == COPY and entry.get("reason") != rec.error:
                    rows.append((rec.name, name, entry.get("reason", "")))
        return rows

    def as_dict(self) -> dict[str, Any]:
        """Everything, JSON-ready."""
        return {
            "summary": {
                **self.counts(),
                "seconds_per_step": {k: round(v, 3) for k, v in self.seconds.items()},
                **{group: dict(c) for group, c in self.counters.items()},
                "total_seconds": round(time.perf_counter() - self._start, 3),
                **self.meta,
            },
            "failures": [{"reference": r, "translation": t, "reason": why} for r, t, why in self.failures()],
            "references": [
                {"name": r.name, "source": r.source, "labels": r.labels, "error": r.error, "outputs": r.outputs}
                for r in self.references.values()
            ],
        }

    def summary_text(self, max_failures: int = 20) -> str:
        """The final summary printed by the run: counts, failures with reasons, time per step."""
        c = self.counts()
        lines = [
            f"{c['references']} references, {c['outputs']} outputs: {c[EDITED]} edited, "
            f"{c[SKIPPED]} already done (skipped), {c[COPY]} reference copies"
        ]
        fails = self.failures()
        if fails:
            lines.append(f"failed ({len(fails)}):")
            lines += [f"  {r}/{t}: {why}" for r, t, why in fails[:max_failures]]
            if len(fails) > max_failures:
                lines.append(f"  ... and {len(fails) - max_failures} more (see report.json)")
        for group, c in self.counters.items():
            lines.append(f"{group}: " + ", ".join(f"{v} {k}" for k, v in c.items()))
        if self.meta:
            lines.append("ran on: " + ", ".join(f"{k} {v}" for k, v in self.meta.items() if not isinstance(v, dict)))
        steps = ", ".join(f"{k} {v:.1f}s" for k, v in self.seconds.items())
        lines.append(f"time per step: {steps or '-'}; total {time.perf_counter() - self._start:.1f}s")
        return "\n".join(lines)


def contact_sheet(tiles: list[tuple[str, np.ndarray]], tile: int = 128, columns: int = 9) -> np.ndarray:
    """One image of captioned thumbnails (RGB uint8), ``columns`` per row."""
    from PIL import Image, ImageDraw

    from faceedit.images import resize

    caption = 14
    rows = max(1, math.ceil(len(tiles) / columns))
    sheet = Image.new("RGB", (columns * tile, rows * (tile + caption)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    for i, (label, image) in enumerate(tiles):
        x, y = (i % columns) * tile, (i // columns) * (tile + caption)
        sheet.paste(Image.fromarray(resize(image, tile)), (x, y))
        draw.text((x + 3, y + tile + 1), label, fill=(0, 0, 0))
    return np.asarray(sheet)


def write_html(report: RunReport, path: Path, sheets: dict[str, str]) -> None:
    """A page with the summary and, per face, its contact sheet (``sheets``: reference → relative path)."""
    c = report.counts()
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>faceedit pipeline report</title>",
        "<style>body{font-family:sans-serif;margin:1em}img{max-width:100%}.bad{color:#b00}"
        "section{margin-bottom:2em}</style></head><body>",
        "<h1>faceedit pipeline report</h1>",
        f"<p>{c['references']} references, {c['outputs']} outputs: {c[EDITED]} edited, {c[SKIPPED]} "
        f"already done, {c[COPY]} reference copies.</p>",
        "<p>Time per step: " + html.escape(", ".join(f"{k} {v:.1f} s" for k, v in report.seconds.items())) + "</p>",
    ]
    for rec in report.references.values():
        parts.append(f"<section><h2>{html.escape(rec.name)}</h2>")
        if rec.labels:
            labels = " · ".join(f"{k} {v}" for k, v in rec.labels.items())
            parts.append(f"<p>labels: {html.escape(labels)}</p>")
        if rec.error:
            parts.append(f"<p class='bad'>failed: {html.escape(rec.error)}</p>")
        copies = [(n, e.get("reason", "")) for n, e in rec.outputs.items() if e["status"] == COPY]
        if copies and not rec.error:
            items = "".join(f"<li>{html.escape(n)}: {html.escape(r)}</li>" for n, r in copies)
            parts.append(f"<p class='bad'>reference copies:</p><ul>{items}</ul>")
        if rec.name in sheets:
            parts.append(f"<img src='{html.escape(sheets[rec.name])}' alt='{html.escape(rec.name)}'>")
        parts.append("</section>")
    parts.append("</body></html>")
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(parts))


def write_json(report: RunReport, path: Path) -> None:
    """``report.json``."""
    save_json(path, report.as_dict())

"""Speed of the face input stack on 2 threads (numbers only, no assertions).

- align a 12-megapixel photo (a wild photo upscaled to 12 MP): detection on a downscaled copy, landmarks,
  one anti-aliased warp; at 256 and 1024; plus JPEG decoding of that photo and paste-back into it;
- landmark parsing of a 512x512 aligned face (with and without the landmark detection);
- template depth of the same face (with precomputed landmarks and labels, and end to end);
- the DPT-Hybrid depth network (MiDaS v3 architecture, random weights: same cost as the real file) on a
  384x384 face, on 1 and 2 threads.
Targets from issue 3: align 12 MP <= 0.5 s, parsing 512 <= 0.3 s, template depth <= 0.2 s.

    python benchmarks/face_input.py [--runs 5] [--dpt-runs 3] [--photo PATH]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from faceedit.faces.alignment import align, transform_points
from faceedit.compose.paste import paste_back
from faceedit.faces.depth import estimate_depth
from faceedit.images import load_image, resize, save_image
from faceedit.faces.parsing import parse
from faceedit.testing import data_dir


def timed(fn, runs: int) -> tuple[float, object]:
    """Median wall time of ``runs`` calls (after one warm-up call) and the last result.

    Also remembers the median process CPU time (all threads) in ``timed.cpu``: on a busy machine the wall
    time includes waiting for a core, the CPU time does not.
    """
    result = fn()
    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        result = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    timed.cpu = statistics.median(cpus)
    return statistics.median(walls), result


def show(label: str, wall: float, target: str = "") -> None:
    print(f"{label:<42s} wall {wall * 1000:7.1f} ms   cpu {timed.cpu * 1000:7.1f} ms  {target}")


def main() -> None:
    import cv2

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dpt-runs", type=int, default=3, help="runs of the (slow) DPT timing; 0 skips it")
    ap.add_argument("--photo", default=str(data_dir() / "wild" / "images" / "000176.jpg"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    cv2.setNumThreads(2)

    small = load_image(args.photo)
    scale = (12e6 / (small.shape[0] * small.shape[1])) ** 0.5
    photo = cv2.resize(small, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    mp = photo.shape[0] * photo.shape[1] / 1e6
    print(f"photo: {Path(args.photo).name} upscaled to {photo.shape[1]}x{photo.shape[0]} ({mp:.1f} MP); "
          f"load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        jpg = Path(tmp) / "big.jpg"
        save_image(jpg, photo, quality=92)
        t, _ = timed(lambda: load_image(jpg), args.runs)
        show("load_image 12 MP JPEG", t)
    for size in (256, 1024):
        t, faces = timed(lambda: align(photo, size=size), args.runs)
        show(f"align 12 MP -> {size}", t, "(target <= 500 ms)")
    face = faces[0]
    t, _ = timed(lambda: paste_back(photo, face.image, face.transform), args.runs)
    show("paste_back 1024 face into 12 MP (+mask)", t, "(incl. parsing the mask)")

    f512 = align(small, size=512)[0]
    lm = transform_points(np.linalg.inv(f512.transform), f512.landmarks)
    t, labels = timed(lambda: parse(f512.image, landmarks=lm), args.runs)
    show("parse 512 face (landmarks given)", t, "(target <= 300 ms)")
    t, _ = timed(lambda: parse(f512.image), args.runs)
    show("parse 512 face (with detection)", t)
    t, _ = timed(lambda: estimate_depth(f512.image, landmarks=lm, labels=labels), args.runs)
    show("template depth 512 (landmarks + labels given)", t, "(target <= 200 ms)")
    t, _ = timed(lambda: estimate_depth(f512.image), args.runs)
    show("template depth 512 (end to end)", t)

    if args.dpt_runs > 0:
        from faceedit.models.dpt import dpt_hybrid, predict

        torch.manual_seed(0)
        net = dpt_hybrid().eval()
        face384 = resize(f512.image, 384)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            t, _ = timed(lambda: predict(net, face384), args.dpt_runs)
            show(f"DPT hybrid depth 384 ({threads} thread{'s' if threads > 1 else ''})", t, "(random weights)")
        torch.set_num_threads(2)


if __name__ == "__main__":
    main()

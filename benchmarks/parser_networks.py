"""Speed of the network face parsers on 2 threads (numbers only, no assertions).

``parse(face512, backend=...)`` for ``facexlib`` (GPEN's ParseNet, 512 px, about 470 GFLOP) and
``facexlib-bisenet`` (BiSeNet, 512 px, about 28 GFLOP; the same network as the ``bisenet`` backend).
Weights are seeded random tensors in the official layouts unless real files are given: the speed does not
depend on them.

    python benchmarks/parser_networks.py [--runs 3] [--parsenet FILE] [--bisenet FILE]
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

from faceedit.models.bisenet import BiSeNet
from faceedit.models.parsenet import ParseNet
from faceedit.faces.parsing import parse
from faceedit.testing import seeded_state_dict_like


def seeded_file(model: torch.nn.Module, path: Path) -> Path:
    """Save the SEEDED state dict of ``model``'s keys to ``path`` (a plain ``.pth`` state dict)."""
    torch.save(seeded_state_dict_like(model), path)
    return path


def median_time(fn, runs: int) -> tuple[float, float]:
    """Median wall and process-CPU seconds of ``runs`` calls after one warm-up call (which loads the model)."""
    fn()
    walls, cpus = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return statistics.median(walls), statistics.median(cpus)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--parsenet", help="parsing_parsenet.pth (default: seeded weights)")
    ap.add_argument("--bisenet", help="parsing_bisenet.pth (default: seeded weights)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    face = np.random.default_rng(0).integers(0, 256, (512, 512, 3), dtype=np.uint8)
    print(f"512x512 input, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as tmp:
        with torch.device("meta"):
            models = {"facexlib": ParseNet(), "facexlib-bisenet": BiSeNet()}
        files = {"facexlib": args.parsenet or seeded_file(models["facexlib"], Path(tmp) / "parsing_parsenet.pth"),
                 "facexlib-bisenet": args.bisenet or seeded_file(models["facexlib-bisenet"],
                                                                 Path(tmp) / "parsing_bisenet.pth")}
        for backend, path in files.items():
            wall, cpu = median_time(lambda: parse(face, backend=backend, weights=path), args.runs)
            print(f"parse --backend {backend:<17s} wall {wall:6.2f} s   cpu {cpu:6.2f} s")


if __name__ == "__main__":
    main()

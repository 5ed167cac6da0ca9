"""Training throughput (images/s) of ``faceedit train gan`` for a few batch sizes, on random data.

Runs the real training loop (:func:`faceedit.train.gan.train_gan`) for ``--steps`` steps per batch size on
random 128-px crops (no data set needed) and prints the images/s of the last logged window, so a GPU
session can pick the batch size before a long run.  Numbers only; never asserts.  Budget for start-up: in
the issue-10 run on an H100 the first 100 steps at batch 64 took ~50 s (cuDNN autotuning of every new
shape; 130 images/s) against 470 images/s after, so each batch size costs about a minute before it is
measured — and pipe the output through ``grep --line-buffered`` if you filter it.

    python benchmarks/train_speed.py --device cuda --batch 32 64 128 [--steps 400]
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

#: the 128-px architecture of the issue-10 GPU run (see faceedit/assets/MODEL_CARD.md)
GPU128 = {"generator": {"resolution": 128, "style_dim": 256, "n_mlp": 8, "channel_multiplier": 0.5, "channel_max": 192},
          "discriminator": {"resolution": 128, "channel_multiplier": 0.5, "channel_max": 192}}


def random_data(n: int, size: int):
    """A FaceData of ``n`` random crops (all CelebA, none held out)."""
    from faceedit.train.data import FaceData

    rng = np.random.default_rng(0)
    return FaceData(images=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                    attrs=np.full((n, 40), np.nan, np.float32), age=np.full(n, np.nan, np.float32),
                    gender=np.full(n, np.nan, np.float32), race=np.full(n, -1), identity=np.arange(n),
                    source=np.array(["celeba"] * n), val=np.zeros(n, bool), names=np.array([f"{i}" for i in range(n)]))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, nargs="+", default=[32, 64, 128])
    ap.add_argument("--steps", type=int, default=400, help="steps per batch size (the last half is timed)")
    ap.add_argument("--resolution", type=int, default=128, help="128 = the GPU run's architecture; else tiny")
    args = ap.parse_args()
    import torch

    from faceedit.train.gan import DEFAULTS, train_gan
    from faceedit.train.loop import pick_device

    device = pick_device(args.device)
    cfg0 = copy.deepcopy(DEFAULTS)
    if args.resolution == 128:
        cfg0.update(copy.deepcopy(GPU128))
    else:
        cfg0["generator"]["resolution"] = cfg0["discriminator"]["resolution"] = args.resolution
    data = random_data(max(args.batch) * 4, args.resolution)
    half = max(1, args.steps // 2)
    for batch in args.batch:
        cfg = copy.deepcopy(cfg0)
        cfg["train"].update(steps=args.steps, batch=batch, log_every=half, sample_every=10**9,
                            checkpoint_every=10**9, n_samples=4)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            train_gan(data, tmp, cfg, device)
            wall = time.perf_counter() - t
            rows = [json.loads(line) for line in (Path(tmp) / "log.jsonl").read_text().splitlines()]
        # images/s over the second half (the first includes start-up and cudnn autotuning)
        t_rows = rows[-1]["images_per_s"], rows[0]["images_per_s"]
        window = (args.steps - half) * batch / max(1e-9, (args.steps * batch / t_rows[0]) - (half * batch / t_rows[1]))
        mem = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
        print(f"batch {batch:4d}: {window:8.1f} images/s (steady), {args.steps * batch / wall:8.1f} overall, "
              f"peak GPU memory {mem:.1f} GiB", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

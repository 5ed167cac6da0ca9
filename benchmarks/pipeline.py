"""Benchmark of the batch pipeline: the official-size challenge set (72 references, 1731 outputs) with the
default steps on the default model, from scratch (projection included): time per step and peak memory.

    python benchmarks/pipeline.py                       # 72 faces, default config, 1 run
    python benchmarks/pipeline.py --n 12 --repeat 3     # smaller, median of 3 runs
    python benchmarks/pipeline.py project.preset=fast mixups.steps='["domain"]'

The reference faces are built once by :mod:`pipeline.demo` (aligned CelebA faces named by their labels)
and reused; every run starts with no outputs and no projection cache.  Targets (issue 8): <= 10 min and
<= 4 GB on 2 cores.  Prints numbers only; never asserts on time.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (0 when it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return 0.0


def _descendants(pid: int) -> list[int]:
    out = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                out += [int(child), *_descendants(int(child))]
    except OSError:
        pass
    return out


class MemorySampler:
    """Samples the summed RSS of this process and all its descendants (worker processes) every 0.2 s."""

    def __init__(self) -> None:
        import threading

        self.peak_total = self.peak_main = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        pid = os.getpid()
        while not self._stop.wait(0.2):
            main = _rss_mb(pid)
            self.peak_main = max(self.peak_main, main)
            self.peak_total = max(self.peak_total, main + sum(_rss_mb(c) for c in _descendants(pid)))

    def __enter__(self) -> "MemorySampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pipeline config overrides")
    parser.add_argument("--n", type=int, default=72, help="reference faces (default 72, the official count)")
    parser.add_argument("--out", default="/tmp/faceedit_bench_pipeline", help="work folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs (the median is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    args = parser.parse_args(argv)

    import torch

    from faceedit.images import list_images
    from faceedit.testing import data_dir
    from pipeline.demo import build_references
    from pipeline.run import load_settings, override, run_pipeline

    torch.set_num_threads(args.threads)
    work = Path(args.out)
    refs = work / "input_images"
    if len(list_images([refs]) if refs.is_dir() else []) < args.n:
        t0 = time.perf_counter()
        build_references(data_dir(), refs, args.n)
        print(f"built {args.n} reference faces in {time.perf_counter() - t0:.1f}s (not timed below)")

    totals, peaks, steps_per_run, counts = [], [], [], {}
    for i in range(args.repeat):
        out = work / f"run{i}"
        shutil.rmtree(out, ignore_errors=True)  # no outputs, no projection cache: a run from scratch
        cfg = load_settings(None, [override("input.dir", refs), override("output.dir", out), *args.overrides])
        t0 = time.perf_counter()
        with MemorySampler() as memory:
            report = run_pipeline(cfg, progress=False)
        totals.append(time.perf_counter() - t0)
        peaks.append(memory.peak_total)
        steps_per_run.append(dict(report.seconds))
        counts = report.counts()
        print(f"run {i + 1}/{args.repeat}: {totals[-1]:.1f}s")

    print(f"\nreferences {counts['references']}, outputs {counts['outputs']} "
          f"({counts['edited']} edited, {counts['copy']} reference copies)")
    print(f"total wall time: median {statistics.median(totals):.1f}s over {len(totals)} run(s) "
          f"({statistics.median(totals) / max(1, counts['outputs']) * 1000:.0f} ms per output)")
    print("seconds per step (median; mixups/save/copies are summed over worker processes):")
    for step in steps_per_run[0]:
        values = [run.get(step, 0.0) for run in steps_per_run]
        print(f"  {step:12s} {statistics.median(values):8.1f}")
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes
    print(f"peak memory: main process {main_mb:.0f} MB; main + {cfg['run']['workers']} worker processes "
          f"together {max(peaks):.0f} MB (sampled every 0.2 s)")


if __name__ == "__main__":
    main()

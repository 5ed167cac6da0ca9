"""Benchmark of the batch pipeline: the official-size challenge set (72 references, 1731 outputs) with the
default steps on the default model, from scratch (projection included): time per step and peak memory.

    python benchmarks/pipeline.py                       # 72 faces, default config, 1 run
    python benchmarks/pipeline.py --n 12 --repeat 3     # smaller, median of 3 runs
    python benchmarks/pipeline.py project.preset=fast mixups.steps='["domain"]'
    python benchmarks/pipeline.py --executor both       # local pool, then Ray (local instance), outputs compared
    python benchmarks/pipeline.py --executor ray --ray-cpus 4 --ray-workers 4 run.limit=32 \
        --compare-with /tmp/faceedit_bench_pipeline/local0   # a simulated 4-worker run

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


def compare_outputs(a: Path, b: Path) -> dict[str, float]:
    """The outputs ``output_images/**.png`` two runs both have, decoded and compared: files compared, files
    only in one run, the largest per-pixel difference (of 255) and the share of pixels differing by more
    than 1."""
    import numpy as np

    from faceedit.images import load_image

    names_a = {p.relative_to(a).as_posix() for p in (a / "output_images").rglob("*.png")}
    names_b = {p.relative_to(b).as_posix() for p in (b / "output_images").rglob("*.png")}
    common = sorted(names_a & names_b)
    worst, over, pixels = 0, 0, 0
    for name in common:
        diff = np.abs(load_image(a / name).astype(np.int16) - load_image(b / name).astype(np.int16))
        worst = max(worst, int(diff.max()))
        over += int((diff.max(axis=2) > 1).sum())
        pixels += diff.shape[0] * diff.shape[1]
    return {"compared": len(common), "only_in_one": len(names_a ^ names_b), "max_diff": worst,
            "share_over_1": over / max(1, pixels)}


def run_series(executor: str, args: argparse.Namespace, refs: Path, work: Path) -> list[Path]:
    """``args.repeat`` runs from scratch with one executor; prints times, steps and memory; returns the
    run folders."""
    from pipeline.run import load_settings, override, run_pipeline

    extra = [f"run.executor={executor!r}".replace("'", '"')]
    if executor == "ray":
        extra += [f"ray.workers={args.ray_workers}", f"ray.num_cpus={args.ray_cpus}",
                  f"ray.references_per_task={args.per_task}"]
    totals, peaks, steps_per_run, counts, starts, folders = [], [], [], {}, [], []
    for i in range(args.repeat):
        out = work / f"{executor}{i}"
        folders.append(out)
        shutil.rmtree(out, ignore_errors=True)  # no outputs, no projection cache: a run from scratch
        cfg = load_settings(None, [override("input.dir", refs), override("output.dir", out), *extra, *args.overrides])
        t0 = time.perf_counter()
        with MemorySampler() as memory:
            report = run_pipeline(cfg, progress=False)
        totals.append(time.perf_counter() - t0)
        peaks.append(memory.peak_total)
        steps_per_run.append(dict(report.seconds))
        starts.append(report.meta.get("ray", {}).get("startup_seconds"))
        counts = report.counts()
        print(f"[{executor}] run {i + 1}/{args.repeat}: {totals[-1]:.1f}s")

    median = statistics.median(totals)
    print(f"\n[{executor}] references {counts['references']}, outputs {counts['outputs']} "
          f"({counts['edited']} edited, {counts['copy']} reference copies); device {report.meta.get('device')}")
    print(f"[{executor}] total wall time: median {median:.1f}s over {len(totals)} run(s) "
          f"({median / max(1, counts['outputs']) * 1000:.0f} ms per output, "
          f"{counts['outputs'] / median:.2f} outputs/s)")
    if executor == "ray":
        ray = report.meta["ray"]
        print(f"[ray] local Ray instance start-up (ray.init): {statistics.median(starts):.1f}s; {ray['workers']} "
              f"workers, {ray['tasks']} tasks of {ray['references_per_task']} references")
    print(f"[{executor}] seconds per step (median; summed over worker processes):")
    for step in steps_per_run[0]:
        values = [run.get(step, 0.0) for run in steps_per_run]
        print(f"  {step:12s} {statistics.median(values):8.1f}")
    main_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: kilobytes
    print(f"[{executor}] peak memory: main process {main_mb:.0f} MB; with its worker processes "
          f"{max(peaks):.0f} MB (sampled every 0.2 s)")
    return folders


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pipeline config overrides")
    parser.add_argument("--n", type=int, default=72, help="reference faces (default 72, the official count)")
    parser.add_argument("--out", default="/tmp/faceedit_bench_pipeline", help="work folder")
    parser.add_argument("--repeat", type=int, default=1, help="runs (the median is reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch threads of the main process (default 2)")
    parser.add_argument("--executor", choices=("local", "ray", "both"), default="local",
                        help="run.executor; both = local then ray, and their outputs compared")
    parser.add_argument("--ray-workers", type=int, default=0, help="ray.workers (0 = one per CPU)")
    parser.add_argument("--ray-cpus", type=int, default=0, help="CPUs of the local Ray instance (0 = all)")
    parser.add_argument("--per-task", type=int, default=0,
                        help="ray.references_per_task (0 = project.batch_size: coarse tasks, the local batches)")
    parser.add_argument("--compare-with", metavar="RUN_DIR", help="also compare the outputs with this run's")
    args = parser.parse_args(argv)

    import torch

    from faceedit.images import list_images
    from faceedit.testing import data_dir
    from pipeline.demo import build_references

    torch.set_num_threads(args.threads)
    work = Path(args.out)
    refs = work / "input_images"
    if len(list_images([refs]) if refs.is_dir() else []) < args.n:
        t0 = time.perf_counter()
        build_references(data_dir(), refs, args.n)
        print(f"built {args.n} reference faces in {time.perf_counter() - t0:.1f}s (not timed below)")

    executors = ["local", "ray"] if args.executor == "both" else [args.executor]
    folders = {e: run_series(e, args, refs, work) for e in executors}
    pairs = [(folders["local"][0], folders["ray"][0])] if args.executor == "both" else []
    if args.compare_with:
        pairs.append((Path(args.compare_with), folders[executors[-1]][0]))
    for a, b in pairs:
        c = compare_outputs(a, b)
        print(f"outputs {a.name} vs {b.name}: {c['compared']} compared, {c['only_in_one']} in one run only, "
              f"max difference {c['max_diff']}/255, {c['share_over_1'] * 100:.4f} % of pixels differ by more than 1")


if __name__ == "__main__":
    main()

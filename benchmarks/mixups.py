"""Mixups benchmark: chain speed, exactness outside the feathered regions, and the FFHQ landmark table.

    python benchmarks/mixups.py                  # speed + exactness at 512 px on aligned wild photos
    python benchmarks/mixups.py --landmarks 120  # re-measure the canonical FFHQ landmark positions

Speed is the median of several runs of ``Mixer.mix`` with the parsing and depth of the original cached and
those of the edited image given (the mixing itself); the parser/depth time per image is printed apart
when :mod:`faceedit.faces.parsing` / :mod:`faceedit.faces.depth` exist (else synthetic maps drawn from the region
table stand in for them).  The "edit" is the original with its colours shifted everywhere, which is what
a latent edit's spill looks like to the mixups.
"""
from __future__ import annotations

import argparse
import importlib.util
import time

import numpy as np

from faceedit.testing import data_dir

CODE_NAMES = ["Hc_1", "Hs_0", "B_1", "bald", "Be_max", "D_1", "N_min", "Pn_max", "Bn_min", "Bp_max",
              "Sk_2", "A_0", "Se_1", "Ch_max"]


def _median_ms(fn, runs: int, cpu: list[float] | None = None) -> float:
    """Median wall time of ``fn`` in ms; the median CPU time (all threads) is appended to ``cpu``.

    On a shared machine the CPU time is the steadier number (wall time includes waiting for a core).
    """
    walls, cpus = [], []
    for _ in range(runs):
        w, c = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - w)
        cpus.append(time.process_time() - c)
    if cpu is not None:
        cpu.append(1000 * float(np.median(cpus)))
    return 1000 * float(np.median(walls))


def _aligned_faces(count: int, size: int) -> list[np.ndarray]:
    from faceedit.faces.alignment import align
    from faceedit.errors import NoFaceFound

    faces = []
    for path in sorted((data_dir() / "wild" / "images").iterdir()):
        try:
            faces.append(align(path, size=size)[0].image)
        except NoFaceFound:
            continue
        if len(faces) == count:
            break
    return faces


def _synthetic_maps(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Stand-in labels and inverse depth drawn from the region table (when no parser/depth module exists)."""
    from faceedit.faces.regions import REGIONS, rasterize

    labels = np.zeros((size, size), np.uint8)
    face = rasterize([["ellipse", [0.5, 0.62, 0.29, 0.34]]], size)
    labels[face] = 1
    labels[rasterize(REGIONS["hair"], size) & rasterize([["ellipse", [0.5, 0.45, 0.4, 0.5]]], size) & ~face] = 17
    for name, cls in (("nose", 10), ("mouth", 12), ("eyes", 4)):
        labels[rasterize(REGIONS[name], size) & face] = cls
    depth = np.where(labels > 0, 2.0, 0.5).astype(np.float32)
    return labels, depth


def bench_chain(size: int, faces: int, runs: int) -> None:
    import cv2

    from faceedit.compose.mixups import Mixer, distance_to_outside

    cv2.setNumThreads(2)
    images = _aligned_faces(faces, size)
    print(f"{len(images)} aligned wild faces at {size}x{size}")
    have_parser = importlib.util.find_spec("faceedit.faces.parsing") is not None
    have_depth = importlib.util.find_spec("faceedit.faces.depth") is not None
    feathers = Mixer().config
    chain_ms: dict[str, list[float]] = {n: [] for n in CODE_NAMES}
    chain_cpu: dict[str, list[float]] = {n: [] for n in CODE_NAMES}
    worst_outside, worst_core = 0, 0
    for original in images:
        edited = np.clip(original.astype(np.int16) + np.array([40, -25, 30], np.int16), 0, 255).astype(np.uint8)
        labels_o, depth_o = _synthetic_maps(size)
        labels_e, depth_e = labels_o, depth_o
        if have_parser:
            from faceedit.faces.parsing import parse

            print(f"  parse (landmarks backend): {_median_ms(lambda: parse(original), 3):.0f} ms per image")
            labels_o, labels_e = parse(original), parse(edited)
        if have_depth:
            from faceedit.faces.depth import estimate_depth

            print(f"  depth (template backend):  {_median_ms(lambda: estimate_depth(original), 3):.0f} ms per image")
            depth_o, depth_e = estimate_depth(original), estimate_depth(edited)
        mixer = Mixer()
        mixer.prepare(original, labels=labels_o, depth=depth_o)
        for name in CODE_NAMES:
            def run():
                return mixer.mix(original, edited, name, edited_labels=labels_e, edited_depth=depth_e)

            result = run()  # warm the region cache
            chain_ms[name].append(_median_ms(run, runs, chain_cpu[name]))
            # exactness: original beyond every step's feathered region, edit inside all of them
            reach = np.ones(original.shape[:2], bool)
            core = np.ones(original.shape[:2], bool)
            for step, allowed in result.masks.items():
                if step in result.applied:
                    dist = distance_to_outside(~allowed) if allowed.any() else np.full(allowed.shape, np.inf)
                    reach &= dist <= feathers[step]["feather"] * size + 1e-3
                    core &= allowed
            diff = np.abs(result.image.astype(np.int16) - original)
            worst_outside = max(worst_outside, int(diff[~reach].max(initial=0)))
            if result.applied and not result.dropped:
                worst_core = max(worst_core, int(np.abs(result.image.astype(np.int16) - edited)[core].max(initial=0)))
    print(f"chain time per edit (ms, median of {runs} runs, cached maps of the original, 2 threads): wall / cpu")
    for name in CODE_NAMES:
        print(f"  {name:7s} {np.median(chain_ms[name]):6.1f} / {np.median(chain_cpu[name]):6.1f}")
    for label, table in (("wall", chain_ms), ("cpu", chain_cpu)):
        values = [m for v in table.values() for m in v]
        print(f"  all {label:4s} {np.median(values):6.1f} (median) {max(values):6.1f} (max)")
    print(f"max |out - original| outside the feathered allowed regions: {worst_outside}/255")
    print(f"max |out - edited| inside the allowed regions of every step: {worst_core}/255")


def bench_blend(runs: int) -> None:
    import cv2

    from faceedit.compose.mixups import blend

    cv2.setNumThreads(2)
    rng = np.random.default_rng(0)
    print("blend (one step) time, ms: wall / cpu")
    for size in (256, 512, 1024):
        a = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        b = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        keep = np.ones((size, size), bool)
        keep[size // 4 : 3 * size // 4, size // 4 : 3 * size // 4] = False
        cpu: list[float] = []
        wall = _median_ms(lambda: blend(a, b, keep, 0.08 * size), runs, cpu)
        print(f"  {size:5d}px {wall:7.1f} / {cpu[0]:7.1f}")


def measure_landmarks(count: int) -> None:
    """Mean positions of the 68 landmarks in the FFHQ-aligned frame, normalised to [0, 1]."""
    from faceedit.faces.alignment import detect_faces, ffhq_quad, quad_transform, transform_points
    from faceedit.images import load_image

    points = []
    for path in sorted((data_dir() / "wild" / "images").iterdir())[:count]:
        found = detect_faces(load_image(path))
        if not found:
            continue
        landmarks = found[0][1]
        to_photo = quad_transform(ffhq_quad(landmarks)[0], 1)  # aligned image of size 1: pixel (0, 0) centre
        points.append(transform_points(np.linalg.inv(to_photo), landmarks) + 0.5)
    p = np.array(points)
    mean, std = p.mean(0), p.std(0)
    print(f"{len(p)} faces; normalised FFHQ-aligned positions (x, y) ± std:")
    for name, idx in (("left eye", range(36, 42)), ("right eye", range(42, 48)), ("nose tip", [33]),
                      ("nostrils", [31, 35]), ("mouth corners", [48, 54]), ("upper lip top", [51]),
                      ("lower lip bottom", [57]), ("chin", [8]), ("jaw at eye height", [0, 16]),
                      ("brow tops", [19, 24])):
        idx = list(idx)
        m = mean[idx].mean(0) if name in ("left eye", "right eye") else mean[idx]
        s = std[idx].mean(0)
        print(f"  {name:18s} {np.round(m, 3).tolist()}  ± {np.round(s, 3).tolist()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--faces", type=int, default=3)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--landmarks", type=int, default=0, help="measure landmark positions on N wild photos")
    args = ap.parse_args()
    if args.landmarks:
        measure_landmarks(args.landmarks)
        return
    bench_blend(args.runs)
    bench_chain(args.size, args.faces, args.runs)


if __name__ == "__main__":
    main()

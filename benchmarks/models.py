"""Quality and speed of the default model suite (or of given model files).

- generator: dlib frontal-face detection rate on N random samples upscaled to 256 px (and on N real
  held-out crops for reference), sample diversity (mean pairwise RMS pixel distance, vs real crops),
  and a sample grid (``--grid``, default ``docs/samples.png``);
- realism (issue 19, ``benchmarks/realism.py``): N samples vs N held-out real CelebA crops at the model's
  resolution: Fréchet distance of dlib descriptors vs the real-vs-real floor (N other real crops, other
  identities), sharpness (Laplacian energy ratio), diversity; printed next to the targets;
- encoder: PSNR / SSIM of ``G(E(x))`` on N held-out-identity faces, vs the mean face, also with both
  resized to 64 px (to compare models of different resolutions), and the dlib identity distance;
- attribute predictor: per-task validation metrics on the held-out identities;
- speed: median milliseconds per image of synthesis, encoding and attribute prediction (2 threads).

    python benchmarks/models.py [--n 400] [--quick] [--sections realism,...] [--cache faces64.npz] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from faceedit.measure.realism import detection_rate, diversity


SECTIONS = ("generator", "realism", "encoder", "attributes")


def held_out(cache: str | None, n: int):
    """The validation (held-out identity) part of the data cache, or ``n`` freshly aligned CelebA faces."""
    from faceedit.train.data import FaceData, align_record, collect_records, default_cache_dir, load_cache
    from faceedit.testing import data_dir

    path = Path(cache) if cache else default_cache_dir() / "faces64.npz"
    if path.is_file():
        return load_cache(path).split()[1]
    records = [r for r in collect_records(data_dir(), ("celeba", "utkface")) if r.val][::4][:3 * n]
    rows = [(r, c) for r in records if (c := align_record(r.path, r.source, 64)) is not None]
    return FaceData(images=np.stack([c for _, c in rows]), attrs=np.stack([r.attrs for r, _ in rows]),
                    age=np.array([r.age for r, _ in rows], np.float32),
                    gender=np.array([r.gender for r, _ in rows], np.float32),
                    race=np.array([r.race for r, _ in rows]), identity=np.array([r.identity for r, _ in rows]),
                    source=np.array([r.source for r, _ in rows]), val=np.ones(len(rows), bool),
                    names=np.array([str(r.path) for r, _ in rows]))


def reconstruction_at_64_and_identity(rec: np.ndarray, real: np.ndarray) -> dict[str, float]:
    """PSNR / SSIM of the reconstructions ``rec`` = G(E(x)) with both images resized to 64 px (so that models
    of different resolutions compare on the same grid) and the mean dlib identity distance (0.6 = another
    person)."""
    from faceedit.faces.identity import identity_distance
    from faceedit.images import resize
    from faceedit.measure.metrics import psnr, ssim

    small = [(resize(r, 64), resize(x, 64)) for r, x in zip(rec, real)]
    return {"psnr_at_64": float(np.mean([psnr(r, x) for r, x in small])),
            "ssim_at_64": float(np.mean([ssim(r, x) for r, x in small])),
            "identity_distance": float(np.mean(identity_distance(rec, real)))}


def median_ms(fn, runs: int = 5) -> float:
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call."""
    with torch.no_grad():
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        with torch.no_grad():
            fn()
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=400, help="samples / faces per measure (realism: N samples, N real "
                    "and N other real crops; at least 400 for issue 19's numbers)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: --n 100, generator and realism only, no grid "
                    "(Fréchet numbers at N=100 are not comparable with N=400)")
    ap.add_argument("--sections", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--max-per-identity", type=int, help="realism: at most this many crops of one person per real "
                    "set (default: all, the held-out mix as it is)")
    ap.add_argument("--cache", help="data cache from `faceedit train prepare-data` (default: $FACEEDIT_HOME/data)")
    ap.add_argument("--generator"), ap.add_argument("--encoder"), ap.add_argument("--attributes")
    ap.add_argument("--truncation", type=float, default=1.0)
    ap.add_argument("--grid", default=str(ROOT / "docs" / "samples.png"), help="sample grid PNG ('' = none)")
    ap.add_argument("--json", help="also write the numbers here")
    args = ap.parse_args()
    if args.quick:
        args.n, args.grid, args.sections = min(args.n, 100), "", "generator,realism"
    sections = [x.strip() for x in args.sections.split(",") if x.strip()]
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown sections {unknown}; choose from {','.join(SECTIONS)}")
    torch.set_num_threads(2)
    t_start = time.perf_counter()

    from faceedit.images import image_grid, save_image, to_tensor
    from faceedit.models.attributes import load_attribute_predictor
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.encoder import load_encoder
    from faceedit.train.attributes import evaluate
    from faceedit.train.encoder import evaluate_reconstruction, reconstruct
    from faceedit.edit.directions import sample_w
    from realism import generator_samples, real_sets, realism

    out: dict = {}
    G = load_generator(args.generator)
    samples = generator_samples(G, args.n, seed=0, truncation=args.truncation)
    if "realism" in sections:
        t = time.perf_counter()
        real_a, real_b, origin = real_sets(G.resolution, args.n, args.cache, max_per_identity=args.max_per_identity)
        print(f"realism: {len(real_a)} + {len(real_b)} held-out real {G.resolution} px crops, {origin} "
              f"({time.perf_counter() - t:.0f} s)")
        out["realism"] = {"model_id": G.model_id, "resolution": G.resolution, "real_from": origin,
                          **realism(samples, real_a, real_b, diversity)}
    if {"generator", "encoder", "attributes"} & set(sections):
        val = held_out(args.cache, args.n)
        celeba = val.images[val.source == "celeba"]
        real = celeba[np.random.default_rng(0).permutation(len(celeba))[:args.n]]
    if "generator" in sections:
        w = torch.from_numpy(sample_w(G, 1, 0))
        out["generator"] = {"model_id": G.model_id, "truncation": args.truncation, "samples": len(samples),
                            "face_detection_rate": detection_rate(samples),
                            "face_detection_rate_real": detection_rate(real),
                            "diversity": diversity(samples), "diversity_real": diversity(real),
                            "ms_per_image": median_ms(lambda: G.synthesis(w))}
        if args.grid:
            save_image(args.grid, image_grid(samples[:32], ncol=8))
    if "encoder" in sections:
        E = load_encoder(args.encoder)
        rec = reconstruct(E, G, real, torch.device("cpu"))
        x1 = to_tensor(real[:1])
        out["encoder"] = {**evaluate_reconstruction(E, G, real, torch.device("cpu"), rec=rec),
                          **reconstruction_at_64_and_identity(rec, real), "faces": len(real),
                          "ms_per_image": median_ms(lambda: E(x1))}
    if "attributes" in sections:
        out.update(attribute_metrics(load_attribute_predictor(args.attributes), evaluate, val, real))
    out["seconds"] = time.perf_counter() - t_start
    print_results(out)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


def attribute_metrics(predictor, evaluate, val, real: np.ndarray) -> dict:
    """Validation metrics of the attribute predictor on the held-out faces and its speed."""
    metrics = evaluate(predictor, val)
    section = {k: v for k, v in metrics.items() if not isinstance(v, dict)}
    section["ms_per_image"] = median_ms(lambda: predictor.predict(real[:1]))
    return {"attributes": section, "attributes_per_attribute": metrics.get("attr_acc", {})}


def print_results(out: dict) -> None:
    """Print every section; the realism section with issue 19's targets."""
    from realism import report

    for section, values in out.items():
        if section == "attributes_per_attribute":
            continue
        if not isinstance(values, dict):
            print(f"[{section}] {values:.4g}" if isinstance(values, float) else f"[{section}] {values}")
            continue
        print(f"[{section}]")
        if section == "realism":
            print("\n".join(report(values)))
            continue
        for k, v in values.items():
            print(f"  {k}: {v:.4g}" if isinstance(v, float) else f"  {k}: {v}")
        if section == "attributes" and out.get("attributes_per_attribute"):
            worst = sorted(out["attributes_per_attribute"].items(), key=lambda kv: kv[1])[:5]
            print("  worst attributes:", ", ".join(f"{k} {v:.3f}" for k, v in worst))


if __name__ == "__main__":
    sys.exit(main())

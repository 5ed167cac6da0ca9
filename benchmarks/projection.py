"""Projection benchmark: speed (encoder only, ``balanced``, one step at 1024 config-f shapes) and quality
on held-out-identity faces (PSNR, SSIM, LPIPS when available, dlib face-recognition distance), encoder
only vs presets, plus the recovery of generated faces.

    python benchmarks/projection.py                  # the default model suite, 200 held-out faces
    python benchmarks/projection.py --n 40 --presets fast balanced --config-f

Held-out faces: the validation identities of the training data cache (``faceedit train prepare-data``),
CelebA only; without a cache, the validation records are aligned on the fly.  Prints numbers (medians
of several runs, 2 threads); asserts nothing.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def held_out_faces(n: int, size: int, cache: str | None) -> np.ndarray:
    """``n`` aligned held-out-identity CelebA faces at ``size`` px (deterministic order)."""
    from faceedit.images import resize
    from faceedit.testing import data_dir
    from faceedit.train.data import align_record, collect_records, default_cache_dir, load_cache

    path = Path(cache) if cache else default_cache_dir() / "faces64.npz"
    if path.is_file():
        data = load_cache(path)
        idx = np.flatnonzero(data.val & (data.source == "celeba"))[:n]
        images = data.images[idx]
    else:
        records = [r for r in collect_records(data_dir(), sources=("celeba",)) if r.val]
        crops = []
        for r in records:
            crop = align_record(r.path, r.source, size)
            if crop is not None:
                crops.append(crop)
            if len(crops) == n:
                break
        images = np.stack(crops)
    return np.stack([resize(im, size) for im in images])


def timed(fn, repeats: int) -> float:
    """Median seconds of ``repeats`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def quality(results, images: np.ndarray, face_dist: bool) -> dict[str, float]:
    """Mean metrics of projection results against the input images."""
    from faceedit.faces.identity import identity_distance

    out = {k: float(np.mean([r.metrics[k] for r in results])) for k in ("psnr", "ssim", "seconds")}
    if all("lpips" in r.metrics for r in results):
        out["lpips"] = float(np.mean([r.metrics["lpips"] for r in results]))
    out["steps"] = float(np.mean([r.metrics["steps"] for r in results]))
    if face_dist:  # issue 19's inversion target is on the median (<= 0.55; the same person is < 0.6)
        d = identity_distance(images, [r.image for r in results])
        out["face_distance"] = float(np.mean(d))
        out["face_distance_median"] = float(np.median(d))
        out["same_person_share"] = float(np.mean(d < 0.6))
    return out


def config_f_step(repeats: int) -> float:
    """Seconds of one optimisation step (forward + backward, batch 1) at FFHQ 1024 config-f shapes."""
    from faceedit.models.stylegan2 import Generator

    torch.manual_seed(0)
    g = Generator(1024, style_dim=512, n_mlp=8, channel_multiplier=2, channel_max=512).eval().requires_grad_(False)
    w = g.mean_latent(100)[:, None].expand(-1, g.n_latent, -1).clone().requires_grad_(True)
    target = torch.zeros(1, 3, 1024, 1024)
    opt = torch.optim.Adam([w], lr=0.01)

    def step() -> None:
        opt.zero_grad()
        (g.synthesis(w) - target).pow(2).mean().backward()
        opt.step()

    return timed(step, repeats)


def main() -> None:
    from faceedit.errors import FaceEditError
    from faceedit.images import to_image
    from faceedit.models.checkpoints import load_discriminator, load_generator
    from faceedit.models.encoder import load_encoder
    from faceedit.models.stylegan2 import seeded_z
    from faceedit.projection.project import ProjectionSettings, Projector

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="generator (default: built-in)")
    ap.add_argument("--encoder", default=None, help="encoder (default: built-in)")
    ap.add_argument("--discriminator", default=None, help="discriminator (default: built-in)")
    ap.add_argument("--cache", default=None, help="training data cache with the validation split")
    ap.add_argument("--n", type=int, default=200, help="held-out faces for the quality numbers")
    ap.add_argument("--presets", nargs="+", default=["fast", "balanced"])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="override a setting for every non-fast preset")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--no-face-distance", action="store_true")
    ap.add_argument("--config-f", action="store_true", help="also time one step at 1024 config-f shapes")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    ap.add_argument("--json", default=None, help="also write the numbers to this JSON file")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from faceedit.config import parse_overrides

    overrides = parse_overrides(args.set)

    G = load_generator(args.model)
    E = load_encoder(args.encoder)
    try:
        D = load_discriminator(args.discriminator)
    except FaceEditError as e:  # no discriminator: the perceptual loss is LPIPS or nothing
        print(f"no discriminator ({e})")
        D = None
    report: dict[str, object] = {"model_id": G.model_id, "resolution": G.resolution, "threads": args.threads}
    print(f"model {G.model_id}: {G.resolution} px, n_latent {G.n_latent}, style_dim {G.style_dim}")

    faces = held_out_faces(args.n, G.resolution, args.cache)
    print(f"{len(faces)} held-out faces")

    # speed: encoder only
    enc_only = Projector(G, E, ProjectionSettings.from_preset("fast"))
    for bs in (1, 8):
        sec = timed(lambda: enc_only.project(list(faces[:bs])), args.repeats) / bs
        report[f"encoder_only_ms_per_image_batch{bs}"] = round(sec * 1000, 2)
        print(f"encoder only (incl. render + metrics), batch {bs}: {sec * 1000:.1f} ms/image")

    # quality (and time) per preset
    for preset in args.presets:
        settings = ProjectionSettings.from_preset(preset, **({} if preset == "fast" else overrides))
        proj = Projector(G, E, settings, discriminator=D)
        t = time.perf_counter()
        results = proj.project(list(faces))
        wall = (time.perf_counter() - t) / len(faces)
        q = quality(results, faces, not args.no_face_distance)
        q["wall_seconds_per_image"] = wall
        report[preset] = {k: round(v, 4) for k, v in q.items()}
        print(f"{preset:9s} [{proj.perceptual_name}] " + "  ".join(f"{k} {v:.4g}" for k, v in q.items()))
    if "fast" in report and "balanced" in report:
        gain = report["balanced"]["psnr"] - report["fast"]["psnr"]
        report["balanced_psnr_gain_db"] = round(gain, 3)
        print(f"balanced - encoder only: {gain:+.2f} dB PSNR")

    # recovery of generated faces (the encoder's guess, refined)
    with torch.no_grad():
        z = seeded_z(8, G.style_dim, 0)
        generated = to_image(G.synthesis(G.mapping(z)))
    rec = Projector(G, E, ProjectionSettings.from_preset("balanced", **overrides), discriminator=D).project(list(generated))
    report["generated_balanced_psnr"] = round(float(np.mean([r.metrics["psnr"] for r in rec])), 3)
    print(f"generated faces, balanced: PSNR {report['generated_balanced_psnr']:.2f} dB")

    if args.config_f:
        sec = config_f_step(max(1, args.repeats - 1))
        report["config_f_1024_seconds_per_step"] = round(sec, 3)
        print(f"one optimisation step at 1024 config-f (batch 1, fwd+bwd): {sec:.2f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

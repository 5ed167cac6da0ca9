"""Pivotal tuning, measured (issue 19, inversion): does fine-tuning the generator per photo at its projected W+
(the pivot) bring the reconstruction, and an edit made with the tuned copy, closer to the person (dlib)?

    python benchmarks/pivotal_tuning.py [--n 20] [--steps 100] [--locality 0] [--edit A_2_fr_0] [--grid out.png]

Held-out CelebA faces of the data cache, ``balanced`` projection (the pivot), then ``--steps`` Adam steps on the
synthesis network (MSE at the pivot; ``--locality`` > 0 also keeps random edit-sized neighbours of the pivot as
the original generator renders them).  Prints PSNR and dlib identity of the reconstructions and of the edit made
with the original and the tuned generator; ``--grid`` writes photos / pivot / tuned / edit (original) / edit
(tuned) rows.  Results: the model card's "Inversion experiment".
"""
from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import torch
import torch.nn.functional as F


def tune(G: torch.nn.Module, w: torch.Tensor, target: torch.Tensor, steps: int, locality: float,
         radius: float) -> torch.nn.Module:
    """A copy of ``G`` whose synthesis network renders ``target`` at ``w`` (mapping network untouched)."""
    Gt = copy.deepcopy(G).train()
    opt = torch.optim.Adam([p for n, p in Gt.named_parameters() if not n.startswith("style.")], lr=3e-4)
    for _ in range(steps):
        loss = F.mse_loss(Gt.synthesis(w, noise_mode="const"), target)
        if locality > 0:
            r = torch.randn(2, *w.shape[1:])
            r = w + r / r.flatten(1).norm(dim=1)[:, None, None] * radius * torch.rand(2, 1, 1) * 1.5
            with torch.no_grad():
                ref = G.synthesis(r, noise_mode="const")
            loss = loss + locality * F.mse_loss(Gt.synthesis(r, noise_mode="const"), ref)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return Gt.eval()


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean([10 * np.log10(255.0 ** 2 / max(np.mean((x.astype(float) - y.astype(float)) ** 2), 1e-9))
                          for x, y in zip(a, b)]))


def main() -> None:
    from faceedit.faces.identity import identity_distance
    from faceedit.images import image_grid, save_image, to_image, to_tensor
    from faceedit.models.checkpoints import load_generator
    from faceedit.projection.project import ProjectionSettings, Projector, paired_encoder
    from faceedit.testing import benchmark_module
    from faceedit.edit.translations import TranslationStore, default_translations_dir

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=20)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--locality", type=float, default=0.0)
    ap.add_argument("--edit", default="A_2_fr_0")
    ap.add_argument("--cache", help="64 px data cache (default: the usual one)")
    ap.add_argument("--grid", help="write a comparison grid (PNG)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    G = load_generator(None).eval()
    faces = benchmark_module("projection").held_out_faces(args.n, G.resolution, args.cache)
    pivots = Projector(G, paired_encoder(G), ProjectionSettings.from_preset("balanced")).project(list(faces))
    rec = np.stack([r.image for r in pivots])
    delta = torch.from_numpy(TranslationStore(default_translations_dir() / G.model_id, G.model_id).get(args.edit).delta)
    tuned, edit0, edit1 = [], [], []
    t0 = time.perf_counter()
    for face, pivot in zip(faces, pivots):
        w = torch.from_numpy(pivot.latent.w)[None]
        Gt = tune(G, w, to_tensor(face[None]), args.steps, args.locality, float(delta.norm()))
        with torch.no_grad():
            tuned.append(to_image(Gt.synthesis(w, noise_mode="const"))[0])
            edit0.append(to_image(G.synthesis(w + delta, noise_mode="const"))[0])
            edit1.append(to_image(Gt.synthesis(w + delta, noise_mode="const"))[0])
    seconds = (time.perf_counter() - t0) / len(faces)
    tuned, edit0, edit1 = np.stack(tuned), np.stack(edit0), np.stack(edit1)
    for label, images in (("pivot (balanced)", rec), (f"tuned, {args.steps} steps, locality {args.locality}", tuned)):
        d = identity_distance(faces, images)
        print(f"{label}: PSNR {psnr(faces, images):.2f} dB, dlib median {np.median(d):.3f}, "
              f"{np.mean(d < 0.6):.0%} below 0.6")
    print(f"{args.edit} edit, dlib to the photo: original generator {np.median(identity_distance(faces, edit0)):.3f}, "
          f"tuned {np.median(identity_distance(faces, edit1)):.3f}; tuning {seconds:.1f} s/face")
    if args.grid:
        k = min(8, len(faces))
        save_image(args.grid, image_grid(np.concatenate([faces[:k], rec[:k], tuned[:k], edit0[:k], edit1[:k]]), ncol=k))


if __name__ == "__main__":
    main()

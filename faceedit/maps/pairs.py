"""Training pairs for the map encoder: faces parsed by the project's parser, cached under a folder.

Three kinds of pairs, each a set of ``(map, W+)`` with the map parsed at 256 px by the ``landmarks`` backend
(:func:`faceedit.faces.parsing.parse_aligned`) and shrunk to the model's size by block majority:

- ``real``: aligned training photos (held-out identities never) with their W+ from the built-in encoder
  (the rows of ``train_latents.npy``, which encodes :func:`faceedit.edit.builder.training_subset`);
- ``recon``: the renders of those W+ codes, parsed (map and W+ agree exactly: the render *is* the face);
- ``sample``: renders of sampled W+ codes (style mixing), parsed;
- ``val``: held-out photos, parsed (for the benchmark; no W+).

A new generator needs new ``recon`` and ``sample`` pairs, but the photos' parses stay what they were:
``PairSettings.reuse`` names an older pairs folder whose ``real`` and ``val`` chunks of the same photos are copied
(parsed at the same work size), their W+ replaced by the new codes.
Parsing is slow (~10 faces/s per free core at 128 px), so every kind is cached in chunks (``{kind}_{i:03d}.npz``),
made chunk by chunk across the kinds: an interrupted build resumes at the first missing chunk, and the chunks
made so far are a balanced training set.  Faces the parser cannot read are kept with ``ok = False``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DataError

KINDS = ("real", "recon", "sample", "val")
PHOTO_KINDS = ("real", "val")  # parses of photos: the same for any generator (only their W+ belongs to one)
CHUNK = 200
WORK_SIZE = 128  # parse at 2x the 64 px crops: 3x faster than 256 px, 96.5 % of the pixels agree at 64 px


@dataclass
class PairSettings:
    """How many faces of each kind to parse, and where the inputs are."""

    cache: str  # faces64.npz of `faceedit train prepare-data`
    latents: str  # train_latents.npy (W+ of the training subset, built-in encoder)
    out: str  # folder of the chunk files
    real: int = 2400
    samples: int = 1200
    val: int = 240
    mixing: float = 0.3
    seed: int = 0
    workers: int = 2
    work_size: int = WORK_SIZE
    reuse: str | None = None  # a pairs folder made for another generator: its photo parses (real, val) are kept


def parse_face_map(image: np.ndarray, work_size: int = WORK_SIZE) -> np.ndarray | None:
    """The ``landmarks`` parser's map of one aligned face at the face's own size (parsed at ``work_size`` px,
    shrunk by block majority); None when the parser cannot read it."""
    from ..faces.parsing import majority_resize, parse_aligned

    try:
        labels, _ = parse_aligned(image, work_size)
    except Exception:  # noqa: BLE001 - a face the parser cannot read (no landmarks fit, too small)
        return None
    return majority_resize(labels, image.shape[0])


def _parse_worker(job: tuple[np.ndarray, int]) -> tuple[np.ndarray, bool]:
    image, work_size = job
    labels = parse_face_map(image, work_size)
    return (labels, True) if labels is not None else (np.zeros(image.shape[:2], np.uint8), False)


def parse_faces(images: Sequence[np.ndarray], workers: int = 1, progress: bool = True, desc: str = "parse",
                work_size: int = WORK_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Label maps ``(N, S, S)`` uint8 of aligned faces ``(N, S, S, 3)`` (parsed at ``work_size`` px, shrunk by
    block majority) and which ones parsed ``(N,)`` bool."""
    from tqdm import tqdm

    jobs = [(im, work_size) for im in images]
    if workers > 1:
        from multiprocessing import get_context

        with get_context("spawn").Pool(workers) as pool:
            res = list(tqdm(pool.imap(_parse_worker, jobs, chunksize=8), total=len(jobs), desc=desc,
                            unit="face", disable=not progress))
    else:
        res = [_parse_worker(j) for j in tqdm(jobs, desc=desc, unit="face", disable=not progress)]
    return np.stack([m for m, _ in res]), np.array([ok for _, ok in res], bool)


def spread(n_total: int, n: int) -> np.ndarray:
    """``n`` indices spread evenly over ``range(n_total)`` (all of them when ``n >= n_total``)."""
    if n >= n_total:
        return np.arange(n_total)
    return np.linspace(0, n_total - 1, n).round().astype(int)


def _inputs(s: PairSettings, kind: str, G: Any, data: Any,
            latents: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, W+ (or empty), index into the source) of one kind."""
    import torch

    from ..synthesis import synthesize

    if kind == "val":
        idx = np.flatnonzero(data.val)[spread(int(data.val.sum()), s.val)]
        return data.images[idx], np.zeros((len(idx), 0), np.float32), idx
    if kind in ("real", "recon"):
        idx = spread(len(latents), s.real)
        w = latents[idx].astype(np.float32)
        train_rows = np.flatnonzero(~data.val)[idx]
        images = data.images[train_rows] if kind == "real" else synthesize(G, w)
        return images, w, train_rows
    from ..train.gan import sample_w_plus

    torch.manual_seed(s.seed)
    with torch.no_grad():
        w = sample_w_plus(G, s.samples, s.mixing, torch.device("cpu")).numpy()
    return synthesize(G, w), w, np.arange(len(w))


def _reused_parse(folder: str | None, name: str, index: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """(maps, ok) of chunk ``name`` in ``folder`` when it holds the parses of exactly these photos (``index``)."""
    path = Path(folder) / name if folder else None
    if path is None or not path.is_file():
        return None
    with np.load(path) as z:
        if "index" not in z.files or not np.array_equal(z["index"], index):
            return None
        return z["maps"], z["ok"]


def build_pairs(s: PairSettings, G: Any = None, log: Callable[[str], None] = print) -> dict[str, int]:
    """Parse every kind into ``s.out`` (chunks kept across runs); returns how many faces each kind holds."""
    from ..io import atomic_path
    from ..models.checkpoints import load_generator
    from ..train.data import load_cache
    from ..edit.builder import training_subset

    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    G = G if G is not None else load_generator().eval()
    data = load_cache(s.cache)
    latents = np.load(s.latents, mmap_mode="r")
    if len(latents) != len(training_subset(data)):
        raise DataError(f"{s.latents} holds {len(latents)} codes; the training split of {s.cache} has "
                        f"{len(training_subset(data))} faces")
    inputs = {kind: _inputs(s, kind, G, data, latents) for kind in KINDS}
    n_chunks = max(-(-len(v[0]) // CHUNK) for v in inputs.values())
    for c in range(n_chunks):  # chunk by chunk across the kinds: a build stopped early is still balanced
        for kind, (images, w, index) in inputs.items():
            a = c * CHUNK
            path = out / f"{kind}_{c:03d}.npz"
            if a >= len(images) or path.is_file():
                continue
            kept = _reused_parse(s.reuse, path.name, index[a:a + CHUNK]) if kind in PHOTO_KINDS else None
            maps, ok = kept or parse_faces(images[a:a + CHUNK], s.workers, desc=f"{kind} {c}",
                                           work_size=s.work_size)
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    np.savez(f, maps=maps, ok=ok, w=w[a:a + CHUNK], index=index[a:a + CHUNK],
                             images=images[a:a + CHUNK])
            log(f"{path.name}: {int(ok.sum())}/{len(ok)} parsed" + (f" (reused from {s.reuse})" if kept else ""))
    counts = {kind: len(v[0]) for kind, v in inputs.items()}
    return counts


def chunk_files(folder: str | os.PathLike, kind: str) -> list[Path]:
    """The chunk files of one kind in a pairs folder, in order."""
    return sorted(Path(folder).glob(f"{kind}_[0-9][0-9][0-9].npz"))


def load_pairs(folder: str | os.PathLike, kind: str, only_ok: bool = True) -> dict[str, np.ndarray]:
    """The cached chunks of one kind, concatenated: ``maps``, ``ok``, ``w``, ``index``, ``images``."""
    files = chunk_files(folder, kind)
    if not files:
        raise DataError(f"{folder}: no {kind} map pairs; run `faceedit train map-encoder --build-pairs` first")
    parts: dict[str, list[np.ndarray]] = {}
    for f in files:
        with np.load(f) as z:
            for k in z.files:
                parts.setdefault(k, []).append(z[k])
    out = {k: np.concatenate(v) for k, v in parts.items()}
    if only_ok:
        out = {k: v[out["ok"]] for k, v in out.items()}
    return out

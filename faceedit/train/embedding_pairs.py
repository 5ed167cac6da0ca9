"""Training pairs of the embedding → W+ mapper (issue 22), made by the project itself.

Two kinds of pairs, each a W+ code with dlib descriptors (:func:`faceedit.faces.identity.descriptor`, the canonical
convention: FFHQ-aligned face, 256 px work size):

* ``real``: training faces of a data cache (never its held-out ``val`` rows) with their W+ codes from the
  encoder (the rebuild-suite ``train_latents.npy``, one row per face of
  :func:`faceedit.edit.builder.training_subset`), the descriptor of the **photo** and the descriptor of
  the **render** of the encoded code (the two possible targets, compared by the trainer);
* ``samples``: W codes of seeded z through the generator's mapping (half of them style-mixed at a random layer,
  so that the rows differ as in encoded W+), with the descriptor of their render.

dlib's descriptor costs about 0.1 s per face on one CPU core, so the pairs are made in chunks of
:attr:`PairSettings.chunk` faces, each written atomically (``real_0000.npz``, ``samples_0000.npz``, ...): an
interrupted run resumes at the first missing chunk, and the trainer can start on the chunks already there.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import DataError

KINDS = ("real", "samples", "val")


@dataclass
class PairSettings:
    """How many pairs of each kind and where they go."""

    out: str  # folder of the chunk files
    n_real: int = 5000
    n_samples: int = 5000
    n_val: int = 400  # held-out photos (descriptor only: the benchmark's and the tests' targets)
    chunk: int = 250
    seed: int = 0
    mix_prob: float = 0.5


@dataclass
class Pairs:
    """Loaded pairs: W+ codes ``(N, n_latent, style_dim)`` and their descriptors ``(N, 128)``."""

    w: np.ndarray
    render_desc: np.ndarray  # descriptor of the render of ``w``
    photo_desc: np.ndarray  # descriptor of the real photo (NaN rows for samples)
    real: np.ndarray  # (N,) bool: an encoded real face

    def __len__(self) -> int:
        return len(self.w)


def real_rows(n_train: int, n: int, seed: int) -> np.ndarray:
    """The training rows (indices into the training subset) used as real pairs: a seeded permutation, so
    that any prefix of chunks is an even sample of the training faces."""
    return np.random.default_rng(seed).permutation(n_train)[:min(n, n_train)]


def val_rows(data: Any, n: int, seed: int) -> np.ndarray:
    """Indices into ``data`` of ``n`` held-out faces (``data.val``), at most 2 per identity (seeded)."""
    index = np.flatnonzero(data.val)
    if n <= 0:
        return index[:0]
    rng = np.random.default_rng(seed + 1)
    index = index[rng.permutation(len(index))]
    taken: dict[int, int] = {}
    keep = []
    for i in index:
        ident = int(data.identity[i])
        if ident >= 0:
            if taken.get(ident, 0) >= 2:
                continue
            taken[ident] = taken.get(ident, 0) + 1
        keep.append(i)
        if len(keep) == n:
            break
    return np.sort(np.array(keep, dtype=np.int64))


def sample_w_plus(generator: Any, n: int, seed: int, mix_prob: float = 0.5) -> np.ndarray:
    """``n`` seeded W+ codes ``(n, n_latent, style_dim)``: W of seeded z broadcast to every row, a share
    ``mix_prob`` of them style-mixed with a second W from a random row on."""
    from ..edit.directions import sample_w

    w1 = sample_w(generator, n, seed)
    w2 = sample_w(generator, n, seed + 10 ** 6)
    rng = np.random.default_rng(seed)
    cut = rng.integers(1, generator.n_latent, n)
    mixed = rng.random(n) < mix_prob
    rows = np.arange(generator.n_latent)[None, :]
    take2 = mixed[:, None] & (rows >= cut[:, None])
    return np.where(take2[:, :, None], w2[:, None, :], w1[:, None, :]).astype(np.float32)


def _chunk_file(out: Path, kind: str, i: int) -> Path:
    return out / f"{kind}_{i:04d}.npz"


def build_pairs(s: PairSettings, generator: Any, data: Any, latents: np.ndarray,
                kinds: tuple[str, ...] = KINDS, progress: Callable[[str], None] | None = None) -> dict[str, int]:
    """Make (or complete) the chunk files of ``kinds`` in ``s.out``; returns the pairs now there per kind.

    ``data`` is the FaceData of the cache, ``latents`` the encoded training subset (one row per training
    face, in :func:`~faceedit.edit.builder.training_subset` order).
    """
    from tqdm import tqdm

    from ..faces.identity import descriptors
    from ..synthesis import synthesize
    from ..edit.builder import training_subset

    out = Path(s.out)
    out.mkdir(parents=True, exist_ok=True)
    train = training_subset(data)
    if len(latents) != len(train):
        raise DataError(f"{len(latents)} encoded latents for {len(train)} training faces: the latents cache "
                        "does not belong to this data cache")
    plans = {
        "real": real_rows(len(train), s.n_real, s.seed),
        "samples": np.arange(s.n_samples),
        "val": val_rows(data, s.n_val, s.seed),
    }
    for kind in kinds:
        rows = plans[kind]
        n_chunks = (len(rows) + s.chunk - 1) // s.chunk
        todo = [i for i in range(n_chunks) if not _chunk_file(out, kind, i).is_file()]
        for i in tqdm(todo, desc=f"{kind} pairs ({s.chunk} faces a chunk)", unit="chunk"):
            idx = rows[i * s.chunk:(i + 1) * s.chunk]
            arrays = _make_chunk(kind, idx, s, generator, data, train, latents, i, descriptors, synthesize)
            _save_npz(_chunk_file(out, kind, i), arrays)
            if progress:
                progress(f"{kind} chunk {i + 1}/{n_chunks}")
    return {k: len(load_kind(out, k)) for k in kinds}


def _make_chunk(kind: str, idx: np.ndarray, s: PairSettings, generator: Any, data: Any, train: Any,
                latents: np.ndarray, i: int, descriptors: Callable, synthesize: Callable) -> dict[str, np.ndarray]:
    if kind == "val":
        return {"index": idx, "photo_desc": descriptors(data.images[idx])}
    if kind == "real":
        w = np.asarray(latents[idx], np.float32)
        return {"index": idx, "w": w, "photo_desc": descriptors(train.images[idx]),
                "render_desc": descriptors(synthesize(generator, w))}
    w = sample_w_plus(generator, len(idx), s.seed * 7919 + 1000 + i, s.mix_prob)
    return {"index": idx, "w": w, "render_desc": descriptors(synthesize(generator, w))}


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    from ..io import atomic_path

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)


def load_kind(folder: str | os.PathLike, kind: str) -> dict[str, np.ndarray]:
    """Every chunk of one kind concatenated (an empty dict when there is none)."""
    files = sorted(Path(folder).glob(f"{kind}_[0-9][0-9][0-9][0-9].npz"))
    if not files:
        return {}
    parts = [dict(np.load(f, allow_pickle=False)) for f in files]
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def load_pairs(folder: str | os.PathLike, target: str = "render", use_samples: bool = True) -> Pairs:
    """The training pairs in ``folder``; ``target`` picks the descriptor of real faces the mapper learns from
    (``render``: of the render of the encoded code; ``photo``: of the photo)."""
    if target not in ("render", "photo"):
        raise DataError(f"unknown target {target!r}: render or photo")
    real, samples = load_kind(folder, "real"), load_kind(folder, "samples") if use_samples else {}
    if not real and not samples:
        raise DataError(f"{folder}: no training pairs (run the pair stage first)")
    ws, descs, photos, is_real = [], [], [], []
    if real:
        ws.append(real["w"])
        descs.append(real["render_desc"] if target == "render" else real["photo_desc"])
        photos.append(real["photo_desc"])
        is_real.append(np.ones(len(real["w"]), bool))
    if samples:
        ws.append(samples["w"])
        descs.append(samples["render_desc"])
        photos.append(np.full_like(samples["render_desc"], np.nan))
        is_real.append(np.zeros(len(samples["w"]), bool))
    return Pairs(np.concatenate(ws), np.concatenate(descs), np.concatenate(photos), np.concatenate(is_real))


def make_pairs(s: PairSettings, cache: str, latents: str | None = None, generator: str | None = None,
               encoder: str | None = None, threads: int | None = None) -> dict[str, int]:
    """Load what :func:`build_pairs` needs (the data cache, the generator, the encoded training faces: the
    ``latents`` file, else encoded with ``encoder`` once into ``s.out/train_latents.npy``), make the missing
    chunks and write ``s.out/pairs.json`` (the generator's model id, the settings); returns the counts."""
    from dataclasses import asdict

    import torch

    from ..io import save_json, save_npy
    from ..models.checkpoints import load_generator
    from .data import load_cache

    if threads:
        torch.set_num_threads(threads)
    out = Path(s.out)
    G = load_generator(generator).eval()
    data = load_cache(cache)
    if data.resolution != G.resolution:
        raise DataError(f"{cache} holds {data.resolution}-px crops, the generator makes {G.resolution} px")
    lat_file = Path(latents) if latents else out / "train_latents.npy"
    if not lat_file.is_file():
        if latents:
            raise DataError(f"{lat_file}: no such latents file")
        from ..edit.directions import encode_images
        from ..models.encoder import load_encoder
        from ..edit.builder import training_subset

        save_npy(lat_file, encode_images(load_encoder(encoder), training_subset(data).images))
    counts = build_pairs(s, G, data, np.load(lat_file, mmap_mode="r"))
    save_json(out / "pairs.json", {"generator_model_id": G.model_id, "generator": str(generator or "built-in"),
                                   "cache": str(cache), "latents": str(lat_file), "settings": asdict(s),
                                   "counts": counts})
    return counts

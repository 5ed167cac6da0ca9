"""Face-from-embedding benchmark (issue 22).  Three parts; prints numbers, asserts nothing, one torch thread:

    python benchmarks/embedding.py convention --n 100   # face_recognition-style vs canonical descriptors
    python benchmarks/embedding.py rows --n 40           # which W+ rows the descriptor does not fix
    python benchmarks/embedding.py generation --n 200    # photo ↔ generated face, against baselines

``convention``: on the raw, unaligned ``wild/`` photos of the shared data, the L2 distance between the
canonical descriptor (``faceedit identity``: faceedit's alignment, then dlib on the FFHQ-aligned face) and the
descriptor made the usual ``face_recognition`` way (dlib's frontal detector, 5-point landmarks, dlib's own
150 px chip of the raw photo, no jitter), with the distances between different people for scale.

``generation``: on held-out photos (the cache's ``val`` identities, at most 2 photos each; the mapper never saw
them): dlib distance photo ↔ generated face (median, share below 0.6) for the mapper, the mapper with the
descriptor's sex matched (``match_sex``, what ``from_embedding`` does by default), the mapper + refinement
(first ``--refine-n`` photos), the photo's own projection (encoder only: preset ``fast``), random samples and
the mean face; dlib's detection rate on the generated faces; validator sex agreement and age within 10 years
(validator on the generated face vs on the photo); mapper inference time; with ``--recognizer``, the independent
face recogniser's rank-1: the true photo first among 20 held-out photos of the same sex (chance 5 %).
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
import torch


def usual_descriptor(photo: np.ndarray) -> np.ndarray | None:
    """The ``face_recognition`` way: HOG detector (1 upsampling), 5-point landmarks, dlib's chip of the raw
    photo; None when no face is detected."""
    import dlib
    import face_recognition_models as frm

    from faceedit.faces.identity import _face_recognition_model

    det = dlib.get_frontal_face_detector()
    sp = _shape(frm.pose_predictor_five_point_model_location())
    boxes = det(photo, 1)
    if not boxes:
        return None
    box = max(boxes, key=lambda b: b.width() * b.height())
    return np.array(_face_recognition_model().compute_face_descriptor(photo, sp(photo, box)), np.float32)


_SHAPES: dict[str, object] = {}


def _shape(path: str):
    import dlib

    if path not in _SHAPES:
        _SHAPES[path] = dlib.shape_predictor(path)
    return _SHAPES[path]


def convention(n: int) -> dict:
    """Canonical vs usual descriptors on ``n`` wild photos."""
    import csv

    from faceedit.embedding import photo_descriptor
    from faceedit.errors import NoFaceFound
    from faceedit.images import load_image
    from faceedit.testing import data_dir

    folder = data_dir() / "wild"
    rows = list(csv.DictReader(open(folder / "labels.csv")))[:n]
    canon, usual, ident = [], [], []
    for r in rows:
        photo = load_image(folder / "images" / r["filename"])
        u = usual_descriptor(photo)
        try:
            c = photo_descriptor(photo)
        except NoFaceFound:
            c = None
        if u is None or c is None:
            continue
        canon.append(c)
        usual.append(u)
        ident.append(int(r["identity"]))
    canon, usual, ident = np.stack(canon), np.stack(usual), np.array(ident)
    d = np.linalg.norm(canon - usual, axis=1)
    other = ident[:, None] != ident[None, :]
    cross = np.linalg.norm(canon[:, None] - canon[None], axis=2)[other]
    return {"photos": len(rows), "both_found": int(len(d)), "median_l2_usual_vs_canonical": float(np.median(d)),
            "p90_l2": float(np.percentile(d, 90)), "share_below_0.6": float(np.mean(d < 0.6)),
            "median_l2_between_different_people": float(np.median(cross))}


def held_out(cache: str, n: int, pairs: str | None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(images (n, 64, 64, 3), canonical descriptors (n, 128), P(female) labels (n,), identities (n,))`` of
    held-out photos (the pair folder's ``val`` chunks when given, same rows)."""
    from faceedit.faces.identity import descriptors
    from faceedit.train.data import load_cache
    from faceedit.train.embedding_pairs import load_kind, val_rows

    data = load_cache(cache)
    got = load_kind(pairs, "val") if pairs else {}
    if got and len(got["index"]) >= n:
        idx, desc = got["index"][:n], got["photo_desc"][:n]
    else:
        idx = val_rows(data, n, 0)
        desc = descriptors(data.images[idx], progress="held-out photos")
    return data.images[idx], desc, data.gender[idx], data.identity[idx]


def summary(d: np.ndarray) -> dict:
    return {"median": float(np.median(d)), "share_below_0.6": float(np.mean(d < 0.6)), "n": int(len(d))}


def rows_study(cache: str, n: int, pairs: str | None, mapper: str | None) -> dict:
    """Distance of variants (row sets from random samples) to the target, next to the mapper's own face."""
    from faceedit.embedding import map_embeddings, vary
    from faceedit.faces.identity import descriptors
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.embedding_mapper import load_embedding_mapper
    from faceedit.synthesis import synthesize

    G, M = load_generator().eval(), load_embedding_mapper(mapper)
    _, target, _, _ = held_out(cache, n, pairs)
    w = map_embeddings(target, M)
    base = descriptors(synthesize(G, w), progress="mapper faces")
    out = {"mapper": summary(np.linalg.norm(base - target, axis=1))}
    for rows in ((8, 9), (6, 7, 8, 9), (4, 5, 6, 7, 8, 9), (0, 1, 2, 3), (2, 3, 4, 5)):
        codes = np.stack([vary(w[i], 2, G, rng_seed=i, rows=rows)[1] for i in range(len(w))])
        d = descriptors(synthesize(G, codes), progress=f"rows {rows}")
        out[f"rows {rows[0]}-{rows[-1]}"] = {"to_target": summary(np.linalg.norm(d - target, axis=1)),
                                             "to_mapper_face": summary(np.linalg.norm(d - base, axis=1))}
    return out


def _second_photo_rank1(R, photos: np.ndarray, female: np.ndarray, other: np.ndarray, n: int = 20) -> dict:
    """Rank-1 of photo ``i`` among ``n`` same-sex photos when the probe is another photo of the same person
    (``other[i]``, -1 when the set has none): how good the recogniser is on real photos."""
    emb = R.embed(photos)
    rng = np.random.default_rng(0)
    hits = []
    for i in np.flatnonzero(other >= 0):
        pool = np.flatnonzero(female == female[i]) if np.isfinite(female[i]) else np.arange(len(photos))
        pool = rng.permutation(pool[(pool != i) & (pool != other[i])])[:n - 1]
        if len(pool) == n - 1:
            hits.append(int(np.argmax(emb[np.r_[i, pool]] @ emb[other[i]]) == 0))
    return {"rank1": float(np.mean(hits)) if hits else float("nan"), "probes": len(hits)}


def generation(cache: str, n: int, pairs: str | None, mapper: str | None, refine_n: int,
               recognizer: str | None = None, baselines: bool = True) -> dict:
    """The measures of the issue (see the module docstring); ``baselines=False`` measures the mapper's faces
    only (no random samples, mean face or projections: for comparing mappers)."""
    from faceedit.edit.directions import sample_w
    from faceedit.embedding import RefineSettings, map_embeddings, match_sex, refine_latent
    from faceedit.faces.identity import descriptors
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.embedding_mapper import load_embedding_mapper
    from faceedit.models.encoder import load_encoder
    from faceedit.models.validator import load_validator
    from faceedit.projection.project import project
    from faceedit.measure.realism import detection_rate
    from faceedit.synthesis import synthesize

    G, M = load_generator().eval(), load_embedding_mapper(mapper)
    photos, target, female, ident = held_out(cache, n, pairs)
    res: dict = {"held_out_photos": int(len(photos)), "mapper_meta": {k: M.meta.get(k) for k in
                                                                     ("pairs", "target", "trained_steps")}}
    t = []
    for i in range(50):
        t0 = time.perf_counter()
        map_embeddings(target[i % len(target)][None], M)
        t.append(time.perf_counter() - t0)
    res["mapper_ms_per_embedding"] = 1000 * statistics.median(t)

    w = map_embeddings(target, M)
    faces = synthesize(G, w)
    d_map = np.linalg.norm(descriptors(faces, progress="mapper faces") - target, axis=1)
    res["mapper"] = summary(d_map)
    res["dlib_detection_rate_mapper_faces"] = detection_rate(faces)

    compared = {"mapper": faces}
    w_sex, applied = match_sex(w, target, G, M)  # the library's default: the descriptor's sex
    faces_sex = synthesize(G, w_sex)
    res["mapper_sex_matched"] = {**summary(np.linalg.norm(descriptors(faces_sex) - target, axis=1)),
                                 "sex_edited": int(sum(a is not None for a in applied))}
    res["dlib_detection_rate_mapper_sex_matched"] = detection_rate(faces_sex)
    compared["mapper_sex_matched"] = faces_sex
    if baselines:
        rand = synthesize(G, sample_w(G, len(photos), seed=12345))
        res["random_samples"] = summary(np.linalg.norm(descriptors(rand, progress="random") - target, axis=1))
        mean_face = synthesize(G, M.w_mean.numpy()[None])
        res["mean_face"] = summary(np.linalg.norm(descriptors(mean_face)[0] - target, axis=1))
        lat = project(G, list(photos), preset="fast", encoder=load_encoder())
        proj = synthesize(G, np.stack([l.w for l in lat]))
        res["projection_fast"] = summary(np.linalg.norm(descriptors(proj, progress="projections") - target, axis=1))
        compared.update(projection_fast=proj, random_samples=rand)

    k = min(refine_n, len(photos))
    if k:
        t0, refined, before = time.perf_counter(), [], []
        settings = RefineSettings(iterations=4, population=6)
        for i in range(k):
            _, hist = refine_latent(w[i], target[i], G, settings, scale=M.w_std.numpy())
            before.append(hist[0])
            refined.append(hist[-1])
        res["refine_dlib_search"] = {**summary(np.array(refined)), "same_faces_before": summary(np.array(before)),
                                     "seconds_per_face": (time.perf_counter() - t0) / k,
                                     "settings": vars(settings)}

    V = load_validator()
    pv = V.predict(photos)
    labelled = np.isfinite(female)
    res["validator_on_photos_vs_sex_labels"] = float(np.mean((pv["gender"][labelled] > 0.5) == (female[labelled] > 0.5)))
    for name, images in compared.items():
        fv = V.predict(images)
        res[f"validator_sex_agreement_{name}"] = float(np.mean((pv["gender"] > 0.5) == (fv["gender"] > 0.5)))
        res[f"validator_age_within_10y_{name}"] = float(np.mean(np.abs(pv["age"] - fv["age"]) <= 10))
    if recognizer:
        from faceedit.train.face_recognizer import load_face_recognizer, rank1

        R = load_face_recognizer(recognizer)
        res["recognizer_rank1_of_20_same_sex"] = {
            name: rank1(R, images, photos, female) for name, images in compared.items()}
        res["recognizer_rank1_of_20_same_sex"]["chance"] = 0.05
        # sanity: another photo of the same (held-out) person as the probe, where the set has two
        other = np.array([next((j for j in np.flatnonzero(ident == ident[i]) if j != i), -1) if ident[i] >= 0 else -1
                          for i in range(len(ident))])
        res["recognizer_rank1_of_20_same_sex"]["real_second_photo"] = _second_photo_rank1(R, photos, female, other)
    return res


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("part", choices=("convention", "rows", "generation"))
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--cache", default=str(Path.home() / ".cache/faceedit/data/faces64.npz"))
    p.add_argument("--pairs", help="pair folder of the mapper's training (reuses its held-out descriptors)")
    p.add_argument("--mapper", help="mapper file (default: the built-in one)")
    p.add_argument("--refine-n", type=int, default=30, help="held-out photos also refined (slow: dlib search)")
    p.add_argument("--recognizer", help="independent face recogniser (faceedit.train.face_recognizer) for rank-1")
    p.add_argument("--mapper-only", action="store_true",
                   help="generation: measure the mapper's faces only (no baselines; for comparing mappers)")
    p.add_argument("--out", help="write the numbers as JSON here too")
    a = p.parse_args()
    torch.set_num_threads(1)
    if a.part == "convention":
        res = convention(a.n)
    elif a.part == "rows":
        res = rows_study(a.cache, a.n, a.pairs, a.mapper)
    else:
        res = generation(a.cache, a.n, a.pairs, a.mapper, a.refine_n, a.recognizer, not a.mapper_only)
    text = json.dumps(res, indent=2, default=float)
    print(text)
    if a.out:
        Path(a.out).write_text(text + "\n")


if __name__ == "__main__":
    main()

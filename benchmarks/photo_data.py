"""The photos of ``benchmarks/photo_edits.py``: held-out identities of the shared data, or the user's own.

Held-out = CelebA identities in the validation split of :mod:`faceedit.train.data`
(``_val_by_hash(f"celeba-id-{identity}", 0.1)``), so neither the models nor the translations saw them.
Wild photos whose FFHQ quad is at least :data:`LARGE_QUAD` px are aligned at 512, the rest at 256; CelebA
178x218 crops (one per identity, then a second, ...) fill up to the requested count, aligned at 256.
Sex and age come from the photo's CelebA row, else the majority over the identity's labelled photos
(``Male``, ``Young``), else (``None``) the attribute predictor's reading of the photo.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

#: FFHQ quad side (photo px) from which a wild photo is aligned at 512 instead of 256
LARGE_QUAD = 400
VAL_FRACTION = 0.1


@dataclass
class Photo:
    """One benchmark photo: file, where it comes from, aligned size, face quad side and labels."""

    path: Path
    source: str
    size: int
    quad: float | None = None
    male: bool | None = None
    young: bool | None = None
    label_source: str = "none"


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _identity_votes(data: Path) -> dict[int, tuple[float, float]]:
    """identity -> (mean Male, mean Young) over every labelled CelebA row of the shared data."""
    sums: dict[int, list[float]] = {}
    celeba = data / "celeba"
    for csv_path in (celeba / "img_89x109.csv", celeba / "img_178x218.csv", data / "wild" / "labels.csv"):
        if not csv_path.is_file():
            continue
        for r in _rows(csv_path):
            if r.get("has_attrs", "1") == "1":
                s = sums.setdefault(int(r["identity"]), [0.0, 0.0, 0.0])
                s[0] += float(r["Male"])
                s[1] += float(r["Young"])
                s[2] += 1
    return {k: (v[0] / v[2], v[1] / v[2]) for k, v in sums.items()}


def _labelled(photo: Photo, row: dict[str, str], votes: dict[int, tuple[float, float]]) -> Photo:
    if row.get("has_attrs", "1") == "1":
        photo.male, photo.young, photo.label_source = row["Male"] == "1", row["Young"] == "1", "photo"
    elif int(row["identity"]) in votes:
        male, young = votes[int(row["identity"])]
        photo.male, photo.young, photo.label_source = male >= 0.5, young >= 0.5, "identity"
    return photo


def _quad_side(path: Path) -> float | None:
    """FFHQ quad side (photo px) of the largest face, None without a face."""
    from faceedit.faces.alignment import detect_faces, ffhq_quad
    from faceedit.images import load_image

    found = detect_faces(load_image(path))
    return ffhq_quad(found[0][1])[1] if found else None


def held_out_photos(n: int, data: Path | None = None) -> list[Photo]:
    """``n`` held-out photos: wild ones first (up to ``max(n - 13, n // 2)``), then CelebA 178x218 crops."""
    from faceedit.testing import data_dir
    from faceedit.train.data import _val_by_hash

    data = Path(data or data_dir())
    votes = _identity_votes(data)

    def held_out(r: dict[str, str]) -> bool:
        return _val_by_hash(f"celeba-id-{int(r['identity'])}", VAL_FRACTION)

    photos: list[Photo] = []
    n_wild = max(n - 13, n // 2)
    for r in sorted(filter(held_out, _rows(data / "wild" / "labels.csv")), key=lambda r: r["filename"]):
        if len(photos) >= n_wild:
            break
        path = data / "wild" / "images" / r["filename"]
        quad = _quad_side(path)
        if quad is None:
            continue
        photos.append(_labelled(Photo(path, "wild", 512 if quad >= LARGE_QUAD else 256, quad), r, votes))
    wild_names = {p.path.name for p in photos}
    by_id: dict[int, list[dict[str, str]]] = {}
    for r in filter(held_out, _rows(data / "celeba" / "img_178x218.csv")):
        if r["filename"] not in wild_names:
            by_id.setdefault(int(r["identity"]), []).append(r)
    for rs in by_id.values():  # labelled photos first, then by name
        rs.sort(key=lambda r: (r.get("has_attrs") != "1", r["filename"]))
    rank = 0
    while len(photos) < n and any(len(rs) > rank for rs in by_id.values()):
        for ident in sorted(by_id):
            if len(photos) >= n:
                break
            if len(by_id[ident]) > rank:
                r = by_id[ident][rank]
                path = data / "celeba" / "img_178x218" / r["filename"]
                quad = _quad_side(path)
                if quad is not None:
                    photos.append(_labelled(Photo(path, "celeba 178x218", 256, quad), r, votes))
        rank += 1
    return photos


def user_photos(paths: list[Path]) -> list[Photo]:
    """The user's photos: aligned at 512 when the face is large enough, else 256; labels from the predictor."""
    photos = []
    for path in paths:
        quad = _quad_side(path)
        if quad is None:
            print(f"  skipped {path}: no face found")
            continue
        photos.append(Photo(Path(path), "user", 512 if quad >= LARGE_QUAD else 256, quad))
    return photos

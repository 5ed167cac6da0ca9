"""Training data: align the shared face photos once, cache the crops and merged labels as one ``.npz``.

Sources (see ``../shared/data/README.md``): CelebA aligned crops (89x109 and 178x218, identity + 40
attributes), UTKFace (age, gender, race).  Every face goes through the project's own FFHQ-style alignment
(:func:`faceedit.faces.alignment.align_face`) so that a user's photo aligned by ``faceedit align`` matches what the
models saw.  Landmarks come from dlib's shape predictor run on a known face box (the photos are already
centred crops), with face detection as the fallback; faces that fail both are skipped and counted.

The cache holds ``images`` (N, S, S, 3) uint8 and one row of labels per face; missing labels are NaN
(float tasks) or -1 (race).  The train/validation split is identity-disjoint for CelebA and by a hash of
the file name for UTKFace (it has no identities).
"""
from __future__ import annotations

import csv
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import DataError
from ..models.attributes import CELEBA_ATTRIBUTES


# Known face boxes (left, top, right, bottom) as fractions of the photo size, for dlib's shape predictor.
# Measured with dlib's frontal detector on the shared data (median box); used before trying detection.
FACE_BOX = {
    "celeba": (0.245, 0.40, 0.74, 0.81),
    "utkface": (0.06, 0.06, 0.90, 0.90),
}


def default_cache_dir() -> Path:
    """``$FACEEDIT_HOME/data`` (``$FACEEDIT_HOME`` defaults to ``~/.cache/faceedit``)."""
    from ..models.weights import faceedit_home

    return faceedit_home() / "data"


@dataclass
class Record:
    """One photo to align, with its labels (NaN / -1 where a task has no label)."""

    path: Path
    source: str  # "celeba" or "utkface"
    identity: int = -1
    attrs: np.ndarray = field(default_factory=lambda: np.full(40, np.nan, np.float32))
    age: float = np.nan
    gender: float = np.nan  # P(female): 1 female, 0 male
    race: int = -1
    val: bool = False


@dataclass
class FaceData:
    """Aligned crops and merged labels, all in memory."""

    images: np.ndarray  # (N, S, S, 3) uint8
    attrs: np.ndarray  # (N, 40) float32, NaN = missing
    age: np.ndarray  # (N,) float32, NaN = missing
    gender: np.ndarray  # (N,) float32 P(female) label, NaN = missing
    race: np.ndarray  # (N,) int64, -1 = missing
    identity: np.ndarray  # (N,) int64, -1 = unknown
    source: np.ndarray  # (N,) str
    val: np.ndarray  # (N,) bool
    names: np.ndarray  # (N,) str, file names relative to the data folder

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> int:
        return int(self.images.shape[1])

    def subset(self, index: np.ndarray) -> "FaceData":
        """The rows selected by a boolean mask or an index array."""
        return FaceData(**{k: getattr(self, k)[index] for k in self.__dataclass_fields__})

    def split(self) -> tuple["FaceData", "FaceData"]:
        """(train, validation)."""
        return self.subset(~self.val), self.subset(self.val)

    def save(self, path: str | os.PathLike, jpeg_quality: int | None = None) -> None:
        """Write the cache atomically: raw uint8 crops (fast to load), or with ``jpeg_quality`` the crops as
        JPEG files inside the ``.npz`` (about 10x smaller, e.g. to carry the data to another machine)."""
        from ..io import atomic_path

        arrays = {k: getattr(self, k) for k in self.__dataclass_fields__}
        if jpeg_quality is not None:
            arrays.update(_encode_jpeg(arrays.pop("images"), jpeg_quality))
        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)


def _encode_jpeg(images: np.ndarray, quality: int) -> dict[str, np.ndarray]:
    """``images`` (N, S, S, 3) uint8 as one byte string of JPEG files and their N + 1 offsets."""
    import io

    from PIL import Image

    if not 1 <= quality <= 100:
        raise DataError(f"JPEG quality must be in 1..100, got {quality}")
    files = []
    for img in images:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=quality)
        files.append(np.frombuffer(buf.getvalue(), np.uint8))
    offsets = np.concatenate([[0], np.cumsum([len(f) for f in files])]).astype(np.int64)
    return {"jpeg": np.concatenate(files), "jpeg_offsets": offsets}


def _decode_jpeg(data: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Inverse of :func:`_encode_jpeg`: (N, S, S, 3) uint8."""
    import io

    from PIL import Image

    return np.stack([np.asarray(Image.open(io.BytesIO(data[a:b].tobytes())).convert("RGB"))
                     for a, b in zip(offsets[:-1], offsets[1:])])


def load_cache(path: str | os.PathLike) -> FaceData:
    """Read a cache written by :func:`prepare` into memory."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: no data cache; run `faceedit train prepare-data --cache {path}` first")
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in FaceData.__dataclass_fields__ if k != "images"}
            arrays["images"] = _decode_jpeg(z["jpeg"], z["jpeg_offsets"]) if "jpeg" in z.files else z["images"]
            data = FaceData(**arrays)
    except (OSError, ValueError, KeyError, zlib.error) as e:
        raise DataError(f"{path}: unreadable or incomplete data cache ({e})") from None
    if data.images.ndim != 4 or data.images.dtype != np.uint8 or len(data) == 0:
        raise DataError(f"{path}: data cache holds no images")
    return data


def _val_by_hash(key: str, val_fraction: float) -> bool:
    return (zlib.crc32(key.encode()) % 10000) < val_fraction * 10000


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"{path}: label file not found")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise DataError(f"{path}: label file is empty")
    return rows


def _celeba_records(folder: Path, csv_path: Path, val_fraction: float) -> list[Record]:
    rows = _read_csv(csv_path)
    missing = [a for a in ("filename", "identity", *CELEBA_ATTRIBUTES) if a not in rows[0]]
    if missing:
        raise DataError(f"{csv_path}: columns missing: {', '.join(missing[:5])}")
    out = []
    for row in rows:
        ident = int(row["identity"])
        attrs = np.full(40, np.nan, np.float32)
        if row.get("has_attrs", "1") == "1":
            attrs = np.array([float(row[a]) for a in CELEBA_ATTRIBUTES], np.float32)
        gender = 1.0 - attrs[CELEBA_ATTRIBUTES.index("Male")]
        out.append(Record(folder / row["filename"], "celeba", ident, attrs, gender=gender,
                          val=_val_by_hash(f"celeba-id-{ident}", val_fraction)))
    return out


def _utkface_records(folder: Path, csv_path: Path, val_fraction: float) -> list[Record]:
    rows = _read_csv(csv_path)
    cols = list(rows[0])
    if len(cols) < 4 or cols[0] != "filename":
        raise DataError(f"{csv_path}: expected columns filename, age, gender, race[, label_ok]")
    out = []
    for row in rows:
        name = row["filename"]
        ok = row.get("label_ok", "1") == "1"
        age, gender, race = (float(row[cols[1]]), float(row[cols[2]]), int(row[cols[3]])) if ok else (np.nan, np.nan, -1)
        out.append(Record(folder / name, "utkface", age=age, gender=gender, race=race,
                          val=_val_by_hash(f"utkface-{name}", val_fraction)))
    return out


def collect_records(data_dir: str | os.PathLike, sources: Sequence[str] = ("celeba", "utkface"),
                    val_fraction: float = 0.1) -> list[Record]:
    """All photos of the shared data folder with merged labels.

    CelebA images present at both resolutions are taken once, from the sharper 178x218 copy, with the
    attribute row of whichever copy has one.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"{root}: data folder not found")
    records: list[Record] = []
    if "celeba" in sources:
        small = _celeba_records(root / "celeba" / "img_89x109", root / "celeba" / "img_89x109.csv", val_fraction)
        large_csv = root / "celeba" / "img_178x218.csv"
        large = _celeba_records(root / "celeba" / "img_178x218", large_csv, val_fraction) if large_csv.is_file() else []
        by_name = {r.path.name: r for r in small}
        for r in large:
            old = by_name.get(r.path.name)
            if old is not None and np.isnan(r.attrs).all():
                r.attrs, r.gender = old.attrs, old.gender
            by_name[r.path.name] = r
        records += [by_name[k] for k in sorted(by_name)]
    if "utkface" in sources:
        records += _utkface_records(root / "utkface" / "images", root / "utkface" / "labels.csv", val_fraction)
    if not records:
        raise DataError(f"{root}: no labelled photos found for sources {list(sources)}")
    return records


def _plausible(landmarks: np.ndarray, shape: tuple[int, ...]) -> bool:
    """Cheap sanity check of 68 landmarks found on a known box: eyes level-ish, mouth below them."""
    le, re_ = landmarks[36:42].mean(0), landmarks[42:48].mean(0)
    mouth = landmarks[48:60].mean(0)
    eye_dist = np.linalg.norm(re_ - le)
    h, w = shape[:2]
    return (0.12 * w < eye_dist < 0.6 * w and mouth[1] > max(le[1], re_[1]) + 0.3 * eye_dist
            and abs(re_[1] - le[1]) < 0.5 * eye_dist)


def align_record(path: Path, source: str, size: int) -> np.ndarray | None:
    """The aligned ``size`` px crop of one photo, or None when no face was found."""
    from ..faces.alignment import align_face, detect_faces, landmarks_in_box
    from ..errors import FaceEditError
    from ..images import load_image

    photo = load_image(path)
    h, w = photo.shape[:2]
    fx0, fy0, fx1, fy1 = FACE_BOX[source]
    box = (int(fx0 * w), int(fy0 * h), int(fx1 * w), int(fy1 * h))
    landmarks = np.asarray(landmarks_in_box(photo, box), np.float64)
    if not _plausible(landmarks, photo.shape):
        try:
            found = detect_faces(photo)
        except FaceEditError:
            found = []
        if not found:
            return None
        landmarks = np.asarray(found[0][1], np.float64)
    return align_face(photo, landmarks, size).image


def _align_worker(args: tuple[str, str, int]) -> np.ndarray | None:
    path, source, size = args
    try:
        return align_record(Path(path), source, size)
    except Exception:  # noqa: BLE001 - an unreadable photo is skipped and counted like a missed face
        return None


def prepare(data_dir: str | os.PathLike, cache: str | os.PathLike, size: int = 64,
            sources: Sequence[str] = ("celeba", "utkface"), val_fraction: float = 0.1,
            workers: int = 2, limit: int | None = None) -> dict:
    """Align every photo, write the cache, return counts (total, kept, skipped per source, train/val)."""
    from tqdm import tqdm

    records = collect_records(data_dir, sources, val_fraction)
    if limit:
        step = max(1, len(records) // limit)
        records = records[::step][:limit]
    jobs = [(str(r.path), r.source, size) for r in records]
    if workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(workers) as pool:
            crops = list(tqdm(pool.imap(_align_worker, jobs, chunksize=32), total=len(jobs), desc="align"))
    else:
        crops = [_align_worker(j) for j in tqdm(jobs, desc="align")]
    keep = [i for i, c in enumerate(crops) if c is not None]
    if not keep:
        raise DataError(f"{data_dir}: no face could be aligned in {len(records)} photos")
    root = Path(data_dir)
    kept = [records[i] for i in keep]
    data = FaceData(
        images=np.stack([crops[i] for i in keep]).astype(np.uint8),
        attrs=np.stack([r.attrs for r in kept]).astype(np.float32),
        age=np.array([r.age for r in kept], np.float32),
        gender=np.array([r.gender for r in kept], np.float32),
        race=np.array([r.race for r in kept], np.int64),
        identity=np.array([r.identity for r in kept], np.int64),
        source=np.array([r.source for r in kept]),
        val=np.array([r.val for r in kept], bool),
        names=np.array([str(r.path.relative_to(root)) if r.path.is_relative_to(root) else str(r.path) for r in kept]),
    )
    from .loop import check_free_disk

    check_free_disk(Path(cache).parent, data.images.nbytes * 1.1)
    data.save(cache)
    counts = {"photos": len(records), "aligned": len(keep), "train": int((~data.val).sum()),
              "val": int(data.val.sum()), "size": size}
    for src in sources:
        n = sum(r.source == src for r in records)
        k = sum(r.source == src for r in kept)
        counts[f"{src}_aligned"], counts[f"{src}_skipped"] = k, n - k
    return counts


class Batches:
    """Endless seeded random batches of image indices; its state can be saved and restored exactly."""

    def __init__(self, n: int, batch_size: int, seed: int = 0):
        if n == 0:
            raise DataError("no training images")
        self.n, self.batch_size = n, batch_size
        self.rng = np.random.default_rng(seed)
        self._order = self.rng.permutation(n)
        self._pos = 0

    def __iter__(self) -> "Batches":
        return self

    def __next__(self) -> np.ndarray:
        out: list[np.ndarray] = []
        need = self.batch_size
        while need > 0:
            if self._pos >= self.n:
                self._order, self._pos = self.rng.permutation(self.n), 0
            take = self._order[self._pos:self._pos + need]
            self._pos += len(take)
            need -= len(take)
            out.append(take)
        return np.concatenate(out)

    def state_dict(self) -> dict:
        return {"rng": self.rng.bit_generator.state, "order": self._order.copy(), "pos": self._pos}

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._order, self._pos = np.asarray(state["order"]), int(state["pos"])

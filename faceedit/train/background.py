"""Background variants of aligned face data: keep the person, blur or grey out the rest (issue 23).

For every FFHQ-aligned crop the project's face parser (:func:`faceedit.faces.parsing.parse`, landmarks backend, the
68 landmarks predicted on the known face box of an aligned face as :mod:`faceedit.faces.identity` does) labels the
pixels at :data:`WORK_SIZE` px; the *person* is face + hair + neck (:data:`PERSON`: the face-and-hair classes
of paste-back plus ``neck``; clothes count as background) together with the convex hull of those landmarks
(so that the face is kept where the parser's skin model misses a cheek), grown by :data:`MARGIN` of the side
(1 px at 64 px: another landmark fit puts the jaw line a pixel further out); a pixel of the output size that is
at least a quarter person counts as person.  The mask is feathered outwards only: alpha is
exactly 1 on the person and falls to 0 over ``feather`` pixels outside it, so person pixels are copied
bit-exactly and only the background (and the feather band) changes:

- ``blur``: the background blurred by a Gaussian of ``sigma`` px, normalised by the blurred background mask so
  that the person's colours do not bleed into it;
- ``grey``: the background replaced by mid grey (128);
- ``keep``: the image unchanged (the masks and manifest are still written: the raw arm of a study).

:func:`make_variant` does a data cache of ``faceedit train prepare-data`` (→ a cache with the same labels and
split, masks in ``OUT.masks.npz``, ``OUT.manifest.json``, a contact sheet ``OUT.sheet.png``);
:func:`make_folder_variant` a folder of aligned images (→ a folder with ``masks/``, ``manifest.json``,
``sheet.png``).
"""
from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import DataError, InvalidInput

MODES = ("blur", "grey", "keep")
PERSON = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "nose", "mouth", "u_lip",
          "l_lip", "hair", "hat", "neck")
WORK_SIZE = 256  # the parser runs on aligned faces resized to this side
MARGIN = 1 / 64  # the person mask is grown by this share of the side (1 px at 64 px): landmarks vary by a pixel
GREY = 128


def person_mask(image: np.ndarray, work_size: int = WORK_SIZE) -> np.ndarray:
    """Boolean ``(H, W)`` mask of face + hair + neck of one FFHQ-aligned RGB uint8 face."""
    import cv2

    from ..images import check_image
    from ..faces.parsing import LABEL, parse_aligned

    image = check_image(image)
    h, w = image.shape[:2]
    labels, points = parse_aligned(image, work_size)
    keep = np.isin(labels, [LABEL[c] for c in PERSON]).astype(np.uint8)
    cv2.fillConvexPoly(keep, cv2.convexHull(np.round(points).astype(np.int32)), 1)  # the face, even where skin is missed
    r = max(int(round(work_size * MARGIN)), 1)
    keep = cv2.dilate(keep, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
    if (h, w) != (work_size, work_size):  # a pixel a quarter covered by the person counts as the person
        return cv2.resize(keep.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) >= 0.25
    return keep.astype(bool)


def feather_alpha(mask: np.ndarray, feather: float) -> np.ndarray:
    """Float32 alpha ``(H, W)``: exactly 1 on ``mask``, falling linearly to 0 over ``feather`` px outside."""
    import cv2

    mask = np.asarray(mask, bool)
    if feather <= 0 or mask.all() or not mask.any():
        return mask.astype(np.float32)
    dist = cv2.distanceTransform((~mask).astype(np.uint8), cv2.DIST_L2, 5)  # 0 on the mask
    return np.clip(1.0 - dist / float(feather + 1), 0.0, 1.0).astype(np.float32)


def replace_background(image: np.ndarray, mask: np.ndarray, mode: str, sigma: float, feather: float) -> np.ndarray:
    """The image with its background (``~mask``) blurred, greyed or kept; person pixels bit-exact."""
    import cv2

    if mode not in MODES:
        raise InvalidInput(f"unknown background mode {mode!r}; choose one of {', '.join(MODES)}")
    if mode == "keep":
        return image.copy()
    img = image.astype(np.float32)
    if mode == "grey":
        background = np.full_like(img, GREY)
    else:
        b = (~np.asarray(mask, bool)).astype(np.float32)
        num = cv2.GaussianBlur(img * b[..., None], (0, 0), sigma)
        den = cv2.GaussianBlur(b, (0, 0), sigma)[..., None]
        background = np.where(den > 1e-3, num / np.maximum(den, 1e-3), cv2.GaussianBlur(img, (0, 0), sigma))
    alpha = feather_alpha(mask, feather)[..., None]
    out = np.clip(np.round(alpha * img + (1 - alpha) * background), 0, 255).astype(np.uint8)
    return np.where(alpha >= 1.0, image, out)


def default_sigma(size: int) -> float:
    """Background blur: 1/16 of the side (4 px at 64 px)."""
    return size / 16.0


def default_feather(size: int) -> float:
    """Feather width: 1/32 of the side (2 px at 64 px)."""
    return size / 32.0


def _mask_worker(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """(mask, parsed): the head ellipse of an aligned face when the parser fails on this crop."""
    try:
        return person_mask(image), True
    except Exception:  # noqa: BLE001 - a crop the parser cannot read still gets a plausible mask
        from ..faces.alignment import head_ellipse_mask

        side = image.shape[0]
        return np.asarray(head_ellipse_mask(side) > 0.5), False


def compute_masks(images: Sequence[np.ndarray], workers: int = 1,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Person masks ``(N, H, W)`` bool of aligned faces and which ones the parser read ``(N,)`` bool."""
    from tqdm import tqdm

    it: Any
    if workers > 1:
        from multiprocessing import get_context

        pool = get_context("spawn").Pool(workers)
        it = pool.imap(_mask_worker, images, chunksize=16)
    else:
        pool, it = None, map(_mask_worker, images)
    try:
        res = list(tqdm(it, total=len(images), desc="person masks", unit="face", disable=not progress))
    finally:
        if pool is not None:
            pool.close()
    return np.stack([m for m, _ in res]), np.array([ok for _, ok in res], bool)


def apply(images: np.ndarray, masks: np.ndarray, mode: str, sigma: float, feather: float) -> np.ndarray:
    """:func:`replace_background` over a stack of images."""
    return np.stack([replace_background(im, m, mode, sigma, feather) for im, m in zip(images, masks)])


def contact_sheet(images: np.ndarray, masks: np.ndarray, outputs: np.ndarray, n: int = 24) -> np.ndarray:
    """A sheet of the first ``n`` faces: each as (photo, person mask in white over dimmed photo, result)."""
    from ..images import image_grid

    cells = []
    for im, m, out in zip(images[:n], masks[:n], outputs[:n]):
        shown = (im * 0.35).astype(np.uint8)
        shown[m] = 255
        cells += [im, shown, out]
    return image_grid(np.stack(cells), ncol=12)


def _manifest(mode: str, sigma: float, feather: float, parsed: np.ndarray, source: str, seconds: float,
              masks_from: str | None) -> dict[str, Any]:
    return {"mode": mode, "sigma_px": sigma, "feather_px": feather, "source": source, "images": int(len(parsed)),
            "parsed": int(parsed.sum()), "fallback_head_ellipse": int((~parsed).sum()), "person_classes": list(PERSON),
            "parser": "faceedit.faces.parsing landmarks backend", "work_size": WORK_SIZE, "masks_from": masks_from,
            "seconds": round(seconds, 1)}


def _load_masks(path: str | os.PathLike, n: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as z:
            masks, parsed = z["masks"].astype(bool), z["parsed"].astype(bool)
    except (OSError, KeyError, ValueError) as e:
        raise DataError(f"{path}: not a masks file of `faceedit data background` ({e})") from None
    if masks.shape != (n, *shape):
        raise DataError(f"{path}: masks {masks.shape} do not fit the {n} images of {shape[0]} px")
    return masks, parsed


def make_variant(src: str | os.PathLike, out: str | os.PathLike, mode: str, sigma: float | None = None,
                 feather: float | None = None, sources: Sequence[str] | None = None, limit: int | None = None,
                 masks: str | os.PathLike | None = None, workers: int = 1) -> dict[str, Any]:
    """Write the background variant of a data cache (see the module docstring); returns the manifest.
    ``masks`` reuses the ``OUT.masks.npz`` of an earlier run on the same input (same sources and limit)."""
    from ..images import save_image
    from ..io import save_json
    from .data import load_cache

    if mode not in MODES:
        raise InvalidInput(f"unknown background mode {mode!r}; choose one of {', '.join(MODES)}")
    t0 = time.time()
    data = load_cache(src)
    if sources:
        data = data.subset(np.isin(data.source, list(sources)))
    if limit is not None:
        data = data.subset(np.arange(min(limit, len(data))))
    if not len(data):
        raise DataError(f"{src}: no crops left with sources {list(sources or [])}")
    size = data.resolution
    sigma = default_sigma(size) if sigma is None else float(sigma)
    feather = default_feather(size) if feather is None else float(feather)
    if masks is not None:
        person, parsed = _load_masks(masks, len(data), (size, size))
    else:
        person, parsed = compute_masks(data.images, workers)
    originals = data.images
    data.images = apply(originals, person, mode, sigma, feather)
    out = Path(out)
    data.save(out)
    stem = out.with_suffix("")
    masks_path = Path(f"{stem}.masks.npz")
    if masks is None:
        np.savez_compressed(masks_path, masks=person, parsed=parsed, names=data.names)
    manifest = {**_manifest(mode, sigma, feather, parsed, str(src), time.time() - t0, str(masks) if masks else None),
                "sources": list(sources or []), "masks_file": str(masks_path if masks is None else masks)}
    save_json(f"{stem}.manifest.json", manifest)
    save_image(f"{stem}.sheet.png", contact_sheet(originals, person, data.images))
    return manifest


def make_folder_variant(src: str | os.PathLike, out: str | os.PathLike, mode: str, sigma: float | None = None,
                        feather: float | None = None, workers: int = 1,
                        progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write the background variant of a folder of aligned face images into the folder ``out`` (PNG, the
    same names), with ``masks/``, ``manifest.json`` and ``sheet.png``; returns the manifest."""
    from ..images import list_images, load_image, save_image
    from ..io import save_json

    if mode not in MODES:
        raise InvalidInput(f"unknown background mode {mode!r}; choose one of {', '.join(MODES)}")
    src, out = Path(src), Path(out)
    files = list_images([src])
    if not files:
        raise DataError(f"{src}: no image files (.png, .jpg, ...) in this folder")
    t0 = time.time()
    images = [load_image(f) for f in files]
    sizes = {im.shape for im in images}
    if len(sizes) != 1 or images[0].shape[0] != images[0].shape[1]:
        raise DataError(f"{src}: expected aligned square faces of one size, got sizes {sorted(sizes)[:4]}")
    stack = np.stack(images)
    size = stack.shape[1]
    sigma = default_sigma(size) if sigma is None else float(sigma)
    feather = default_feather(size) if feather is None else float(feather)
    person, parsed = compute_masks(stack, workers)
    results = apply(stack, person, mode, sigma, feather)
    (out / "masks").mkdir(parents=True, exist_ok=True)
    for f, res, m in zip(files, results, person):
        save_image(out / f"{f.stem}.png", res)
        save_image(out / "masks" / f"{f.stem}.png", (m.astype(np.uint8) * 255)[..., None].repeat(3, 2))
    manifest = {**_manifest(mode, sigma, feather, parsed, str(src), time.time() - t0, None),
                "files": [f.name for f in files]}
    save_json(out / "manifest.json", manifest)
    save_image(out / "sheet.png", contact_sheet(stack, person, results))
    return manifest

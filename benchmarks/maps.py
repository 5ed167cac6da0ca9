"""Segmentation-map benchmark (issue 21): faces made from held-out photos' maps, read by a parser that did not
shape the training loss (the ``landmarks`` backend; the map loss ran through the learned tiny parser) and by
dlib's 68 landmarks.

    python benchmarks/maps.py --pairs /work/runs/maps/pairs            # 200 held-out faces
    python benchmarks/maps.py --pairs ... --n 40 --splits               # also the style-row split sweep

Held-out faces: the ``val`` chunks of the map pairs (``faceedit train map-encoder --build-pairs``): aligned
held-out-identity photos and their maps (``landmarks`` backend at 128 px, block majority to 64 px).  Measures:

- round trip: map → ``from_map`` (no style) → parse: IoU per class group (skin, hair, nose, lips = mouth + both
  lips; eyes, brows); dlib finds a face (detector on the 256 px upscale); part centroids of dlib's landmarks of
  the result vs the map's parts, in the map's inter-ocular distance;
- style = the photo (its ``fast`` projection): dlib identity distance photo ↔ result vs photo ↔ projection; IoU;
- editing: lips enlarged by 30 % in area / hairline moved down by 10 % of the face height, applied to the face
  made from the unedited map: as an edit (``edit_with_map``: its own W+ + the calibrated gain x the code change,
  as the editor's Map mode does) and as a remake (the edited map re-encoded with that face as style); the parsed
  lips / hair area change and the IoU of the other parts;
- speed: map → face (no style, no optimisation), median of 20 calls;
- ``--splits``: for each split k, rows [0, k) from the map and the rest from *another* held-out face: IoU with the
  map and identity distance to the style face (how the default split was chosen).

Prints numbers; asserts nothing.
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
sys.path.insert(0, str(ROOT))  # the project's `editor` package, not this folder's editor.py benchmark

PARTS = {"l_eye": range(36, 42), "r_eye": range(42, 48), "l_brow": range(17, 22), "r_brow": range(22, 27),
         "nose": range(27, 36), "lips": range(48, 68)}


def parse64(image: np.ndarray) -> np.ndarray | None:
    """The ``landmarks`` parser's 64 px map of an aligned face (None when it cannot read it)."""
    from faceedit.maps.pairs import parse_face_map

    return parse_face_map(image, 128)


def map_centroids(labels: np.ndarray) -> dict[str, np.ndarray]:
    """(x, y) centroid of each part of :data:`PARTS` present in a map."""
    from faceedit.faces.parsing import LABEL

    out = {}
    for name in PARTS:
        ids = [LABEL[c] for c in (("mouth", "u_lip", "l_lip") if name == "lips" else (name,))]
        ys, xs = np.nonzero(np.isin(labels, ids))
        if len(xs):
            out[name] = np.array([xs.mean(), ys.mean()])
    return out


def dlib_read(image: np.ndarray) -> tuple[bool, np.ndarray]:
    """(detector found a face, 68 landmarks in the image's pixels) of a render, read at 256 px."""
    from faceedit.faces.alignment import detect_faces, landmarks_in_box
    from faceedit.faces.identity import FFHQ_FACE_BOX
    from faceedit.images import resize

    big = resize(image, 256)
    found = detect_faces(big)
    lm = found[0][1] if found else landmarks_in_box(big, [v * 256 for v in FFHQ_FACE_BOX])
    return bool(found), (lm + 0.5) * image.shape[0] / 256 - 0.5


def centroid_error(labels: np.ndarray, lm: np.ndarray) -> float:
    """Mean distance of the map's part centroids to dlib's part centroids, in the map's inter-ocular units."""
    c = map_centroids(labels)
    if "l_eye" not in c or "r_eye" not in c:
        return float("nan")
    iod = np.linalg.norm(c["r_eye"] - c["l_eye"])
    return float(np.mean([np.linalg.norm(c[k] - lm[list(PARTS[k])].mean(0)) / iod for k in c]))


def enlarge_lips(labels: np.ndarray, area: float = 1.3) -> np.ndarray:
    """The lips (mouth + both lips) scaled about their centroid until their area has grown by ``area``."""
    from faceedit.maps.edit import scale_part

    return scale_part(labels, ("mouth", "u_lip", "l_lip"), area)


def area(labels: np.ndarray, group: str) -> int:
    from faceedit.maps.measure import group_mask

    return int(group_mask(labels, group).sum())


def drag_preview_ms(G, w: np.ndarray, repeats: int = 20) -> float:
    """Median milliseconds of the editor's Map mode drag preview (the dialog's refresh with a part moved: map →
    face with the current face as style, both images drawn), offscreen Qt."""
    import os

    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from editor.map_dialog import MapModeDialog
    from faceedit.synthesis import synthesize

    app = QApplication.instance() or QApplication([])  # the dialog needs one
    dialog = MapModeDialog(None, synthesize(G, w[None])[0], w, G, lambda *_: None)
    times = []
    for i in range(repeats):
        moved = np.roll(dialog.layer.labels, (i % 3) - 1, axis=1)
        t = time.perf_counter()
        dialog.refresh(moved)
        app.processEvents()  # the labels repainted, as on screen
        times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times)


def summary(rows: list[dict[str, float]]) -> dict[str, float]:
    keys = rows[0].keys() if rows else []
    return {k: float(np.nanmean([r[k] for r in rows])) for k in keys}


def edit_summary(rows: list[dict[str, float]]) -> dict[str, float]:
    """Means of the per-face numbers, plus the change of the *total* parsed area and the median per-face change:
    a face whose unedited render has almost none of the part (a few hair pixels) makes the mean ratio explode."""
    out = summary(rows)
    if rows:
        out["parsed_change_pooled"] = sum(r["out_area"] for r in rows) / sum(r["base_area"] for r in rows) - 1
        out["parsed_change_median"] = float(np.median([r["parsed_change"] for r in rows]))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pairs", required=True, help="map pairs folder (its val chunks are the held-out faces)")
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--map-encoder", help="map encoder file (default: built-in)")
    ap.add_argument("--splits", action="store_true", help="also sweep the style-row split")
    ap.add_argument("--no-edits", action="store_true")
    ap.add_argument("--no-style", action="store_true")
    ap.add_argument("--steps", type=int, default=0, help="from_map optimisation steps (default 0: encoder only)")
    ap.add_argument("--strength", type=float, default=1.0, help="from_map strength with --steps (default 1)")
    ap.add_argument("--json", help="write the numbers here")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from faceedit.faces.identity import identity_distance
    from faceedit.maps.edit import default_gain, edit_with_map, lower_hairline
    from faceedit.maps.generate import MapModels, from_map
    from faceedit.maps.measure import GROUPS, group_iou
    from faceedit.maps.pairs import load_pairs
    from faceedit.projection.project import project
    from faceedit.synthesis import synthesize

    val = load_pairs(args.pairs, "val")
    maps, photos = val["maps"][:args.n], val["images"][:args.n]
    models = MapModels.load(encoder=args.map_encoder)
    G = models.generator
    report: dict[str, object] = {"faces": len(maps)}

    # round trip, no style
    rows, made = [], []
    from tqdm import tqdm

    opt = {"steps": args.steps, "strength": args.strength}
    report["from_map"] = opt
    for m in tqdm(maps, desc="round trip"):
        r = from_map(m, models=models, **opt)
        made.append(r)
        parsed = parse64(r.image)
        found, lm = dlib_read(r.image)
        iou = group_iou(parsed, m) if parsed is not None else {g: 0.0 for g in GROUPS}
        rows.append({**iou, "parsed": float(parsed is not None), "dlib_found": float(found),
                     "centroid_iod": centroid_error(m, lm)})
    report["round_trip"] = summary(rows)
    # the constant-face baseline: the mean face's parsing against every map
    mean_face = synthesize(G, G.mean_latent(4096).numpy()[None].repeat(G.n_latent, 1))[0]
    mp = parse64(mean_face)
    report["mean_face_baseline"] = summary([group_iou(mp, m) for m in maps]) if mp is not None else {}

    # style = the photo itself
    proj = np.stack([lat.w for lat in project(G, photos, preset="fast")])
    if args.no_style:
        maps_style = []
    else:
        maps_style = maps
    proj_images = synthesize(G, proj)
    rows = []
    styled = []
    for m, w in tqdm(list(zip(maps_style, proj)), desc="styled"):
        r = from_map(m, style=w, models=models, **opt)
        styled.append(r.image)
        parsed = parse64(r.image)
        rows.append(group_iou(parsed, m) if parsed is not None else {g: 0.0 for g in GROUPS})
    if styled:
        d_styled = identity_distance(photos, np.stack(styled))
        d_proj = identity_distance(photos, proj_images)
        report["styled"] = {**summary(rows), "identity_photo_result": float(np.median(d_styled)),
                            "identity_photo_projection": float(np.median(d_proj)),
                            "identity_excess_median": float(np.median(d_styled - d_proj))}

    if not args.no_edits:
        # "edit": the face's own W+ + gain x (code of the edited map - code of the map), the way the editor's Map
        # mode and `from-map --base-map` edit; "remake": the edited map re-encoded with the face as style
        edits = {"lips": [], "hair": [], "lips_remake": [], "hair_remake": []}
        report["edit_gain"] = default_gain(models)
        for m, r in tqdm(list(zip(maps, made)), desc="edits"):
            base = parse64(r.image)
            if base is None:
                continue
            for name, edited, group in (("lips", enlarge_lips(m), "lips"), ("hair", lower_hairline(m), "hair")):
                remake = from_map(edited, style=r.latent.w, models=models, **opt).image
                for key, image in ((name, edit_with_map(r.latent, m, edited, models).image),
                                   (f"{name}_remake", remake)):
                    out = parse64(image)
                    if out is None or area(base, group) == 0:
                        continue
                    iou = group_iou(out, base, tuple(g for g in GROUPS if g != group))
                    edits[key].append({"asked_change": area(edited, group) / max(area(m, group), 1) - 1,
                                       "parsed_change": area(out, group) / area(base, group) - 1,
                                       "rest_iou": float(np.nanmean(list(iou.values()))),
                                       "base_area": float(area(base, group)), "out_area": float(area(out, group))})
        report["edits"] = {k: edit_summary(v) for k, v in edits.items()}

    times = []
    for _ in range(20):
        t = time.perf_counter()
        from_map(maps[0], models=models)
        times.append(time.perf_counter() - t)
    report["map_to_face_ms"] = 1000 * statistics.median(times)
    report["editor_drag_preview_ms"] = drag_preview_ms(G, proj[0])

    if args.splits:
        sweep = {}
        k = min(len(maps), 40)
        other = np.roll(proj[:k], 1, axis=0)
        other_images = np.roll(proj_images[:k], 1, axis=0)
        for split in range(G.n_latent + 1):
            ious, results = [], []
            for m, w in zip(maps[:k], other):
                img = from_map(m, style=w, split=split, models=models).image
                results.append(img)
                parsed = parse64(img)
                ious.append(np.nanmean(list(group_iou(parsed, m, ("skin", "hair", "nose", "lips")).values()))
                            if parsed is not None else 0.0)
            sweep[split] = {"iou4": float(np.mean(ious)),
                            "identity_to_style": float(np.median(identity_distance(other_images, np.stack(results))))}
        report["split_sweep"] = sweep
    print(json.dumps(report, indent=1))
    if args.json:
        from faceedit.io import save_json

        save_json(args.json, report)


if __name__ == "__main__":
    main()

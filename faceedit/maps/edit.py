"""Editing a face through its map: the face's own W+ plus the change the map edit makes to the map encoder's code.

``w_edited = w + gain · (E(new map) − E(old map))`` on every row: what the map edit does not touch stays the
person's own code (the unedited map gives back the face exactly), and only what the edit moved moves.  An encoder
trained with an L2 latent loss answers a map change with a shrunken code change (regression to the mean: +42 % of
lips in the map rendered +9 % bigger), so ``gain`` scales it back; :func:`calibrate_gain` chooses it on training
maps, read by the tiny parser, and the map benchmark (``benchmarks/maps.py``) checks it on held-out maps with the
``landmarks`` parser, which had no part in choosing it.  The calibrated gain is kept in the map encoder's sidecar
(``edit_gain``).

:func:`scale_part` and :func:`lower_hairline` are the two reference edits (the calibration's and the benchmark's).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import InvalidInput
from ..types import Latent
from .generate import MapModels, MapResult, encode_map

#: gains :func:`calibrate_gain` tries
GAIN_GRID: tuple[float, ...] = (1.0, 1.5, 2.0, 2.5, 3.0)
#: the least agreement (mean IoU of the untouched groups with the unedited render) a calibrated gain must keep
MIN_REST_IOU = 0.85


def default_gain(models: MapModels) -> float:
    """The map encoder's calibrated edit gain (1 for an encoder saved before calibration existed)."""
    return float(models.encoder.meta.get("edit_gain", 1.0))


def edit_delta(old_map: np.ndarray, new_map: np.ndarray, models: MapModels, gain: float | None = None) -> np.ndarray:
    """The W+ change ``gain · (E(new_map) − E(old_map))`` (checked maps at the encoder's size)."""
    g = default_gain(models) if gain is None else float(gain)
    if not np.isfinite(g) or g < 0:
        raise InvalidInput(f"gain must be a finite number >= 0, got {gain}")
    return (g * (encode_map(new_map, models) - encode_map(old_map, models))).astype(np.float32)


def edit_with_map(face: Latent | np.ndarray, old_map: Any, new_map: Any, models: MapModels | None = None,
                  gain: float | None = None) -> MapResult:
    """The face ``face`` (its W+) edited by turning ``old_map`` (its map) into ``new_map`` (both a map file, ids
    or palette colours, any size); ``gain`` defaults to the encoder's calibrated one."""
    from ..synthesis import synthesize
    from .io import as_map

    models = models or MapModels.load()
    G = models.generator
    if isinstance(face, Latent):
        face.check_model(G.model_id)
        face = face.w
    w = np.asarray(face, np.float32)
    if w.shape != (G.n_latent, G.style_dim):
        raise InvalidInput(f"the face's W+ must be {(G.n_latent, G.style_dim)}, got {w.shape}")
    old, new = as_map(old_map, models.encoder.size), as_map(new_map, models.encoder.size)
    w = w + edit_delta(old, new, models, gain)
    return MapResult(synthesize(G, w[None])[0], Latent(w, G.model_id), new)


def class_ids(names: Sequence[str]) -> list[int]:
    """The label ids of class names (:data:`faceedit.faces.parsing.CLASSES`)."""
    from ..faces.parsing import LABEL

    return [LABEL[n] for n in names]


def moved_part(labels: np.ndarray, part: np.ndarray, dx: float = 0.0, dy: float = 0.0, scale: float = 1.0,
               angle: float = 0.0) -> np.ndarray:
    """The labels under the mask ``part`` moved by (``dx``, ``dy``) px, scaled and rotated (degrees) about the
    part's centroid, nearest neighbour; 0 where no part pixel lands.  ``part`` must not be empty."""
    import cv2

    ys, xs = np.nonzero(part)
    M = cv2.getRotationMatrix2D((float(xs.mean()), float(ys.mean())), angle, scale)
    M[:, 2] += (dx, dy)
    return cv2.warpAffine(np.where(part, labels, 0).astype(np.uint8), M, labels.shape[::-1],
                          flags=cv2.INTER_NEAREST)


def scale_part(labels: np.ndarray, classes: Sequence[str], area: float = 1.3) -> np.ndarray:
    """The part made of ``classes`` scaled about its centroid until its area is ``area`` times what it was (the
    vacated pixels become skin; at 64 px nearest-neighbour scaling by sqrt(area) falls short, so the factor moves
    on in steps of 0.02); the map unchanged when the part is absent."""
    from ..faces.parsing import LABEL

    if not 0.1 <= area <= 4.0:
        raise InvalidInput(f"area must be in [0.1, 4], got {area}")
    ids = class_ids(classes)
    part = np.isin(labels, ids)
    if not part.any():
        return labels.copy()
    grow = area >= 1
    out = labels.copy()
    for s in np.arange(np.sqrt(area), 2.0, 0.02) if grow else np.arange(np.sqrt(area), 0.3, -0.02):
        moved = moved_part(labels, part, scale=float(s))
        out = labels.copy()
        out[part] = LABEL["skin"]
        out[moved > 0] = moved[moved > 0]
        n = np.isin(out, ids).sum()
        if (grow and n >= area * part.sum()) or (not grow and n <= area * part.sum()):
            break
    return out


def lower_hairline(labels: np.ndarray, share: float = 0.1) -> np.ndarray:
    """Skin at the top of each column of the face turned into hair over ``share`` of the face height (only where
    hair meets the forehead)."""
    from ..faces.parsing import LABEL

    skin = labels == LABEL["skin"]
    out = labels.copy()
    if not skin.any():
        return out
    ys = np.nonzero(skin.any(1))[0]
    d = max(1, int(round(share * (ys.max() - ys.min() + 1))))
    for x in np.nonzero(skin.any(0))[0]:
        top = np.nonzero(skin[:, x])[0].min()
        if top > 0 and labels[top - 1, x] == LABEL["hair"]:
            col = out[top:top + d, x]
            col[col == LABEL["skin"]] = LABEL["hair"]
    return out


#: the calibration's edits: (name, edited map from a map, class group whose area it changes)
REFERENCE_EDITS: tuple[tuple[str, Callable[[np.ndarray], np.ndarray], str], ...] = (
    ("lips x1.3", lambda m: scale_part(m, ("mouth", "u_lip", "l_lip"), 1.3), "lips"),
    ("nose x1.3", lambda m: scale_part(m, ("nose",), 1.3), "nose"),
    ("hairline -10%", lambda m: lower_hairline(m, 0.1), "hair"),
)


@dataclass
class GainCalibration:
    """What :func:`calibrate_gain` measured: per gain, the rendered / asked area change (pooled over the maps,
    per reference edit), the mean IoU of the untouched groups per edit and its lowest (``rest_iou``)."""

    gain: float
    table: dict[float, dict[str, float]]


def calibrate_gain(models: MapModels, maps: np.ndarray, read: Callable[[np.ndarray], np.ndarray],
                   gains: Sequence[float] = GAIN_GRID, min_rest_iou: float = MIN_REST_IOU) -> GainCalibration:
    """The gain whose rendered area changes best match the asked ones (mean |log(rendered/asked ratio)| over
    :data:`REFERENCE_EDITS`) among those that keep the untouched groups' mean IoU ≥ ``min_rest_iou`` in every edit.

    ``maps``: training maps ``(N, S, S)``; ``read``: a parser of a batch of renders ``(N, H, W, 3)`` uint8 →
    label maps (the tiny parser: it must not be the parser that later judges the edits)."""
    from ..synthesis import synthesize
    from .measure import GROUPS, group_iou, group_mask

    G = models.generator
    base_w = np.stack([encode_map(m, models) for m in maps])
    base = read(synthesize(G, base_w))
    edits = [(name, np.stack([f(m) for m in maps]), group) for name, f, group in REFERENCE_EDITS]
    table: dict[float, dict[str, float]] = {}
    for g in gains:
        row: dict[str, float] = {}
        errors, rest = [], []
        for name, edited, group in edits:
            delta = g * (np.stack([encode_map(m, models) for m in edited]) - base_w)
            out = read(synthesize(G, (base_w + delta).astype(np.float32)))
            asked = group_mask(edited, group).sum() / max(group_mask(maps, group).sum(), 1)
            got = group_mask(out, group).sum() / max(group_mask(base, group).sum(), 1)
            row[f"{name} asked"], row[f"{name} rendered"] = float(asked - 1), float(got - 1)
            errors.append(abs(np.log(max(got, 1e-3) / asked)))
            others = tuple(k for k in GROUPS if k != group)
            row[f"{name} rest_iou"] = float(np.nanmean([np.nanmean(list(group_iou(o, b, others).values()))
                                                        for o, b in zip(out, base)]))
            rest.append(row[f"{name} rest_iou"])
        row["error"], row["rest_iou"] = float(np.mean(errors)), float(min(rest))
        table[float(g)] = row
    allowed = [g for g in table if table[g]["rest_iou"] >= min_rest_iou] or [min(table)]
    return GainCalibration(min(allowed, key=lambda g: table[g]["error"]), table)


def tiny_parser_reader(models: MapModels, size: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A batch reader of renders with the tiny parser (argmax labels at ``size``, default the encoder's)."""
    import torch
    import torch.nn.functional as F

    P = models.tiny_parser()
    size = size or models.encoder.size

    def read(images: np.ndarray) -> np.ndarray:
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
        with torch.inference_mode():
            logits = P(x)
            if logits.shape[-1] != size:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits.argmax(1).numpy().astype(np.uint8)

    return read


def save_gain(encoder_file: str | os.PathLike, calibration: GainCalibration) -> None:
    """Write ``edit_gain`` (and the calibration table) into the map encoder's JSON sidecar (``meta``), atomically."""
    from ..models._files import update_meta

    update_meta(encoder_file, {
        "edit_gain": calibration.gain,
        "edit_gain_table": {str(k): v for k, v in calibration.table.items()},
        "edit_gain_note": ("chosen on training maps read by the tiny parser (faceedit.maps.edit.calibrate_gain); "
                           "judged on held-out maps with the landmarks parser (benchmarks/maps.py)")})

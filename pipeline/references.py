"""The reference faces of a run, their labels and the outputs each one needs.

Challenge mode: labels come from the file name (``Sk_A_Se_C_P_B_Hc_D_Hs.png``) or from a CSV
(``image,labels``) for arbitrary file names; the outputs are :func:`faceedit.edit.translations.required_targets`.
Generic mode: every face gets the same list of translation names.
"""
from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from faceedit.errors import ConfigError, DataError, InvalidInput, InvalidTranslationName

MODES = ("challenge", "generic")


@dataclass
class Reference:
    """One input face: output folder name, image path, labels (challenge mode) and output names."""

    name: str
    path: Path
    targets: list[str]
    labels: dict[str, int] | None = None


@dataclass
class Rejected:
    """An input file that cannot be a reference (its outputs cannot even be named), and why."""

    path: Path
    reason: str


@dataclass
class ReferenceSet:
    """The references of a run, in order, and the rejected inputs."""

    references: list[Reference] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def read_labels_csv(path: str | os.PathLike) -> dict[str, str]:
    """``image,labels`` rows → {image file name: label string}; the image column may hold a path."""
    path = Path(path)
    try:
        with open(path, newline="") as f:
            rows = list(csv.DictReader(f))
    except FileNotFoundError:
        raise DataError(f"{path}: labels CSV not found") from None
    if not rows or not {"image", "labels"} <= set(rows[0]):
        raise DataError(f"{path}: a labels CSV needs the columns 'image' and 'labels'")
    return {Path(r["image"]).name: r["labels"].strip() for r in rows}


def find_references(
    folder: str | os.PathLike,
    mode: str = "challenge",
    labels_csv: str | os.PathLike | None = None,
    names: Sequence[str] = (),
) -> ReferenceSet:
    """The images of ``folder`` as references (sorted by file name).

    In challenge mode a file whose labels are missing or break the rules is *rejected* (reported, no
    outputs: its required names are unknown).  In generic mode ``names`` (validated) are every face's outputs.
    """
    from faceedit.images import list_images
    from faceedit.edit.translations import parse_name, parse_reference_labels, required_targets

    if mode not in MODES:
        raise ConfigError(f"input.mode {mode!r}: use one of {', '.join(MODES)}")
    folder = Path(folder)
    if not folder.is_dir():
        raise InvalidInput(f"{folder}: input folder not found")
    if mode == "generic":
        if not names:
            raise ConfigError("generic mode needs translate.names (the translations to apply to every face)")
        for n in names:
            parse_name(n, allow_free=True)
    table = read_labels_csv(labels_csv) if labels_csv else None

    out = ReferenceSet()
    seen: dict[str, Path] = {}
    for path in list_images([folder]):
        if path.stem in seen:
            out.rejected.append(Rejected(path, f"same name as {seen[path.stem].name}: outputs would collide"))
            continue
        seen[path.stem] = path
        if mode == "generic":
            out.references.append(Reference(path.stem, path, list(names)))
            continue
        text = path.stem if table is None else table.get(path.name)
        if text is None:
            out.rejected.append(Rejected(path, "no row in the labels CSV"))
            continue
        try:
            labels = parse_reference_labels(text)
        except InvalidTranslationName as e:
            out.rejected.append(Rejected(path, f"labels: {e}"))
            continue
        out.references.append(Reference(path.stem, path, required_targets(labels), labels))
    return out

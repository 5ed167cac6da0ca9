"""``python -m pipeline.demo``: a challenge-like set of reference faces from the shared data, run end to end.

1. Picks labelled CelebA faces (the sharper 178x218 copies first, then held-out identities), aligns them
   with the project's own FFHQ alignment at 512 px and names them by their labels
   ``Sk_A_Se_C_P_B_Hc_D_Hs.png`` (unique names; bald faces included, as in the official set).
2. Runs :mod:`pipeline.run` on them with the default model into ``demo_out/`` and checks the result
   with :mod:`pipeline.check` (``demo_out/submission.zip`` too).

Labels: B, Hc, Hs, D, Se and bald come from the CelebA attributes with the mapping of
:func:`faceedit.edit.builder.code_groups` (the one the shipped translations were built with).
CelebA has no age and no skin tone: A and Sk come from the default attribute predictor's age and race
(same mapping) when it is available; otherwise A is 0 for ``Young`` faces, else 2 with ``Gray_Hair`` and
1 without, and Sk is 0 (light).  C and P are indicative only and set to 0.  ``references.csv`` lists
each file's source photo and how its labels were derived.
"""
from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from faceedit.cli import CommandParser
from faceedit.errors import FaceEditError

LABEL_CODES = ("Sk", "A", "Se", "B", "Hc", "D", "Hs")


def _label_columns(records: Sequence[Any], predicted: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """The label columns :func:`code_groups` reads: CelebA attributes, ``female``, ``age``, ``race``."""
    from faceedit.train.data import CELEBA_ATTRIBUTES

    attrs = np.stack([r.attrs for r in records]).astype(np.float64)
    cols = {name: attrs[:, i] for i, name in enumerate(CELEBA_ATTRIBUTES)}
    cols["female"] = 1.0 - cols["Male"]
    n = len(records)
    cols["age"] = np.asarray(predicted["age"], np.float64) if predicted and "age" in predicted else np.full(n, np.nan)
    race = predicted.get("race") if predicted else None
    cols["race"] = np.argmax(race, axis=1).astype(np.float64) if race is not None else np.full(n, np.nan)
    return cols


def demo_labels(records: Sequence[Any], predicted: dict[str, np.ndarray] | None = None) -> list[dict[str, int] | None]:
    """Challenge labels of CelebA records (None where hair colour/shape is ambiguous); see the module doc."""
    from faceedit.edit.targets import code_groups

    cols = _label_columns(records, predicted)
    groups = {code: code_groups(cols, code) for code in LABEL_CODES}
    young, gray = cols["Young"] == 1, cols["Gray_Hair"] == 1
    groups["A"] = np.where(np.isnan(groups["A"]), np.where(young, 0, np.where(gray, 2, 1)), groups["A"])
    groups["Sk"] = np.where(np.isnan(groups["Sk"]), 0, groups["Sk"])
    out: list[dict[str, int] | None] = []
    for i in range(len(records)):
        values = {code: groups[code][i] for code in LABEL_CODES}
        if any(np.isnan(v) for v in values.values()):
            out.append(None)
            continue
        labels = {code: int(v) for code, v in values.items()}
        labels.update(C=0, P=0)
        out.append(labels)
    return out


def label_name(labels: dict[str, int]) -> str:
    """``Sk_A_Se_C_P_B_Hc_D_Hs`` of a label dict."""
    from faceedit.edit.translations import REFERENCE_ORDER

    return "_".join(str(labels[c]) for c in REFERENCE_ORDER)


def _candidates(data_dir: Path, seed: int) -> list[Any]:
    """Labelled CelebA records without a hat, sharp copies first, then held-out identities, shuffled by seed."""
    from faceedit.train.data import CELEBA_ATTRIBUTES, collect_records

    hat = CELEBA_ATTRIBUTES.index("Wearing_Hat")
    records = [r for r in collect_records(data_dir, ("celeba",)) if not np.isnan(r.attrs).any() and r.attrs[hat] == 0]
    order = np.random.default_rng(seed).permutation(len(records))
    shuffled = [records[i] for i in order]
    return sorted(shuffled, key=lambda r: (r.path.parent.name != "img_178x218", not r.val))


def build_references(
    data_dir: Path, folder: Path, n: int = 12, seed: int = 0, progress: bool = True
) -> list[dict[str, str]]:
    """Align and write ``n`` uniquely named reference faces into ``folder``; return the ``references.csv`` rows.

    Hair colours are taken in turn so that every value appears; ``max(2, round(n / 24))`` faces are bald
    (3 of 72, as in the official set).
    """
    from tqdm import tqdm

    predictor = _attribute_predictor()
    candidates = _candidates(data_dir, seed)
    buckets: dict[int, list[int]] = {}  # hair colour (4 = bald) -> candidate indices
    for i, labels in enumerate(demo_labels(candidates)):  # attribute-only labels: enough to pick by hair
        if labels is not None:
            buckets.setdefault(labels["Hc"], []).append(i)
    rows: list[dict[str, str]] = []

    def take(order: list[int], count: int, bar) -> None:
        for i in order:
            if count <= 0:
                return
            row = _make_reference(candidates[i], folder, predictor, {r["labels"] for r in rows})
            if row is not None:
                rows.append(row)
                bar.update(1)
                count -= 1

    n_bald = min(n, max(2, round(n / 24)))
    with tqdm(total=n, desc="reference faces", disable=not progress) as bar:
        take(buckets.get(4, []), n_bald, bar)
        colours = [buckets.get(hc, []) for hc in (0, 1, 2, 3)]
        round_robin = [b[k] for k in range(max(map(len, colours), default=0)) for b in colours if k < len(b)]
        take(round_robin, n - len(rows), bar)
    return rows


def _make_reference(record: Any, folder: Path, predictor: Any, taken: set[str]) -> dict[str, str] | None:
    """Align one record, label it and save it under its label name (None: no face, ambiguous or taken)."""
    from faceedit.images import save_image
    from faceedit.train.data import align_record

    try:
        image = align_record(record.path, "celeba", 512)
    except FaceEditError:
        return None
    if image is None:
        return None
    predicted = predictor.predict([image]) if predictor is not None else None
    labels = demo_labels([record], predicted)[0]
    if labels is None or label_name(labels) in taken:
        return None
    name = label_name(labels)
    save_image(folder / f"{name}.png", image)
    how = "attribute predictor" if predictor is not None else "CelebA Young/Gray_Hair; Sk 0"
    return {"image": f"{name}.png", "labels": name, "source": str(record.path), "age_and_skin_from": how}


def _attribute_predictor():
    """The default attribute predictor, or None when the default model suite is not installed."""
    try:
        from faceedit.models.attributes import load_attribute_predictor

        return load_attribute_predictor()
    except (FaceEditError, ImportError, OSError) as e:
        print(f"note: no default attribute predictor ({e}); A and Sk from CelebA attributes only", file=sys.stderr)
        return None


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    from faceedit.io import atomic_path

    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m pipeline.demo`` argument parser."""
    parser = CommandParser(
        prog="python -m pipeline.demo",
        description="Build a challenge-like set of reference faces from the shared data (CelebA, labels from "
        "its attributes), run the whole pipeline on it with the default model and check the result.",
    )
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="pipeline config overrides")
    parser.add_argument("--out", default="demo_out", help="results folder (default demo_out)")
    parser.add_argument("--n", type=int, default=12,
                        help="number of reference faces (default 12; the official set has 72)")
    parser.add_argument("--data", help="shared data folder (default ../shared/data beside the project)")
    parser.add_argument("--config", help="pipeline config file (see pipeline/default.toml)")
    parser.add_argument("--seed", type=int, default=0, help="which faces are picked")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the reference faces even if present")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Build the references (if needed), run the pipeline, check the submission; 0 when it is valid."""
    from faceedit.cli import guarded

    from .run import INTERRUPTED

    args = build_parser().parse_args(argv)
    return guarded(lambda: _run(args), interrupted=INTERRUPTED)


def _run(args: argparse.Namespace) -> int:
    from faceedit.images import list_images
    from faceedit.testing import data_dir

    from .check import check_submission, format_report
    from .run import Layout, load_settings, override, run_pipeline

    out = Path(args.out)
    refs = out / "input_images"
    cfg = load_settings(args.config, [override("input.dir", refs), override("output.dir", out),
                                      "output.zip=true", *args.overrides])
    if args.rebuild or len(list_images([refs]) if refs.is_dir() else []) < args.n:
        data = Path(args.data) if args.data else data_dir()
        rows = build_references(data, refs, args.n, args.seed, progress=not args.quiet)
        if len(rows) < args.n:
            print(f"note: only {len(rows)} usable faces found", file=sys.stderr)
        _write_csv(out / "references.csv", rows)
    report = run_pipeline(cfg, progress=not args.quiet)
    problems = check_submission(Layout(out).zip, references=refs)
    print(report.summary_text())
    layout = Layout(out)
    if problems:
        print(format_report(problems, limit=30))
        print(f"check: {len(problems)} problem(s) in {layout.zip}")
        return 1
    print(f"check: OK ({layout.zip})\nopen {layout.html} for the contact sheets")
    return 0


if __name__ == "__main__":
    sys.exit(main())

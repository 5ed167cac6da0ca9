"""The background study of "Behind the Face" (FaceAI-BGImpact), reproduced small (issue 23, item 5).

Three families (``dcgan``, ``vae``, ``gan``) x three variants of the shared CelebA crops at 64 px (``raw``:
background kept; ``blur``; ``grey``; made by :mod:`faceedit.train.background` from one set of person masks), each cell
trained for a fixed CPU budget (``--minutes`` of CPU time of the training process, default 20: with ``--threads
1``, 20 minutes of one core however busy the machine is, so cells trained on different days compare), then
evaluated the same way
(:class:`faceedit.train.evaluate.Evaluator` against held-out crops of the cell's own variant): realism
(Fréchet distance of dlib descriptors / its real-vs-real floor), dlib detection rate, sharpness, the VAE's PSNR,
and the PCA-attribute correlation (mean over the first 10 components of the strongest |r| with the 40 CelebA
attributes read by the attribute predictor, whose accuracy on each variant is reported beside it).

The StyleGAN2 cells use the shipped generator's recipe at that budget (``--gan-recipe joint``, the default):
the joint autoencoder warm start of ``faceedit train encoder --set train.mode="joint"`` (model card, stage 2:
synthesis network + encoder trained as an autoencoder in W, then the mapping network fitted to the codes), on
the CelebA crops of the variant; ``--gan-recipe adversarial`` runs ``faceedit train gan`` (the same
architecture, adversarial from scratch) instead.  The DCGAN cells use 32 base channels (the classic 64 are
~4x slower per step on one CPU core, too few steps in 20 minutes); everything else is each family's default.

Resumable cell by cell (it can span several working days): variants are made once; a cell records the training
minutes it has spent in ``progress.json`` and continues from its checkpoint with the minutes left (an interrupted
cell, by Ctrl-C or `kill`, records the share of its minutes that reached its last checkpoint); a finished
cell is evaluated once (``eval.json``).  Run it again to continue; ``--table`` only (re)writes the table.

    python benchmarks/background_study.py --out runs/study [--cache faces64.npz] [--minutes 20] [--threads 1]
        [--families dcgan,vae,gan] [--variants raw,blur,grey] [--eval-n 400] [--cells 1] [--table]

Writes ``OUT/table.md``, ``OUT/table.json`` and ``OUT/figure.png`` (matplotlib, the ``plots`` extra).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

FAMILIES = ("dcgan", "vae", "gan")
VARIANTS = {"raw": "keep", "blur": "blur", "grey": "grey"}
#: per-family settings of the study (over each family's defaults)
OVERRIDES: dict[str, list[str]] = {
    "dcgan": ["model.g_channels=32", "model.d_channels=32"],
    "vae": [],
    "gan": [],
}
COLUMNS = [("frechet_ratio", "Fréchet / floor", "{:.2f}x"), ("detection_rate", "detection", "{:.0%}"),
           ("sharpness_ratio", "sharpness", "{:.2f}"), ("psnr", "PSNR dB", "{:.1f}"),
           ("pca_attr_r_mean", "PCA-attribute corr. (mean of 10 PCs)", "{:.2f}"),
           ("pca_attr_r_max", "best corr.", "{:.2f}"),
           ("predictor_accuracy", "predictor acc.", "{:.1%}")]


def variant_path(out: Path, variant: str) -> Path:
    return out / "data" / f"{variant}.npz"


def prepare_variants(out: Path, cache: str, variants: list[str], workers: int) -> None:
    """The CelebA crops of ``cache`` in each background variant, from one set of person masks."""
    from faceedit.train.background import make_variant

    masks = out / "data" / "raw.masks.npz"  # written by the raw variant, always made first
    for v in ["raw"] + [v for v in variants if v != "raw"]:
        path = variant_path(out, v)
        if path.is_file():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        m = make_variant(cache, path, VARIANTS[v], sources=["celeba"], masks=masks if v != "raw" else None,
                         workers=workers)
        print(f"variant {v}: {m['images']} crops ({m['parsed']} parsed) in {m['seconds']:.0f} s")


def _progress(cell: Path) -> dict[str, Any]:
    p = cell / "progress.json"
    return json.loads(p.read_text()) if p.is_file() else {"minutes": 0.0, "done": False, "sessions": 0}


def train_cell(out: Path, fam: str, variant: str, minutes: float, recipe: str, threads: int | None) -> bool:
    """Train one cell for the rest of its budget; True when it is finished."""
    import torch

    from faceedit.io import save_json
    from faceedit.train.data import load_cache

    cell = out / "cells" / f"{fam}-{variant}"
    prog = _progress(cell)
    if prog["done"]:
        return True
    left = minutes - prog["minutes"]
    if threads:
        torch.set_num_threads(threads)
    data = load_cache(variant_path(out, variant))
    device = torch.device("cpu")
    resume = (cell / "checkpoint.pt").is_file()
    print(f"cell {fam}-{variant}: {prog['minutes']:.1f} of {minutes:g} min done, training {left:.1f} min"
          + (" (resumed)" if resume else ""))
    t0 = time.process_time()  # the budget is CPU time: the same computation per cell however busy the machine
    start_step = _checkpoint_step(cell)
    try:
        _train(cell, data, fam, left, recipe, device, resume)
    except BaseException:  # Ctrl-C / SIGTERM: count only the minutes that reached the checkpoint it resumes from
        spent = (time.process_time() - t0) / 60
        ckpt, last = _checkpoint_step(cell), _last_logged_step(cell)
        share = (ckpt - start_step) / (last - start_step) if last > start_step else 0.0
        prog["minutes"] += spent * min(max(share, 0.0), 1.0)
        prog["sessions"] += 1
        save_json(cell / "progress.json", prog)
        print(f"cell {fam}-{variant} interrupted: {prog['minutes']:.1f} min recorded (up to its checkpoint)")
        raise
    prog["minutes"] += (time.process_time() - t0) / 60
    prog["sessions"] += 1
    prog["done"] = prog["minutes"] >= minutes - 0.25
    save_json(cell / "progress.json", prog)
    return prog["done"]


def _train(cell: Path, data: Any, fam: str, left: float, recipe: str, device: Any, resume: bool) -> None:
    from faceedit.config import load_config

    sets = ["train.steps=10000000", f"train.max_minutes={left}", 'train.budget_clock="cpu"',
            "train.sources=[\"celeba\"]"]
    if fam == "gan" and recipe == "joint":
        from faceedit.train.encoder import DEFAULTS, train_encoder

        cfg = load_config(DEFAULTS, None, sets + ['train.mode="joint"'])
        train_encoder(data, cell, cfg, device, resume=resume)
    else:
        from faceedit.train.families import family

        f = family(fam)
        cfg = load_config(f.defaults(), None, sets + OVERRIDES[fam] + ["eval.every=0"])
        f.train(data, cell, cfg, device, resume=resume)


def _checkpoint_step(cell: Path) -> int:
    """The step of the cell's checkpoint (0 without one)."""
    from faceedit.train.loop import CHECKPOINT_NAME, load_checkpoint

    p = cell / CHECKPOINT_NAME
    return int(load_checkpoint(p).get("step", 0)) if p.is_file() else 0


def _last_logged_step(cell: Path) -> int:
    """The last step in the cell's ``log.csv`` (0 without one)."""
    p = cell / "log.csv"
    rows = p.read_text().splitlines()[1:] if p.is_file() else []
    return int(float(rows[-1].split(",")[0])) if rows else 0


def evaluate_cell(out: Path, fam: str, variant: str, n: int, evaluators: dict) -> dict[str, Any] | None:
    """The final evaluation of a finished cell (``eval.json``), computed once."""
    from faceedit.io import save_json
    from faceedit.models.families import load_family_model
    from faceedit.train.data import load_cache
    from faceedit.train.evaluate import Evaluator

    cell = out / "cells" / f"{fam}-{variant}"
    if (cell / "eval.json").is_file():
        return json.loads((cell / "eval.json").read_text())
    if not _progress(cell)["done"]:
        return None
    if variant not in evaluators:
        evaluators[variant] = Evaluator(load_cache(variant_path(out, variant)), {"n": n})
    model = load_family_model(cell / ("vae.safetensors" if fam == "vae" else "generator.safetensors"))
    row = {"family": fam, "variant": variant, "minutes": _progress(cell)["minutes"], **evaluators[variant](model)}
    save_json(cell / "eval.json", row)
    return row


def write_table(out: Path, rows: list[dict[str, Any]], families: list[str], variants: list[str]) -> str:
    """``table.md`` / ``table.json`` (and ``figure.png`` when matplotlib is installed); returns the markdown."""
    head = "| family | background | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    by = {(r["family"], r["variant"]): r for r in rows}
    for fam in families:
        for v in variants:
            r = by.get((fam, v))
            cells = [("…" if r is None else (c[2].format(r[c[0]]) if c[0] in r else "–")) for c in COLUMNS]
            lines.append(f"| {fam} | {v} | " + " | ".join(cells) + " |")
    md = "\n".join(lines) + "\n"
    (out / "table.md").write_text(md)
    (out / "table.json").write_text(json.dumps(rows, indent=2) + "\n")
    try:
        _figure(out / "figure.png", by, families, variants)
    except ImportError:
        print("no figure: matplotlib is not installed (pip install 'faceedit[plots]')")
    return md


def _figure(path: Path, by: dict, families: list[str], variants: list[str]) -> None:
    import numpy as np
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = [("frechet_ratio", "Fréchet / floor (lower is better)"), ("detection_rate", "dlib detection rate"),
            ("pca_attr_r_mean", "PCA-attribute |r| (mean, 10 PCs)")]
    fig = Figure(figsize=(12, 3.6), dpi=100)
    FigureCanvasAgg(fig)
    x = np.arange(len(families))
    width = 0.8 / max(len(variants), 1)
    for i, (key, title) in enumerate(keys):
        ax = fig.add_subplot(1, len(keys), i + 1)
        for j, v in enumerate(variants):
            vals = [by.get((f, v), {}).get(key, np.nan) for f in families]
            ax.bar(x + (j - (len(variants) - 1) / 2) * width, vals, width, label=v)
        ax.set_xticks(x, families)
        ax.set_title(title, fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    fig.axes[0].legend(title="background", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="study folder (variants, cells, table)")
    ap.add_argument("--cache", help="64 px data cache of `faceedit train prepare-data` (default: the usual one)")
    ap.add_argument("--minutes", type=float, default=20.0, help="training budget per cell (default 20)")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--gan-recipe", choices=["joint", "adversarial"], default="joint",
                    help="StyleGAN2 cells: the shipped generator's joint autoencoder recipe (default) or `train gan`")
    ap.add_argument("--eval-n", type=int, default=400, help="samples / held-out faces per evaluation (default 400)")
    ap.add_argument("--cells", type=int, default=0, help="train at most this many cells now (0: all)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--workers", type=int, default=1, help="parser processes for the person masks")
    ap.add_argument("--table", action="store_true", help="only evaluate finished cells and write the table")
    args = ap.parse_args(argv)

    from faceedit.cli import guarded
    from faceedit.errors import ConfigError
    from faceedit.train.data import default_cache_dir

    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # `kill` records the cell's minutes like Ctrl-C
    out = Path(args.out)
    families, variants = args.families.split(","), args.variants.split(",")

    def run() -> int:
        bad = [f for f in families if f not in FAMILIES] + [v for v in variants if v not in VARIANTS]
        if bad:
            raise ConfigError(f"unknown families/variants {bad}; choose from {FAMILIES} and {tuple(VARIANTS)}")
        if not args.table:
            prepare_variants(out, args.cache or str(default_cache_dir() / "faces64.npz"), variants, args.workers)
            trained = 0
            for fam in families:
                for v in variants:
                    if args.cells and trained >= args.cells:
                        break
                    if not _progress(out / "cells" / f"{fam}-{v}")["done"]:
                        train_cell(out, fam, v, args.minutes, args.gan_recipe, args.threads)
                        trained += 1
        evaluators: dict = {}
        rows = [r for fam in families for v in variants
                if (r := evaluate_cell(out, fam, v, args.eval_n, evaluators)) is not None]
        print(write_table(out, rows, families, variants))
        print(f"{len(rows)} of {len(families) * len(variants)} cells finished; wrote {out / 'table.md'}")
        return 0

    return guarded(run)


if __name__ == "__main__":
    sys.exit(main())

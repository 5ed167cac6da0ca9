"""The validator next to the fitting predictor (issue 19, target 3): numbers only, no assertions.

1. Held-out real faces (the validation identities of the data cache, never seen by either model): per
   CelebA attribute accuracy, gender accuracy (all / CelebA / UTKFace), age MAE and race accuracy, for the
   fitting predictor (``faceedit/assets/attributes.*``, 64 px, fits and calibrates the translations) and the
   validator (``faceedit/assets/validator.*`` or ``--validator``, 128 px), side by side, with the bar the
   validator must reach before it may judge (gender >= 93 %, age MAE <= 8 years, >= 80 % per attribute) and
   whether it is judged.
2. ``--renders N``: on renders G(E(x)) of N held-out faces (what the benchmarks show the judge): how often the
   two models agree on gender, the mean |age difference| and the correlation of their age readings.

    python benchmarks/validator.py [--cache faces128.npz] [--validator PATH] [--renders 200] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def held_out_metrics(model, data, batch: int = 128) -> dict:
    """The held-out numbers of ``model.predict`` (flip averaging included where the model does it)."""
    from faceedit.models.attributes import CELEBA_ATTRIBUTES

    pred = model.predict(data.images, batch_size=batch)
    out: dict = {}
    m = ~np.isnan(data.attrs)
    out["attr_acc"] = {a: float(((pred[a] > 0.5) == (data.attrs[:, j] > 0.5))[m[:, j]].mean())
                       for j, a in enumerate(CELEBA_ATTRIBUTES) if m[:, j].any()}
    out["attr_acc_mean"] = float(np.mean(list(out["attr_acc"].values())))
    g = ~np.isnan(data.gender)
    ok = (pred["gender"] > 0.5) == (data.gender > 0.5)
    out["gender_acc"] = float(ok[g].mean())
    for src in ("celeba", "utkface"):
        s = g & (data.source == src)
        out[f"gender_acc_{src}"] = float(ok[s].mean()) if s.any() else None
    a = ~np.isnan(data.age)
    out["age_mae"] = float(np.abs(pred["age"][a] - data.age[a]).mean())
    r = data.race >= 0
    out["race_acc"] = float((pred["race"][r].argmax(1) == data.race[r]).mean())
    out["n"] = {"faces": len(data), "attributes": int(m[:, 0].sum()), "gender": int(g.sum()), "age": int(a.sum())}
    return out


def side_by_side(fit: dict, val: dict, judged: list[str]) -> None:
    """Print the two models' held-out numbers with the validator's bar and verdict."""
    from faceedit.models.validator import BAR

    def mark(name: str) -> str:
        return "judged" if name in judged else "NOT judged"

    print(f"\n{'measure':28s} {'fitting':>9s} {'validator':>9s}  bar         validator")
    rows = [("gender accuracy, all", "gender_acc", "gender", f">= {BAR['gender_acc']:.0%}"),
            ("  CelebA (Male)", "gender_acc_celeba", None, ""), ("  UTKFace", "gender_acc_utkface", None, ""),
            ("age MAE (UTKFace, years)", "age_mae", "age", f"<= {BAR['age_mae']:.0f}"),
            ("race accuracy (UTKFace)", "race_acc", "race", f">= {BAR['race_acc']:.0%}"),
            ("mean of 40 attributes", "attr_acc_mean", None, "")]
    for label, key, out, bar in rows:
        f, v = fit.get(key), val.get(key)
        fmt = "{:9.2f}" if key == "age_mae" else "{:9.1%}"
        print(f"{label:28s} {fmt.format(f) if f is not None else 'n/a':>9s} {fmt.format(v) if v is not None else 'n/a':>9s}"
              f"  {bar:11s} {mark(out) if out else ''}")
    print(f"\n{'CelebA attribute':28s} {'fitting':>9s} {'validator':>9s}  bar >= {BAR['attr_acc']:.0%}")
    for name in sorted(val["attr_acc"], key=lambda k: -val["attr_acc"][k]):
        print(f"{name:28s} {fit['attr_acc'][name]:9.1%} {val['attr_acc'][name]:9.1%}  {mark(name)}")
    n = sum(a in judged for a in val["attr_acc"])
    print(f"judged attributes: {n}/40; skin tone (race head): {mark('race')}")


def render_agreement(P, V, data, n: int) -> dict:
    """Gender agreement and age readings of both models on G(E(x)) for ``n`` held-out faces."""
    from faceedit.edit.directions import encode_images
    from faceedit.images import resize
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.encoder import load_encoder
    from faceedit.synthesis import synthesize

    G, E = load_generator().eval(), load_encoder()
    idx = np.linspace(0, len(data) - 1, min(n, len(data))).round().astype(int)
    faces = np.stack([resize(im, G.resolution) for im in data.images[idx]])
    renders = synthesize(G, encode_images(E, faces, progress=False))
    p, v = P.predict(renders), V.predict(renders)
    out = {"faces": len(idx), "gender_agreement": float(np.mean((p["gender"] > 0.5) == (v["gender"] > 0.5))),
           "age_mean_abs_diff": float(np.abs(p["age"] - v["age"]).mean()),
           "age_corr": float(np.corrcoef(p["age"], v["age"])[0, 1]),
           "female_share": {"fitting": float(np.mean(p["gender"] > 0.5)), "validator": float(np.mean(v["gender"] > 0.5))}}
    g = ~np.isnan(data.gender[idx])
    for name, pr in (("fitting", p), ("validator", v)):
        out[f"gender_acc_on_renders_{name}"] = float(((pr["gender"] > 0.5) == (data.gender[idx] > 0.5))[g].mean())
    print(f"\non renders G(E(x)) of {len(idx)} held-out faces ({G.resolution} px): gender agreement "
          f"{out['gender_agreement']:.1%}, female share fitting {out['female_share']['fitting']:.1%} / validator "
          f"{out['female_share']['validator']:.1%}; gender vs the photo's label: fitting "
          f"{out['gender_acc_on_renders_fitting']:.1%} / validator {out['gender_acc_on_renders_validator']:.1%}; "
          f"age |difference| {out['age_mean_abs_diff']:.1f} years, correlation {out['age_corr']:.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", help="data cache (default: $FACEEDIT_HOME/data/faces128.npz)")
    ap.add_argument("--validator", help="validator file (default: the shipped one or $FACEEDIT_VALIDATOR)")
    ap.add_argument("--predictor", help="fitting predictor (default: the built-in one)")
    ap.add_argument("--renders", type=int, default=0, help="held-out faces for the render agreement (0: skip)")
    ap.add_argument("--json", type=Path, help="write the numbers here")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    t0 = time.time()
    from faceedit.models.attributes import load_attribute_predictor
    from faceedit.models.validator import judged_outputs, load_validator
    from faceedit.train.data import default_cache_dir, load_cache

    data = load_cache(args.cache or default_cache_dir() / "faces128.npz")
    val = data.subset(data.val)
    P, V = load_attribute_predictor(args.predictor), load_validator(args.validator)
    print(f"{len(val)} held-out faces ({val.resolution} px; the fitting predictor reads them at {P.input_size} px, "
          f"the validator at {V.input_size} px); validator: {V.meta.get('trained_steps')} steps, "
          f"{V.meta.get('train_minutes', float('nan')):.0f} min")
    fit, judge = held_out_metrics(P, val), held_out_metrics(V, val)
    judged = judged_outputs(judge)["judged"]
    if V.judged() and sorted(V.judged()) != sorted(judged):
        print(f"note: the sidecar's judged list differs from this measurement ({len(V.judged())} vs {len(judged)})")
    side_by_side(fit, judge, judged)
    out = {"fitting": fit, "validator": judge, "judged": judged}
    if args.renders:
        out["renders"] = render_agreement(P, V, val, args.renders)
    out["seconds"] = time.time() - t0
    print(f"\ntotal {out['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

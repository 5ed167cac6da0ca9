"""Quality of the shipped translations on held-out encoded faces (numbers only, no assertions).

For each translation of ``translations/<model-id>/`` (or ``--folder``), on held-out faces of the data
cache (validation split) whose current value of the code is known: the fraction of faces whose attribute
predictor score moves in the intended direction (the issue asks for >= 80 %), the mean change, the age
change (years) of the age edits and the gender flip rate of the sex edits.  Every held-out face of a
group is used up to ``--per-target`` (evenly spread), so the rare ``_fr_`` sets report their real ``n``.
Then plain vs conditional directions, rebuilt from the training latents with the folder's build config
and both calibrated the same way: mean change, in standard deviations of each predictor output over the
held-out faces, of the three attributes most entangled with the plain edit.  Optionally the dlib identity
distance of a few key edits.

``--judge`` (default: both when a validator exists): besides the fitting predictor (which fitted and calibrated
the translations), the independent validator (``faceedit/assets/validator.*``, issue 19) reads the same edited
renders; its table marks each translation accepted or not by the issue's bar (sex edits flip >= 80 %, age edits
move >= 10 years the intended way on average, other codes move their attribute the intended way on >= 80 %), or
"not judged" when the validator is not fit to read that output.

    python benchmarks/directions.py [--cache faces64.npz] [--latents train_latents.npy] [--faces 0] [--judge both]
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

from faceedit.edit.directions import encode_images
from faceedit.synthesis import synthesize
from faceedit.measure.edits import flatten_predictions
from faceedit.edit.targets import OWN_OUTPUTS, labels_from_facedata, target_measure
from faceedit.edit.calibration import ENTANGLEMENT_TOP
from faceedit.edit.builder import BUILD_DEFAULTS, TranslationBuilder, training_subset
from faceedit.measure.acceptance import (
    acceptance_groups,
    challenge_jobs,
    read_edits,
    record_verdicts,
    spread,
    verdicts,
)
from faceedit.edit.translations import TranslationStore, default_translations_dir

#: plain vs conditional: at least one translation of every code
COMPARE = ["Sk_2_fr_0", "A_2_fr_0", "A_0_fr_2", "Se_1_fr_0", "Se_0_fr_1", "B_1_fr_0", "B_0_fr_1", "D_1_fr_0",
           "Hc_1_fr_0", "Hc_3_fr_2", "Hs_1_fr_0", "bald", "Be_max", "N_max", "Pn_max", "Bp_max", "Bn_max", "Ch_max"]


def judge_table(found: dict) -> dict:
    """Print the validator's verdicts (:func:`faceedit.measure.acceptance.verdicts`) beside the fitting predictor's
    success; returns them as plain dicts."""
    print(f"\n{'translation':14s} {'faces':>5s} {'fitting':>8s} {'validator':>9s} {'val. change':>11s}  verdict "
          "(validator; sex: flip rate, age: mean years)")
    for v in found.values():
        print(f"{v.name:14s} {v.faces:5d} {100 * v.success_fitting:7.1f}% {100 * v.success_judge:8.1f}% "
              f"{v.mean_change_judge:+11.3f}  {v.verdict}")
    judged = [v for v in found.values() if v.judged]
    print(f"accepted by the validator: {sum(v.accepted for v in judged)}/{len(judged)} judged translations "
          f"({len(found)} in all)")
    return {name: v.to_dict() for name, v in found.items()}


def entanglement(G, P, W, base, t_delta, idx, own, target, cur):
    """Mean |change| of every other predictor output in standard deviations of that output over the
    held-out faces (age in years and probabilities become comparable), and the edit's own success rate."""
    pred = flatten_predictions(P.predict(synthesize(G, W[idx] + t_delta)))
    fn, sign = target_measure(target, cur)
    ok = float(np.mean(sign * (np.asarray(fn(pred)) - np.asarray(fn({k: v[idx] for k, v in base.items()}))) > 0))
    return {k: float(np.abs(pred[k] - base[k][idx]).mean() / (base[k].std() + 1e-6)) for k in pred if k not in own}, ok


def compare_conditional(args, G, E, P, store, data, W, base, groups, out) -> None:
    """Plain vs conditional edits of :data:`COMPARE`, rebuilt from the training latents with the folder's
    build config and calibrated alike; entanglement on the held-out faces (``out["conditional"]``)."""
    print("\nplain vs conditional (mean |change|, in standard deviations, of the 3 outputs most entangled with "
          "the plain edit)")
    train = training_subset(data, args.train_limit)
    if args.latents and Path(args.latents).is_file():
        Wt = np.load(args.latents, allow_pickle=False)
        if len(Wt) != len(train):
            raise SystemExit(f"{args.latents}: {len(Wt)} faces, the training set {len(train)}: give the same "
                             "--train-limit as build-defaults' --limit")
    else:
        Wt = encode_images(E, train.images, progress=False)
    report = Path(store.folder) / "build_report.json"
    config = json.loads(report.read_text())["config"] if report.is_file() else BUILD_DEFAULTS
    builder = TranslationBuilder(Wt, labels_from_facedata(train), G.model_id, config)
    builder.read_renders(G, P)  # the same label sources as build-defaults
    sets = {}
    for cond in (True, False):  # the second fit reuses the cached plain directions: no refitting
        builder.cfg["conditional"] = cond
        if not builder.cfg["calibrate"]:
            translations = [t for t in builder.fit().build() if t.name in COMPARE]
        elif cond:  # as build-defaults: calibrated, the conditioning chosen per translation
            translations, _ = builder.build_calibrated(G, P, names=COMPARE)
        else:  # the reference build_calibrated compared with (made once)
            translations = builder.calibrated_plain(G, P, names=COMPARE)
        sets[cond] = {t.name: t for t in translations}
    out["conditional"] = {}
    for name in COMPARE:
        if name not in sets[False] or name not in sets[True]:
            continue
        target = sets[True][name].parsed.target
        code = target.split("_")[0]
        cur = sets[True][name].parsed.from_value
        idx = np.flatnonzero(groups[code] == cur) if cur is not None else np.arange(len(W))
        idx = spread(idx, args.per_target)
        if len(idx) < 5:
            continue
        own = OWN_OUTPUTS[code]
        plain, p_ok = entanglement(G, P, W, base, sets[False][name].delta, idx, own, target, cur)
        cond, c_ok = entanglement(G, P, W, base, sets[True][name].delta, idx, own, target, cur)
        top = sorted(plain, key=lambda k: -plain[k])[:ENTANGLEMENT_TOP]
        p3, c3 = float(np.mean([plain[k] for k in top])), float(np.mean([cond[k] for k in top]))
        out["conditional"][name] = {"top3": top, "plain": p3, "conditional": c3, "success_plain": p_ok,
                                    "success_conditional": c_ok, "faces": len(idx)}
        print(f"{name:10s} top3 {', '.join(top):52s} plain {p3:.3f}  conditional {c3:.3f}  "
              f"(success {100 * p_ok:.0f}% / {100 * c_ok:.0f}%, n={len(idx)})")
    better = [v["conditional"] < v["plain"] for v in out["conditional"].values()]
    print(f"conditional below plain: {sum(better)}/{len(better)}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--generator")
    ap.add_argument("--encoder")
    ap.add_argument("--predictor")
    ap.add_argument("--folder", help="translation folder (default: translations/<model-id>)")
    ap.add_argument("--cache", help="data cache (default: $FACEEDIT_HOME/data/faces64.npz)")
    ap.add_argument("--latents", help="encoded training faces (.npy from build-defaults --latents) for the "
                                      "plain vs conditional comparison")
    ap.add_argument("--train-limit", type=int, default=None,
                    help="training faces (as build-defaults --limit; default: all)")
    ap.add_argument("--faces", type=int, default=0, help="held-out faces (0: all)")
    ap.add_argument("--per-target", type=int, default=200, help="faces per target and current value at most")
    ap.add_argument("--no-conditional", action="store_true", help="skip the plain vs conditional rebuild")
    ap.add_argument("--identity", type=int, default=0, help="faces for the dlib identity distance (0: skip)")
    ap.add_argument("--json", help="write all numbers here")
    ap.add_argument("--threads", type=int, default=2, help="torch threads (1 is much faster on a busy machine)")
    ap.add_argument("--judge", choices=["fitting", "both"], help="fitting: the fitting predictor reads the edits; "
                    "both: the validator too (default when a validator exists; calibration never reads it)")
    ap.add_argument("--validator", help="validator file (default: the shipped one or $FACEEDIT_VALIDATOR)")
    ap.add_argument("--record", action="store_true", help="write the validator's verdicts into the translations' "
                                                         "sidecars (`validation`)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.threads)
    t0 = time.time()

    from faceedit.models.attributes import load_attribute_predictor
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.encoder import load_encoder
    from faceedit.train.data import default_cache_dir, load_cache

    G = load_generator(args.generator).eval()
    E = load_encoder(args.encoder)
    P = load_attribute_predictor(args.predictor)
    store = TranslationStore(args.folder or default_translations_dir() / G.model_id, G.model_id)
    data = load_cache(args.cache or default_cache_dir() / "faces64.npz")
    val = data.subset(data.val)
    val = val.subset(spread(np.arange(len(val)), args.faces or len(val)))
    W = encode_images(E, val.images, progress=False)
    base = flatten_predictions(P.predict(synthesize(G, W)))
    labels = labels_from_facedata(val)
    groups = acceptance_groups(labels)  # sex edits on adult faces (the validator's gender bar is measured there)
    print(f"model {G.model_id}: {len(val)} held-out faces, {len(store)} translations in {store.folder}")

    jobs = challenge_jobs(groups, len(val))
    rows = read_edits(G, P, W, base, jobs, store, args.per_target)
    out = {"model_id": G.model_id, "faces": len(val), "translations": {}}
    from faceedit.models.validator import load_validator, validator_available

    judge = args.judge or ("both" if validator_available(args.validator) else "fitting")
    if judge != "fitting":
        V = load_validator(args.validator)
        base_v = flatten_predictions(V.predict(synthesize(G, W)))
        rows_v = read_edits(G, V, W, base_v, jobs, store, args.per_target)
        heads = ", ".join(o for o in ("age", "gender", "race") if o in V.judged()) or "none"
        print(f"validator: {len(V.judged())} judged outputs (of age, gender, race: {heads})")
        found = verdicts(rows_v, base_v, V.judged(), rows, judge="validator")
        out["validator"] = judge_table(found)
        if args.record:
            print(f"recorded the verdicts in {len(record_verdicts(store, found))} sidecars of {store.folder}")
    print(f"\n{'translation':14s} {'faces':>5s} {'success':>8s} {'mean change':>12s}")
    for name in sorted(rows):
        r = rows[name]
        change = np.concatenate(r["change"])
        rate = r["ok"] / max(1, r["n"])
        out["translations"][name] = {"faces": r["n"], "success": rate, "mean_change": float(change.mean())}
        print(f"{name:14s} {r['n']:5d} {100 * rate:7.1f}% {change.mean():+12.3f}")
    rates = [v["success"] for v in out["translations"].values()]
    out["share_at_least_80"] = float(np.mean(np.array(rates) >= 0.8)) if rates else None
    print(f"\ntranslations moving their attribute the intended way on >= 80 % of faces: "
          f"{sum(r >= 0.8 for r in rates)}/{len(rates)}; median success {100 * np.median(rates):.1f}%")

    # age in years, gender flips
    for name in ("A_2_fr_0", "A_0_fr_2", "A_2_fr_1", "A_0_fr_1", "A_2", "A_0"):
        if name in rows:
            ch = np.concatenate(rows[name]["change"])
            out[f"age_change_{name}"] = float(ch.mean())
            print(f"age change {name}: {ch.mean():+.1f} years (median {np.median(ch):+.1f}, n={len(ch)})")
    for name, new in (("Se_1_fr_0", 1), ("Se_0_fr_1", 0)):
        if name in rows:
            idx = np.concatenate(rows[name]["idx"])
            after = np.concatenate([p["gender"] for p in rows[name]["pred"]])
            was_other = (base["gender"][idx] > 0.5) != bool(new)
            flips = ((after > 0.5) == bool(new))[was_other]
            out[f"gender_flip_{name}"] = float(flips.mean()) if len(flips) else None
            if len(flips):
                print(f"gender flip {name}: {100 * flips.mean():.1f}% of {len(flips)} faces predicted the other sex")

    if not args.no_conditional:
        compare_conditional(args, G, E, P, store, data, W, base, groups, out)

    if args.identity:
        from faceedit.faces.identity import identity_distance

        print("\nidentity distance (dlib; same person < 0.6)")
        out["identity"] = {}
        ref = synthesize(G, W[: args.identity])
        for name in ("A_2", "A_0", "Se_1", "Se_0", "bald", "Hc_1", "Ch_max"):
            if name in store:
                edited = synthesize(G, W[: args.identity] + store.get(name).delta)
                d = float(identity_distance(ref, edited).mean())
                out["identity"][name] = d
                print(f"{name:8s} {d:.3f}")
    out["seconds"] = time.time() - t0
    print(f"\ntotal {out['seconds']:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

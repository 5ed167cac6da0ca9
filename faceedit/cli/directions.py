"""``faceedit directions pca|sefa|fit|evaluate|build-defaults``: find attribute directions, make translations."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("directions", help="find edit directions (PCA, SeFa, supervised) and build translations")
    sub = p.add_subparsers(dest="directions_command", metavar="ACTION", required=True)

    q = sub.add_parser("pca", help="GANSpace: principal components of sampled W codes")
    q.add_argument("--generator", help="generator checkpoint (default: the built-in model)")
    q.add_argument("--samples", type=int, default=10000)
    q.add_argument("--components", type=int, default=10)
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--layer-ranges", action="store_true", help="estimate the W+ layers each component acts on")
    q.add_argument("--out", required=True, help="stats file (.npz)")
    q.add_argument("--translations", help="also save each component as translation pca_NN in this folder")
    q.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    q.set_defaults(func=run_pca)

    q = sub.add_parser("sefa", help="closed-form factorisation of the modulation weights")
    q.add_argument("--generator", help="generator checkpoint (default: the built-in model)")
    q.add_argument("--layers", help="W+ rows, e.g. '0-3' (default: all)")
    q.add_argument("--components", type=int, default=10)
    q.add_argument("--out", required=True, help="stats file (.npz)")
    q.add_argument("--translations", help="also save each component as translation sefa_NN in this folder")
    q.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    q.set_defaults(func=run_sefa)

    q = sub.add_parser("fit", help="a supervised direction from labelled faces, saved as a translation")
    src = q.add_mutually_exclusive_group(required=True)
    src.add_argument("--csv", help="user CSV 'image,label' of aligned faces (encoded with --encoder)")
    src.add_argument("--cache", help="data cache (.npz from `faceedit train prepare-data`) with --attribute")
    src.add_argument("--generated", type=int, metavar="N", help="N generated faces scored by the predictor")
    q.add_argument("--attribute", help="label column (CelebA name, age, female) or predictor output")
    q.add_argument("--method", default="logistic", choices=["svm", "logistic", "ridge", "mean"])
    q.add_argument("--quantile", type=float, default=0.25, help="top/bottom fraction for continuous labels")
    q.add_argument("--per-row", action="store_true", help="fit each W+ row separately")
    q.add_argument("--condition-on", nargs="*", default=[], help="translations (.npy) to orthogonalise against")
    q.add_argument("--encoder", help="encoder checkpoint (default: the built-in encoder)")
    q.add_argument("--generator", help="generator checkpoint (default: the built-in model)")
    q.add_argument("--predictor", help="attribute predictor checkpoint (default: built-in)")
    q.add_argument("--scale", type=float, default=None,
                   help="length of the saved delta (default: the distance between the two label groups)")
    q.add_argument("--name", required=True, help="translation name (convention or free)")
    q.add_argument("--out", required=True, help="translation folder")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    q.set_defaults(func=run_fit)

    q = sub.add_parser("evaluate", help="target vs other attributes vs identity for a range of strengths")
    q.add_argument("translation", help="translation file (.npy)")
    q.add_argument("--attribute", required=True, help="the predictor output the edit should change")
    q.add_argument("--decrease", action="store_true", help="the edit should lower the attribute")
    q.add_argument("--latents", help="W+ codes (.npy, N x n_latent x style_dim); default: generated samples")
    q.add_argument("--samples", type=int, default=32)
    q.add_argument("--strengths", default="0.5,1,1.5,2")
    q.add_argument("--no-identity", action="store_true", help="skip the dlib identity distance")
    q.add_argument("--generator", help="generator checkpoint (default: the built-in model)")
    q.add_argument("--predictor", help="attribute predictor checkpoint (default: built-in)")
    q.add_argument("--out", required=True, help="folder for <name>.json (+ .png when matplotlib is installed)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    q.set_defaults(func=run_evaluate)

    q = sub.add_parser("build-defaults", help="build the default translation set from labelled real faces")
    q.add_argument("--out", help="folder (default: translations/<model-id>)")
    q.add_argument("--cache", help="data cache (default: $FACEEDIT_HOME/data/faces64.npz)")
    q.add_argument("--encoder", help="encoder checkpoint (default: the built-in encoder)")
    q.add_argument("--model-id", help="generator model id (default: from the encoder's metadata or the "
                   "built-in generator)")
    q.add_argument("--latents", help="cache of the encoded training faces (.npy; written when missing)")
    q.add_argument("--limit", type=int, help="use at most this many training faces (quick runs)")
    q.add_argument("--generator", help="generator for the strength calibration (default: the built-in model)")
    q.add_argument("--predictor", help="attribute predictor for the calibration (default: built-in)")
    q.add_argument("set", nargs="*", metavar="KEY=VALUE",
                   help="build options (faceedit.edit.builder.BUILD_DEFAULTS): method, C, ridge_alpha, boost, "
                        "conditional, condition_top, condition_faces, condition_min_cos, condition_success_margin, condition_partial, render_weight, "
                        "layers.<code>, layers.<code>_<value> (the edits towards one value), layers.Hc_<a>-<b> (a hair colour pair) "
                        "(e.g. 'layers.B=\"3-5\"'; the built-in set uses 'layers.B=\"3-5\"' 'layers.Hs=\"2-7\"' 'layers.Hc_2-3=\"4-9\"' "
                        "'layers.Se_1=\"2-9\"'), pairwise, min_group, "
                        "calibrate, calibration_rate, calibration_faces, calibration_multipliers, calibration_extra.<code>, "
                        "calibration_max_step, calibration_max_sex_flips, render_labels, render_samples")
    q.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    q.set_defaults(func=run_build_defaults)


# ----------------------------------------------------------------------------------------------------


def _generator(path: str | None) -> Any:
    from ..models.checkpoints import load_generator

    return load_generator(path).eval()


def _threads(n: int) -> None:
    """Torch CPU threads for this command (a busy shared machine runs much faster with 1)."""
    import torch
    from threadpoolctl import threadpool_limits  # scikit-learn's dependency: BLAS / OpenMP pools

    torch.set_num_threads(max(1, n))
    threadpool_limits(max(1, n))


def _save_components(components, n_latent: int, folder: str, prefix: str, model_id: str, meta: dict,
                     ranges=None) -> None:
    from ..edit.translations import Translation, TranslationStore

    store = TranslationStore(folder, model_id)
    for i, comp in enumerate(components):
        layers = list(range(ranges[i][0], ranges[i][1] + 1)) if ranges else None
        store.save(Translation.from_direction(f"{prefix}_{i:02d}", comp, n_latent, layers,
                                              meta={"model_id": model_id, "method": prefix, "component": i, **meta}))


def run_pca(args: argparse.Namespace) -> int:
    from ..edit.directions import PCAFinder

    _threads(args.threads)
    G = _generator(args.generator)
    pca = PCAFinder(args.components).fit_generator(G, args.samples, args.seed)
    if args.layer_ranges:
        pca.estimate_layer_ranges(G, seed=args.seed)
    pca.save(args.out)
    for i, (v, r) in enumerate(zip(pca.explained_variance_, pca.explained_variance_ratio_)):
        rng = f"  layers {pca.layer_ranges_[i][0]}-{pca.layer_ranges_[i][1]}" if pca.layer_ranges_ else ""
        print(f"component {i:2d}: variance {v:.4f} ({100 * r:.1f}%){rng}")
    if args.translations:
        _save_components(pca.components_ * pca.explained_variance_[:, None] ** 0.5, G.n_latent, args.translations,
                         "pca", G.model_id, {"scale": "1 standard deviation"}, pca.layer_ranges_)
    print(f"wrote {Path(args.out).with_suffix('.npz')}")
    return 0


def run_sefa(args: argparse.Namespace) -> int:
    import numpy as np

    from ..edit.directions import SeFaFinder

    G = _generator(args.generator)
    sefa = SeFaFinder(args.components, args.layers).fit(G)
    from ..io import atomic_path

    with atomic_path(Path(args.out).with_suffix(".npz")) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, components_=sefa.components_, eigenvalues_=sefa.eigenvalues_,
                     layers_=np.array(sefa.layers_))
    for i, v in enumerate(sefa.eigenvalues_):
        print(f"component {i:2d}: eigenvalue {v:.3f}")
    if args.translations:
        layers = sefa.layers_
        _save_components(sefa.components_ * 3.0, G.n_latent, args.translations, "sefa", G.model_id,
                         {"scale": 3.0}, [(min(layers), max(layers))] * len(sefa.components_))
    print(f"wrote {Path(args.out).with_suffix('.npz')}")
    return 0


def run_fit(args: argparse.Namespace) -> int:
    import numpy as np

    from ..edit.directions import binarize, coordinates, encode_images, make_finder, orthogonalize, sample_generated
    from ..errors import DataError, InvalidInput
    from ..edit.translations import Translation, TranslationStore

    _threads(args.threads)
    model_id = None
    if args.generated:
        from ..models.attributes import load_attribute_predictor

        G = _generator(args.generator)
        X, scores = sample_generated(G, load_attribute_predictor(args.predictor), args.generated, args.seed)
        model_id, n_latent = G.model_id, G.n_latent
        if args.attribute not in scores:
            raise InvalidInput(f"the predictor has no output {args.attribute!r} (has: {', '.join(sorted(scores))})")
        y = np.asarray(scores[args.attribute], dtype=np.float64)
    else:
        from ..models.encoder import load_encoder

        encoder = load_encoder(args.encoder)
        model_id = encoder.meta.get("generator_model_id")
        if args.csv:
            from ..edit.directions import load_labelled_images

            images, y = load_labelled_images(args.csv, encoder.input_size)
        else:
            from ..train.data import load_cache
            from ..edit.targets import labels_from_facedata

            data = load_cache(args.cache)
            data = data.subset(~data.val)
            labels = labels_from_facedata(data)
            if args.attribute not in labels:
                raise InvalidInput(f"no label column {args.attribute!r} (has: {', '.join(sorted(labels))})")
            y = labels[args.attribute]
            keep = np.isfinite(y)
            images, y = data.images[keep], y[keep]
        X = encode_images(encoder, images)
        n_latent = X.shape[1]
    if model_id is None:
        model_id = _generator(args.generator).model_id
    finder = make_finder(args.method, per_row=args.per_row,
                         **({"quantile": args.quantile} if args.method != "ridge" else {})).fit(X, y)
    direction = finder.direction_
    others = []
    for path in args.condition_on:
        other = Translation.load(path).delta
        others.append(other.mean(0) if direction.ndim == 1 else other)  # a W direction vs W+ deltas
    if others:
        direction = orthogonalize(direction, others)
    if args.scale is None:
        keep, lab = binarize(y, args.quantile)
        if lab[keep].min() == lab[keep].max():
            raise DataError("all kept labels are equal: give --scale")
        c = coordinates(X, direction)
        scale = float(c[keep & (lab == 1)].mean() - c[keep & (lab == 0)].mean())
    else:
        scale = args.scale
    t = Translation.from_direction(args.name, direction * np.float32(scale), n_latent, meta={
        "model_id": model_id, "method": args.method, "attribute": args.attribute, "layers": None,
        "default_strength": 1.0, "train_score": finder.score_, "n_samples": finder.n_samples_,
        "conditioned_on": [str(p) for p in args.condition_on], "created_by": "faceedit directions fit"})
    path = TranslationStore(args.out, model_id).save(t)  # a W direction moves every W+ row
    print(f"{args.name}: {args.method} score {finder.score_:.3f} on {finder.n_samples_} faces, "
          f"scale {scale:.3f}; wrote {path}")
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..edit.directions import sample_w
    from ..measure.edits import most_entangled, evaluate_edit, save_evaluation
    from ..models.attributes import load_attribute_predictor
    from ..edit.translations import Translation

    _threads(args.threads)
    G = _generator(args.generator)
    t = Translation.load(args.translation)
    t.check_model(G.model_id, (G.n_latent, G.style_dim))
    if args.latents:
        latents = np.load(args.latents, allow_pickle=False)
    else:
        latents = np.repeat(sample_w(G, args.samples, args.seed)[:, None], G.n_latent, axis=1)
    strengths = [float(s) for s in args.strengths.split(",")]
    result = evaluate_edit(G, load_attribute_predictor(args.predictor), latents, t.delta, strengths,
                           args.attribute, -1.0 if args.decrease else 1.0, identity=not args.no_identity)
    written = save_evaluation(result, args.out, t.name)
    for s, ch, ok, idd in zip(result["strengths"], result["target_change"], result["success"], result["identity"]):
        ident = f", identity {idd:.3f}" if idd is not None else ""
        print(f"strength {s:g}: {args.attribute} {ch:+.3f} ({100 * ok:.0f}% in the intended direction){ident}")
    print("most entangled: " + ", ".join(f"{n} {v:.3f}" for n, v in most_entangled(result)))
    if len(written) == 1:
        print("matplotlib is not installed: wrote the JSON only")
    print("wrote " + ", ".join(str(p) for p in written))
    return 0


def run_build_defaults(args: argparse.Namespace) -> int:
    import numpy as np

    from ..config import load_config
    from ..io import save_npy
    from ..models.encoder import load_encoder
    from ..train.data import default_cache_dir, load_cache
    from ..edit.builder import BUILD_DEFAULTS, build_default_set, training_subset
    from ..edit.translations import default_translations_dir

    _threads(args.threads)
    cfg = load_config(BUILD_DEFAULTS, None, args.set)
    encoder = load_encoder(args.encoder)
    G = predictor = None
    if cfg["calibrate"]:
        from ..models.attributes import load_attribute_predictor

        G, predictor = _generator(args.generator), load_attribute_predictor(args.predictor)
    model_id = args.model_id or (G.model_id if G is not None else None) or encoder.meta.get("generator_model_id") \
        or _generator(None).model_id
    if G is not None and G.model_id != model_id:
        from ..errors import ModelMismatch

        raise ModelMismatch(f"--model-id {model_id!r} but the generator is {G.model_id!r}")
    data = training_subset(load_cache(args.cache or default_cache_dir() / "faces64.npz"), args.limit)
    latents = None
    if args.latents and Path(args.latents).is_file():
        latents = np.load(args.latents, allow_pickle=False)
        print(f"read {len(latents)} encoded faces from {args.latents}")
        if len(latents) != len(data):
            from ..errors import DataError

            raise DataError(f"{args.latents} holds {len(latents)} faces, the training set {len(data)} "
                            "(another --limit or cache?): delete it to encode again")
    if latents is None and args.latents:
        from ..edit.directions import encode_images

        latents = encode_images(encoder, data.images)
        save_npy(args.latents, latents)
    out = Path(args.out) if args.out else default_translations_dir() / model_id
    report = build_default_set(encoder, data, out, model_id, cfg, latents, progress=print, generator=G,
                               predictor=predictor)
    if report["calibration"]:
        low = {k: v for k, v in report["calibration"].items() if v["success"] < cfg["calibration_rate"]}
        print(f"calibrated {len(report['calibration'])} translations; below {cfg['calibration_rate']:.0%} "
              f"even at the largest strength: {', '.join(sorted(low)) or 'none'}")
    print(f"wrote {len(report['written'])} translations for model {model_id!r} to {out}")
    return 0

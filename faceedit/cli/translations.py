"""``faceedit translations list|show|apply|check|import|export``: inspect, validate, apply, import and export
named W+ translations."""
from __future__ import annotations

import argparse
from pathlib import Path

# faceedit.edit.interop.FORMATS and SIGMAS (not imported here: `faceedit --help` imports no numpy)
FORMATS = ("auto", "gan-face-editing", "interfacegan", "ganspace", "anycost")
SIGMAS = 3.0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("translations", help="list, show, check and apply named translations")
    sub = p.add_subparsers(dest="translations_command", metavar="ACTION", required=True)

    def folder_args(q: argparse.ArgumentParser) -> None:
        q.add_argument("--folder", help="translation folder (default: translations/<model-id>)")
        q.add_argument("--model-id", help="model id (default: the built-in generator's)")

    q = sub.add_parser("list", help="the translations of a folder")
    folder_args(q)
    q.set_defaults(func=_with_warning_lines(run_list))

    q = sub.add_parser("show", help="one translation: metadata and per-layer norms")
    q.add_argument("name", help="translation name (in --folder) or a .npy path")
    folder_args(q)
    q.set_defaults(func=_with_warning_lines(run_show))

    q = sub.add_parser("check", help="validate names and files; report what the challenge needs and is missing")
    folder_args(q)
    q.set_defaults(func=_with_warning_lines(run_check))

    q = sub.add_parser("apply", help="apply translations (or a recipe) to a W+ latent (.npy)")
    q.add_argument("latent", help="W+ latent (.npy, n_latent x style_dim)")
    q.add_argument("names", nargs="*", help="translations to apply (combined, in --folder)")
    q.add_argument("--recipe", help="recipe JSON (steps) instead of names")
    q.add_argument("--strength", type=float, help="shift strength, or target level with --mode set")
    q.add_argument("--weights", help="comma-separated weights of the names (weighted combination)")
    q.add_argument("--mode", choices=["shift", "set"], help="default: each translation's own")
    q.add_argument("--layers", help="restrict to W+ rows, e.g. '0-5' or '2,3'")
    q.add_argument("--user", action="append", default=[], help="user folder(s) overriding --folder")
    q.add_argument("--out", required=True, help="edited latent (.npy)")
    folder_args(q)
    q.set_defaults(func=_with_warning_lines(run_apply))

    q = sub.add_parser("import", help="import translations or directions saved by another project",
                       description="Import gan-face-editing translation folders, InterFaceGAN boundaries, GANSpace "
                       "component files or anycost-gan's direction file into a translation folder (all or nothing).")
    q.add_argument("src", help="file or folder to import")
    q.add_argument("--format", default="auto", choices=FORMATS, help="source layout (default: auto)")
    q.add_argument("--space", choices=("w", "z"), help="the space of InterFaceGAN / GANSpace directions when "
                   "the file name does not say (Z is refused: this editor works in W+)")
    q.add_argument("--layers", help="W+ rows the imported directions act on, e.g. '0-5' (default: all)")
    q.add_argument("--components", help="GANSpace components to import, e.g. '0-9' or '0,3' (default: all)")
    q.add_argument("--as", dest="renames", action="append", default=[], metavar="[ATTRIBUTE=][-]NAME",
                   help="import a direction under a challenge name, e.g. 'Young=A_0' or 'Bags_Under_Eyes=-Be_min' "
                   "('-' negates it); default names are {source}_{attribute}")
    q.add_argument("--sigmas", type=float, default=SIGMAS, help="default strength of imported directions in "
                   f"standard deviations of W along them (default {SIGMAS:g})")
    q.add_argument("--generator", help="generator checkpoint or name (default: the built-in model)")
    q.add_argument("--folder", "--out", dest="folder", help="translation folder to import into "
                   "(default: translations/<model-id>)")
    q.add_argument("--model-id", help="model id (default: the generator's)")
    q.set_defaults(func=_with_warning_lines(run_import))

    q = sub.add_parser("export", help="write a translation folder in another project's layout")
    q.add_argument("--format", required=True, choices=("gan-face-editing",), help="target layout")
    q.add_argument("--out", required=True, help="folder to write (e.g. gan-face-editing's translations_vect)")
    q.add_argument("--n-latent", type=int, help="W+ rows of one-row (W) translations (default: the folder's)")
    folder_args(q)
    q.set_defaults(func=_with_warning_lines(run_export))


def _with_warning_lines(run):
    """``run`` with each distinct warning it raises printed as one ``warning: ...`` line on stderr."""

    def wrapped(args: argparse.Namespace) -> int:
        import sys
        import warnings

        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                return run(args)
            finally:
                for message in dict.fromkeys(str(w.message) for w in caught):
                    print(f"warning: {message}", file=sys.stderr)

    wrapped.__name__ = run.__name__
    return wrapped


def _store(args: argparse.Namespace):
    from ..edit.translations import TranslationStore, default_translations_dir

    model_id = args.model_id
    if args.folder:
        return TranslationStore(args.folder, model_id)
    if model_id is None:
        from ..models.checkpoints import load_generator

        model_id = load_generator().model_id
    return TranslationStore(default_translations_dir() / model_id, model_id)


def run_list(args: argparse.Namespace) -> int:
    store = _store(args)
    names = store.names()
    if not names:
        print(f"no translations in {store.folder}")
        return 0
    verdicts: list[str] = []
    for name in names:
        t = store.get(name)
        m = t.meta
        verdict = str(m.get("validation", {}).get("verdict", ""))
        verdicts.append(verdict)
        print(f"{name:14s} {m.get('method', '?'):9s} {str(m.get('attribute', '')):16s} "
              f"|delta| {float((t.delta ** 2).sum() ** 0.5):7.3f}  strength {t.default_strength:g}"
              + (f"  validator: {verdict}" if verdict else ""))
    print(f"{len(names)} translations in {store.folder}")
    if any(verdicts):
        judged = [v for v in verdicts if v and not v.startswith("not judged")]
        print(f"independent validator (held-out faces): {sum(v == 'accepted' for v in judged)} accepted, "
              f"{sum(v.startswith('rejected') for v in judged)} rejected, "
              f"{sum(v.startswith('not judged') for v in verdicts)} not judged, "
              f"{sum(not v for v in verdicts)} not read (no held-out face needs them)")
    return 0


def run_show(args: argparse.Namespace) -> int:
    import json

    import numpy as np

    from ..edit.translations import Translation

    path = Path(args.name)
    t = Translation.load(path) if path.suffix in (".npy", ".json") else _store(args).get(args.name)
    print(json.dumps(t.meta, indent=2, default=str))
    norms = np.linalg.norm(t.delta, axis=1)
    print("per-layer |delta|: " + " ".join(f"{v:.3f}" for v in norms))
    parsed = t.parsed
    print(f"kind: {parsed.kind}; produces: {parsed.target}")
    return 0


def run_check(args: argparse.Namespace) -> int:
    from ..edit.translations import BALD, CURSOR_CODES, VALUE_CODES, BALD_VALUES

    store = _store(args)
    problems = store.check()
    have = set(store.names())
    generic = [f"{c}_{v}" for c, vals in VALUE_CODES.items() for v in vals]
    generic += [BALD] + [f"{c}_{e}" for c in CURSOR_CODES for e in ("min", "max")]
    missing = [n for n in generic if n not in have]
    for code, bald_value in BALD_VALUES.items():  # a bald face needs every Hc_v and Hs_v
        missing += [f"{code}_{v}_fr_{bald_value}" for v in VALUE_CODES[code]
                    if f"{code}_{v}_fr_{bald_value}" not in have and f"{code}_{v}" not in have]
    for p in problems:
        print(f"problem: {p}")
    if missing:
        print("missing (no translation for these targets): " + ", ".join(missing))
    print(f"{len(have)} translations in {store.folder}: {len(problems)} problems, {len(missing)} targets missing")
    return 1 if problems or missing else 0


def run_apply(args: argparse.Namespace) -> int:
    import numpy as np

    from ..errors import DataError, InvalidInput
    from ..io import save_npy
    from ..edit.layouts import read_rows
    from ..edit.translations import Recipe, TranslationStore, apply
    from ..types import Latent

    store = _store(args)
    w = read_rows(args.latent, "latent")  # (n_latent, style_dim), (1, n_latent, style_dim) or one W row
    folders = [store.folder, *map(Path, args.user)]
    if w.shape[0] == 1:  # one W row: on every row of the W+ shape of the folders' translations
        w = np.repeat(w, _n_latent(folders, store.model_id) or 1, axis=0)
    stores = [TranslationStore(f, store.model_id, w.shape) for f in folders]
    latent = Latent(w, store.model_id) if store.model_id else w
    if args.recipe:
        out = Recipe.load(args.recipe).apply(latent, stores)
    else:
        if not args.names:
            raise InvalidInput("give translation names or --recipe")
        found = []
        for name in args.names:
            for s in reversed(stores):
                if name in s:
                    found.append(s.get(name))
                    break
            else:
                raise DataError(f"no translation {name!r} in {', '.join(str(s.folder) for s in stores)}")
        weights = [float(x) for x in args.weights.split(",")] if args.weights else [1.0] * len(found)
        if len(weights) != len(found):
            raise InvalidInput(f"{len(found)} translations but {len(weights)} weights")
        out = apply(latent, list(zip(found, weights)), args.strength, args.mode, args.layers)
    out_w = out.w if isinstance(out, Latent) else out
    save_npy(args.out, out_w.astype(np.float32))
    print(f"moved the latent by {float(np.linalg.norm(out_w - w)):.3f}; wrote {args.out}")
    return 0


def _n_latent(folders: list[Path], model_id: str | None) -> int | None:
    """The number of W+ rows of the first translation of these folders that has more than one row."""
    from ..edit.translations import TranslationStore

    for folder in folders:
        store = TranslationStore(folder, model_id)
        for name in store.names():
            t = store.get(name)
            if t.delta.shape[0] > 1:
                return int(t.delta.shape[0])
    return None


def run_import(args: argparse.Namespace) -> int:
    from ..edit.interop import import_translations
    from ..models.checkpoints import load_generator
    from ..edit.translations import default_translations_dir

    generator = load_generator(args.generator)
    model_id = args.model_id or generator.model_id
    folder = Path(args.folder) if args.folder else default_translations_dir() / model_id
    done = import_translations(args.src, folder, generator, args.format, model_id, args.space, args.layers,
                               args.components, args.renames, args.sigmas)
    for t in done:
        print(f"{t.name:28s} strength {t.default_strength:8.4g}  from {t.meta['source'].get('file')}")
    print(f"imported {len(done)} translations into {folder}")
    return 0


def run_export(args: argparse.Namespace) -> int:
    from ..edit.interop import export_gan_face_editing

    store = _store(args)
    written, skipped = export_gan_face_editing(store.folder, args.out, store.model_id, args.n_latent)
    for name, why in skipped.items():
        print(f"skipped {name}: {why}")
    print(f"wrote {len(written)} translations to {args.out} (gan-face-editing layout)")
    return 0

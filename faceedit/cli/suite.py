"""``faceedit train rebuild-suite``: rebuild the encoder, translations, their acceptance and the sample grid
of a generator (:mod:`faceedit.train.suite`)."""
from __future__ import annotations

import argparse

#: the build options of the shipped 64 px set (translations/README.md), used when none are given
BUILT_IN_OPTIONS = ('layers.B="3-5"', 'layers.Hs="2-7"', 'layers.Hc_2-3="4-9"', 'layers.Se_1="2-9"')


def register(sub) -> None:
    """Add ``rebuild-suite`` to the ``faceedit train`` subcommands."""
    p = sub.add_parser(
        "rebuild-suite", help="rebuild everything derived from a generator (encoder, translations, validator "
                              "verdicts, sample grid)",
        description="Rebuild, for a new generator, its encoder (given or trained), the encoded training faces, "
                    "the default translations (fitted and calibrated on the attribute predictor), the "
                    "independent validator's accept/reject of each translation on held-out faces (written to "
                    "the sidecars, never used to calibrate) and a sample grid, into one folder. Finished stages "
                    "are kept when re-run (an interrupted rebuild resumes); --force redoes them.")
    p.add_argument("--generator", required=True, help="the new generator (.safetensors)")
    p.add_argument("--out", required=True, help="output folder (encoder, latents, translations/<model-id>/, "
                                                "acceptance.json, samples.png, suite.json)")
    p.add_argument("--cache", help="data cache from prepare-data (default: $FACEEDIT_HOME/data/faces64.npz)")
    p.add_argument("--model-id", help="model id of the suite (default: the generator file's)")
    p.add_argument("--encoder", help="its encoder (default: train one, warm-started from the built-in one)")
    p.add_argument("--encoder-minutes", type=float, default=20.0, help="budget of that encoder training (default 20)")
    p.add_argument("--predictor", help="fitting attribute predictor (default: built-in)")
    p.add_argument("--validator", help="validator (default: the shipped one or $FACEEDIT_VALIDATOR)")
    p.add_argument("--max-faces", type=int, default=200, help="held-out faces per target and current value")
    p.add_argument("--threads", type=int, help="CPU threads for torch")
    p.add_argument("--embedding-pairs", type=int, default=6000,
                   help="real and sampled pairs each for the embedding mapper (default 6000; 0 = no mapper)")
    p.add_argument("--embedding-minutes", type=float, default=10.0, help="embedding mapper training budget")
    p.add_argument("--student-minutes", type=float, default=10.0,
                   help="descriptor student training budget (from-embedding --refine student; 0 = none)")
    p.add_argument("--map-encoder-minutes", type=float, default=20.0,
                   help="map encoder training budget (default 20; its pairs are parsed first; 0 = no map encoder)")
    p.add_argument("--map-pairs-from", metavar="DIR",
                   help="map pairs made for another generator (e.g. the last rebuild's OUT/map_pairs): the photos' "
                        "parses are reused, only the renders are parsed again (about half the parsing time)")
    p.add_argument("--force", action="store_true", help="redo the finished stages too")
    p.add_argument("options", nargs="*", metavar="KEY=VALUE",
                   help="translation build options, as `faceedit directions build-defaults` takes them (default: "
                        "the built-in set's, " + " ".join(BUILT_IN_OPTIONS) + ")")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..train.data import default_cache_dir
    from ..train.suite import SuiteSettings, rebuild_suite
    from ..edit.builder import BUILD_DEFAULTS

    settings = SuiteSettings(
        generator=args.generator, out=args.out, cache=args.cache or str(default_cache_dir() / "faces64.npz"),
        model_id=args.model_id, encoder=args.encoder, encoder_minutes=args.encoder_minutes,
        predictor=args.predictor, validator=args.validator, build_options=load_config(BUILD_DEFAULTS, None, args.options or BUILT_IN_OPTIONS),
        max_faces=args.max_faces, force=args.force, threads=args.threads, embedding_pairs=args.embedding_pairs,
        embedding_minutes=args.embedding_minutes, student_minutes=args.student_minutes,
        map_encoder_minutes=args.map_encoder_minutes, map_pairs_from=args.map_pairs_from)
    rebuild_suite(settings)
    return 0

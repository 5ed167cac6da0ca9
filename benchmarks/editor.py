"""Editor slider latency: from a slider-drag event to the new pixmap on screen (median of several drags).

Measured through the real window (offscreen Qt), worker thread included:
- the default model (built-in suite; skipped with a message when it is not installed yet),
- a 1024 px config-f shaped generator with SEEDED weights (conformance key file), whose drag preview is the
  0.25-channel sub-generator stopped at 256 px,
for a translation slider that changes every W+ row, and one that changes only rows >= 8 (a colour/texture
edit: the layer cache re-uses the first layers), plus the full-quality render after release.

    .venv/bin/python benchmarks/editor.py [--runs 7] [--skip-1024] [--model CHECKPOINT]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
CACHED_FROM = 8  # the second translation leaves W+ rows < 8 unchanged


def seeded_1024_generator():
    """A config-f FFHQ-1024 shaped generator with the conformance SEEDED weights."""
    from faceedit.models.stylegan2 import Generator
    from faceedit.testing import conformance_dir, seeded_state_dict

    g = Generator(1024, style_dim=512, n_mlp=8, channel_multiplier=2, model_id="seeded-config-f-1024")
    g.load_state_dict(seeded_state_dict(conformance_dir() / "stylegan2_ffhq_config_f_1024_g_ema_keys.txt"))
    return g.eval()


def default_generator():
    from faceedit.models.checkpoints import load_generator

    return load_generator(None).eval()


def make_window(generator, translations_root: Path):
    """A window on ``generator`` with two random translations: ``A_2`` on every W+ row, ``Hc_1`` on rows >= 8."""
    import numpy as np

    from editor.prefs import Preferences
    from editor.session import EditSession
    from editor.window import MainWindow
    from faceedit.edit.translations import Translation, TranslationStore

    rng = np.random.default_rng(0)
    delta = 0.3 * rng.standard_normal((generator.n_latent, generator.style_dim)).astype(np.float32)
    store = TranslationStore(translations_root / generator.model_id, generator.model_id)
    store.save(Translation("A_2", delta))
    late = delta.copy()
    late[:CACHED_FROM] = 0
    store.save(Translation("Hc_1", late))
    session = EditSession(generator, translations_root)
    session.load_catalogue()
    win = MainWindow(Preferences.load(translations_root / "prefs"), translations_root, interactive=False)
    win.show()
    win.set_session(session)
    win.start_face(seed=0)
    wait(lambda: session.base is not None and not win.busy(), 600)
    return win


def wait(condition, timeout: float) -> None:
    """Run the Qt event loop until ``condition()`` holds (checked every millisecond, no busy spinning, so
    that the process CPU time measures the work and not the wait)."""
    from PySide6.QtCore import QEventLoop, QTimer

    if condition():
        return
    loop = QEventLoop()
    t0 = time.perf_counter()
    timer = QTimer()
    timer.setInterval(1)

    def check() -> None:
        if condition() or time.perf_counter() - t0 > timeout:
            loop.quit()

    timer.timeout.connect(check)
    timer.start()
    loop.exec()
    timer.stop()
    if not condition():
        raise TimeoutError("the window did not finish rendering")


class Timer:
    """Wall-clock and process CPU time (all threads) of a block, in ms."""

    def __enter__(self) -> "Timer":
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = (time.perf_counter() - self.wall) * 1000
        self.cpu = (time.process_time() - self.cpu) * 1000


def drag_latency(win, key: str, runs: int) -> dict[str, float]:
    """Median wall/CPU ms from a drag event to the shown preview pixmap, and of the full render after release."""
    samples: dict[str, list[float]] = {"preview": [], "preview_cpu": [], "full": [], "full_cpu": []}
    for i in range(runs + 1):  # the first drag warms up the sub-generator and its cache
        value = 0.5 + 0.25 * i
        with Timer() as pre:
            win.sliders.rows[key].moved.emit(key, value)  # what QSlider.sliderMoved → SliderRow emits
            wait(lambda: not win.busy(), 300)
        assert win.last_render().preview
        with Timer() as full:
            win.sliders.rows[key].committed.emit(key, value)  # release
            wait(lambda: not win.busy(), 300)
        if i:
            for name, t in (("preview", pre), ("full", full)):
                samples[name].append(t.wall)
                samples[name + "_cpu"].append(t.cpu)
    return {k: statistics.median(v) for k, v in samples.items()}


def report(label: str, m: dict[str, float]) -> None:
    print(f"  {label:34s} preview {m['preview']:7.1f} ms (CPU {m['preview_cpu']:7.1f})   "
          f"full render {m['full']:8.1f} ms (CPU {m['full_cpu']:8.1f})")


def engine_only(session, runs: int) -> dict[str, float]:
    """The same renders called directly, without Qt (the editor's overhead is the difference)."""
    from editor.state import EditState

    key = "translation:A_2"
    samples: dict[str, list[float]] = {"preview": [], "preview_cpu": [], "full": [], "full_cpu": []}
    for i in range(runs + 1):
        w = session.latent_for(EditState().with_value(key, 0.3 + 0.2 * i))
        for name in ("preview", "full"):
            with Timer() as t:
                session.render(w, preview=name == "preview")
            if i:
                samples[name].append(t.wall)
                samples[name + "_cpu"].append(t.cpu)
    return {k: statistics.median(v) for k, v in samples.items()}


def bench(name: str, make_generator, runs: int) -> None:
    try:
        generator = make_generator()
    except Exception as e:  # e.g. the default suite is not installed yet
        print(f"{name}: skipped ({type(e).__name__}: {e})")
        return
    with tempfile.TemporaryDirectory() as tmp:
        win = make_window(generator, Path(tmp))
        settings = {"channel_ratio": 1.0, "resolution": generator.resolution, **win.session.preview_settings()}
        print(f"{name}: {generator.resolution} px, n_latent {generator.n_latent}, preview channel ratio "
              f"{settings['channel_ratio']} at {settings['resolution']} px")
        report("translation on all rows:", drag_latency(win, "translation:A_2", runs))
        report(f"translation on rows >= {CACHED_FROM} (cache):", drag_latency(win, "translation:Hc_1", runs))
        print(f"  stale frames dropped by the worker: {win.worker.dropped}")
        report("engine alone (session.render):", engine_only(win.session, runs))
        win.close()
        del win


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-1024", action="store_true")
    parser.add_argument("--model", help="a generator checkpoint to measure instead of the default model")
    args = parser.parse_args()

    import torch
    from PySide6.QtWidgets import QApplication

    torch.set_num_threads(2)
    app = QApplication.instance() or QApplication([])  # noqa: F841 - keeps Qt alive
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, median of {args.runs} drags")
    if args.model:
        from faceedit.models.checkpoints import load_generator

        bench(f"model {args.model}", lambda: load_generator(args.model).eval(), args.runs)
    else:
        bench("default model", default_generator, args.runs)
    if not args.skip_1024:
        bench("config-f 1024 (seeded)", seeded_1024_generator, args.runs)


if __name__ == "__main__":
    main()

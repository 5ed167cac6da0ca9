"""Edits that stay photographs (issue 18): ``transfer`` vs ``replace`` on held-out photos (numbers only).

For every photo (default: held-out identities of the shared data, see ``--help`` of ``--n``), the face is
aligned, parsed (``landmarks`` backend) and projected once (``--preset``, cached in ``--cache``); each edit
is rendered (``R = G(w)``, ``E = G(w + d)``) and brought to the photo two ways, both followed by the default
mixups (domain, segmentation, depth; the original's parsing given to the Mixer):

- ``replace``: the render resized to the aligned size (today's behaviour);
- ``transfer``: :func:`faceedit.compose.transfer.transfer_edit` (flow, appearance, new content).

Per edit kind, median over photos: sharpness (Laplacian energy of the parsed face, output / original,
outside the new-content alpha), detail kept (high-pass correlation after DIS alignment), skin colour cast
(length of the mean Lab (a*, b*) shift), dlib identity distance, efficacy (``--judge``: read by the project's
own attribute predictor, the model the translations were fitted and calibrated with, and/or by the independent
validator, ``faceedit/assets/validator.*``, on the outputs it is judged fit to read), pixels changed outside
the domain region; then transfer speed at 512 px and a ``faceedit edit``-like 12 MP run with its breakdown.

    python benchmarks/photo_edits.py                   # the full run: 40 photos x 8 edits (~10-15 min on 2 cores)
    python benchmarks/photo_edits.py --quick           # smoke run (< 1 min)
    python benchmarks/photo_edits.py --sanity          # what the detail metric gives for a warp / a blur + noise
    python benchmarks/photo_edits.py --photos me.jpg us.png --figure fig.png   # your own photos + a figure

Figures of the shared data's photos must stay out of the repository (they are CelebA photos).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import photo_metrics as pm  # noqa: E402
from photo_data import Photo, held_out_photos, user_photos  # noqa: E402

KINDS = ["A", "Se", "Hc_1", "Hc_3", "B_1", "Ch_max", "Be_max", "bald"]
#: kind -> (predictor output, sign) read for efficacy; A and Se depend on the edit's direction
EFFICACY = {"Hc_1": ("Blond_Hair", 1), "Hc_3": ("Gray_Hair", 1), "B_1": ("Bangs", 1), "Ch_max": ("Chubby", 1),
            "Be_max": ("Bags_Under_Eyes", 1), "bald": ("Bald", 1)}
EFFICACY_ATTRIBUTES = sorted({a for a, _ in EFFICACY.values()})
MODES = ("transfer", "replace")
METRICS = ("sharp", "detail", "chroma", "identity", "efficacy", "efficacy_v", "out_frac", "out_max")
FIGURE_KINDS = ["A", "Se", "Hc_1", "B_1"]
DEFAULT_CACHE = Path.home() / ".cache" / "faceedit" / "bench" / "photo_edits"


def edit_name(kind: str, photo: Photo) -> str:
    """The translation of an edit kind for this photo: age and sex go to the other end of the photo's."""
    if kind == "A":
        return "A_2" if photo.young else "A_0"
    if kind == "Se":
        return "Se_1" if photo.male else "Se_0"  # naming convention: Se 0 male, 1 female
    return kind


def efficacy_ok(name: str, before: dict, after: dict, i: int) -> bool:
    """Did output ``i`` move the intended way (``before``: the original's predictions, index 0)?"""
    if name in ("A_0", "A_2"):
        change = after["age"][i] - before["age"][0]
        return bool(change > 0 if name == "A_2" else change < 0)
    if name in ("Se_0", "Se_1"):  # gender = P(female): reads as the target sex after the edit
        return bool(after["gender"][i] > 0.5 if name == "Se_1" else after["gender"][i] < 0.5)
    key, sign = EFFICACY[name]
    return bool(sign * (after[key][i] - before[key][0]) > 0)


def efficacy_output(name: str) -> str:
    """The predictor output an edit's efficacy reads."""
    return {"A_0": "age", "A_2": "age", "Se_0": "gender", "Se_1": "gender"}.get(name) or EFFICACY[name][0]


def judged_efficacy(judge, name: str, before: dict | None, after: dict | None, i: int) -> float:
    """Efficacy of output ``i`` read by ``judge`` (``before``/``after``: its predictions); NaN when there is
    no judge or it is not judged fit to read the edit's output."""
    if judge is None or (hasattr(judge, "judged") and efficacy_output(name) not in judge.judged()):
        return float("nan")
    return float(efficacy_ok(name, before, after, i))


@dataclass
class Models:
    """Everything loaded once: generator, projector, attribute predictor, translations, and the judges of
    efficacy (``judge``: fitting, validator or both; the validator when it exists)."""

    G: object
    projector: object
    predictor: object
    store: object
    preset: str
    cache: Path
    timings: dict = field(default_factory=dict)
    judge: str = "fitting"
    validator: object = None

    @classmethod
    def load(cls, preset: str, cache: Path, generator: str | None = None, judge: str = "fitting") -> "Models":
        from faceedit.models.attributes import load_attribute_predictor
        from faceedit.models.checkpoints import load_generator
        from faceedit.models.encoder import load_encoder
        from faceedit.projection.project import ProjectionSettings, Projector
        from faceedit.edit.translations import TranslationStore

        G = load_generator(generator).eval()
        E = load_encoder() if generator is None else None
        projector = Projector(G, E, ProjectionSettings.from_preset(preset))
        from faceedit.models.validator import load_validator

        validator = load_validator() if judge in ("validator", "both") else None
        return cls(G, projector, load_attribute_predictor(), TranslationStore.default(G.model_id), preset, cache,
                   judge=judge, validator=validator)

    def project(self, image: np.ndarray) -> np.ndarray:
        """W+ of an aligned face, cached on disk by image content, preset and model id."""
        h = hashlib.blake2b(image.tobytes(), digest_size=12)
        h.update(f"{image.shape}|{self.preset}|{self.G.model_id}".encode())
        path = self.cache / f"{h.hexdigest()}.npy"
        if path.is_file():
            return np.load(path)
        w = self.projector.project(image)[0].latent.w
        self.cache.mkdir(parents=True, exist_ok=True)
        np.save(path, w)
        return w


def aligned_labels(face) -> np.ndarray:
    """The original's CelebAMask-HQ parsing (landmarks backend, the alignment's landmarks reused)."""
    from faceedit.faces.alignment import transform_points
    from faceedit.faces.parsing import parse

    lm = transform_points(np.linalg.inv(face.transform), face.landmarks)
    return parse(face.image, landmarks=lm)


def edit_one(models: Models, face_img: np.ndarray, labels: np.ndarray, names: list[str],
             mixer=None) -> dict[str, dict]:
    """Both modes of every edit of one face: {name: {"transfer": (image, alpha, mix), "replace": ...,
    "t_transfer": (wall s, cpu s)}}."""
    from faceedit.images import resize
    from faceedit.compose.mixups import Mixer
    from faceedit.synthesis import synthesize
    from faceedit.compose.transfer import transfer_edit
    from faceedit.edit.translations import apply

    n = face_img.shape[0]
    w = models.project(face_img)
    ws = np.stack([w] + [apply(w, models.store.get(nm)) for nm in names])
    renders = synthesize(models.G, ws)
    if mixer is None:
        mixer = Mixer()
    mixer.prepare(face_img, labels=labels)
    out = {}
    for nm, E in zip(names, renders[1:]):
        t0, c0 = time.perf_counter(), time.process_time()
        tr = transfer_edit(face_img, renders[0], E, nm, labels=labels)
        dt = (time.perf_counter() - t0, time.process_time() - c0)
        mix_t = mixer.mix(face_img, tr.image, nm)
        mix_r = mixer.mix(face_img, resize(E, n), nm)
        mix_0 = mixer.mix(face_img, resize(renders[0], n), nm)  # no edit, pasted the same way: the floor
        out[nm] = {"transfer": (mix_t.image, tr.alpha, mix_t), "replace": (mix_r.image, None, mix_r),
                   "null": (mix_0.image, None, mix_0), "t_transfer": dt}
    return out


def outside_domain(mix, mixer, size: int) -> np.ndarray | None:
    """Pixels farther than the domain step's feather from its allowed region (None: the code has none)."""
    from faceedit.compose.blending import distance_to_outside

    allowed = mix.masks.get("domain")
    if allowed is None or "domain" not in mix.applied:
        return None
    cfg = mixer.config["domain"]
    feather = cfg["codes"][mix.code].get("feather", cfg["feather"]) * size
    return distance_to_outside(~allowed) > feather + 1.0


def measure_photo(models: Models, photo: Photo, kinds: list[str]) -> list[dict]:
    """Align, parse, edit and measure one photo; one row per (edit, mode)."""
    import faceedit
    from faceedit.faces.identity import descriptors
    from faceedit.compose.mixups import Mixer

    face = faceedit.align(photo.path, size=photo.size)[0]
    orig = face.image
    labels = aligned_labels(face)
    if photo.male is None or photo.young is None:  # no CelebA label: the predictor's reading of the photo
        p = models.predictor.predict(orig)
        photo.male = bool(p["gender"][0] < 0.5) if photo.male is None else photo.male
        photo.young = bool(p["Young"][0] > 0.5) if photo.young is None else photo.young
        photo.label_source += "+predictor"
    names = [edit_name(k, photo) for k in kinds]
    mixer = Mixer()
    results = edit_one(models, orig, labels, names, mixer)
    face_m = pm.face_mask(labels)
    skin_m = pm.face_mask(labels, (pm.SKIN_CLASS,), erode_frac=0.01)
    outs = [results[nm][mode][0] for nm in names for mode in MODES]
    before = models.predictor.predict(orig)
    after = models.predictor.predict(np.stack(outs))
    v_before = models.validator.predict(orig) if models.validator is not None else None
    v_after = models.validator.predict(np.stack(outs)) if models.validator is not None else None
    d_orig = descriptors(orig)[0]
    d_out = descriptors(outs)
    rows = []
    nulls = np.stack([results[nm]["null"][0] for nm in names])
    n_after = models.predictor.predict(nulls)
    nv_after = models.validator.predict(nulls) if models.validator is not None else None
    for j, (kind, nm) in enumerate(zip(kinds, names)):  # the efficacy floor: the unedited reconstruction
        rows.append({"photo": photo.path.name, "size": orig.shape[0], "kind": kind, "name": nm, "mode": "null",
                     "efficacy": float(efficacy_ok(nm, before, n_after, j)) if models.judge != "validator"
                     else float("nan"),
                     "efficacy_v": judged_efficacy(models.validator, nm, v_before, nv_after, j)})
    for j, (kind, nm) in enumerate(zip(kinds, names)):
        for m, mode in enumerate(MODES):
            i = 2 * j + m
            img, alpha, mix = results[nm][mode]
            sharp_m = face_m if alpha is None else face_m & (alpha < 0.05)
            outside = outside_domain(mix, mixer, orig.shape[0])
            frac, top = pm.changed_outside(img, orig, outside) if outside is not None else (float("nan"), -1)
            rows.append({"photo": photo.path.name, "size": orig.shape[0], "kind": kind, "name": nm, "mode": mode,
                         "sharp": pm.sharpness_ratio(img, orig, sharp_m), "detail": pm.detail_kept(img, orig, face_m),
                         "chroma": pm.chroma_shift(img, orig, skin_m),
                         "identity": float(np.linalg.norm(d_out[i] - d_orig)),
                         "efficacy": float(efficacy_ok(nm, before, after, i)) if models.judge != "validator"
                         else float("nan"),
                         "efficacy_v": judged_efficacy(models.validator, nm, v_before, v_after, i),
                         "out_frac": frac, "out_max": top,
                         "t_transfer": results[nm]["t_transfer"][0] if mode == "transfer" else float("nan"),
                         "cpu_transfer": results[nm]["t_transfer"][1] if mode == "transfer" else float("nan")})
    return rows


def _med(values) -> float:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=np.float64)
    return float(np.median(v)) if len(v) else float("nan")


def print_table(rows: list[dict], kinds: list[str]) -> dict:
    """The per-kind table (medians over photos; efficacy as a fraction of faces; outside as the max)."""
    fmt = {"sharp": "{:.2f}", "detail": "{:.2f}", "chroma": "{:.2f}", "identity": "{:.3f}", "efficacy": "{:.0%}",
           "efficacy_v": "{:.0%}", "out_frac": "{:.4f}", "out_max": "{:.0f}"}
    head = {"sharp": "sharp", "detail": "detail", "chroma": "chroma", "identity": "identity",
            "efficacy": "efficacy(fit)", "efficacy_v": "efficacy(val)", "out_frac": "out.frac", "out_max": "out.max"}
    print("\nper edit kind, transfer / replace (median over photos; efficacy: fraction of faces; outside the "
          "domain: median fraction of changed pixels / max |diff| over photos)")
    print(f"{'kind':8s} {'n':>3s} " + " ".join(f"{head[k]:>15s}" for k in METRICS))
    summary = {}
    for kind in kinds + ["all"]:
        sel = [r for r in rows if kind == "all" or r["kind"] == kind]
        if not sel:
            continue
        cells, summary[kind] = [], {}
        for k in METRICS:
            vals = {}
            for mode in MODES:
                v = [r[k] for r in sel if r["mode"] == mode]
                if k.startswith("efficacy"):
                    v = [x for x in v if np.isfinite(x)]
                    vals[mode] = float(np.mean(v)) if v else float("nan")
                elif k == "out_max":
                    v = [x for x in v if x >= 0]
                    vals[mode] = float(max(v)) if v else float("nan")
                elif k == "identity" and kind == "all":
                    vals[mode] = _med([r[k] for r in sel if r["mode"] == mode and r["kind"] != "Se"])
                else:
                    vals[mode] = _med(v)
            summary[kind][k] = vals
            text = "/".join("n/a" if not np.isfinite(vals[mo]) else fmt[k].format(vals[mo]) for mo in MODES)
            cells.append(f"{text:>15s}")
        n = len({r["photo"] for r in sel})
        print(f"{kind if kind != 'all' else 'all*':8s} {n:3d} " + " ".join(cells))
    print("  * 'all' identity: non-sex edits only. Targets (transfer): sharp >= 0.90 and detail >= 0.6 for every "
          "kind, chroma <= 2, identity <= 0.40, efficacy >= replace - 5 points, outside 0/255. efficacy(fit): the "
          "fitting predictor, efficacy(val): the validator (n/a: not asked for, or an output it is not judged fit "
          "to read)")
    floor = []
    for kind in kinds:
        sel = [r for r in rows if r["kind"] == kind and r["mode"] == "null"]
        cells = []
        for k in ("efficacy", "efficacy_v"):
            v = [r[k] for r in sel if np.isfinite(r.get(k, float("nan")))]
            cells.append(f"{np.mean(v):.0%}" if v else "n/a")
        floor.append(f"{kind} {cells[0]}/{cells[1]}")
    print("  efficacy floor (fit/val): the UNEDITED reconstruction pasted through the same mixups moves the reading "
          "the intended way on: " + ", ".join(floor))
    names = sorted({r["name"] for r in rows})
    print("  edits per name: " + ", ".join(f"{nm} {sum(r['name'] == nm and r['mode'] == 'transfer' for r in rows)}"
                                           for nm in names))
    return summary


def speed_transfer(rows: list[dict]) -> dict:
    """Median transfer time per edit (s) by aligned size, from the measured runs (render time excluded)."""
    out = {}
    for size in sorted({r["size"] for r in rows}):
        sel = [r for r in rows if r["size"] == size and r["mode"] == "transfer"]
        out[size] = {"wall": _med([r["t_transfer"] for r in sel]), "cpu": _med([r["cpu_transfer"] for r in sel])}
        print(f"transfer_edit at {size} px: {out[size]['wall']:.3f} s wall / {out[size]['cpu']:.3f} s CPU (all "
              f"threads) per edit (median of {len(sel)}, labels given, on top of the renders; target <= 0.25 s at 512)")
    return out


def speed_12mp(models: Models, source: Path, size: int, runs: int) -> dict:
    """``faceedit edit``-like run on a ~12 MP copy of ``source``: one face, one edit (A_2), after start-up.

    The library steps are timed one by one (``size`` 0: the face's FFHQ quad side clamped to 256..1024, as
    ``faceedit.edit_photo`` aligns); then ``faceedit.compose.photo_edit.PhotoEditor`` end to end when it exists."""
    import cv2

    import faceedit
    from faceedit.faces.alignment import detect_faces, ffhq_quad
    from faceedit.images import load_image, save_image
    from faceedit.compose.mixups import Mixer
    from faceedit.synthesis import synthesize
    from faceedit.compose.transfer import transfer_edit
    from faceedit.edit.translations import apply

    tmp = Path(tempfile.mkdtemp(prefix="photo_edits_"))
    src = load_image(source)
    k = np.sqrt(12e6 / (src.shape[0] * src.shape[1]))
    big = cv2.resize(src, (int(src.shape[1] * k), int(src.shape[0] * k)), interpolation=cv2.INTER_CUBIC)
    path = tmp / "photo12mp.jpg"
    save_image(path, big, quality=95)
    if not size:
        size = int(min(1024, max(256, 8 * round(ffhq_quad(detect_faces(big)[0][1])[1] / 8))))
    print(f"\n12 MP run: {source.name} upscaled to {big.shape[1]}x{big.shape[0]} "
          f"({big.shape[0] * big.shape[1] / 1e6:.1f} MP), aligned at {size} px, edit A_2, preset {models.preset}")
    t_all: dict[str, list[float]] = {}
    for run in range(runs + 1):  # run 0 warms up (models, caches)
        t: dict[str, float] = {}

        def step(name, fn):
            t0, c0 = time.perf_counter(), time.process_time()
            value = fn()
            t[name] = time.perf_counter() - t0
            t[name + " cpu"] = time.process_time() - c0
            return value

        photo = step("load", lambda: load_image(path))
        face = step("detect+align", lambda: faceedit.align(photo, size=size)[0])
        labels = step("parse", lambda: aligned_labels(face))
        w = step("project", lambda: models.projector.project(face.image)[0].latent.w)
        renders = step("render", lambda: synthesize(models.G, np.stack([w, apply(w, models.store.get("A_2"))])))
        tr = step("transfer", lambda: transfer_edit(face.image, renders[0], renders[1], "A_2", labels=labels))

        def mixups():
            mixer = Mixer()
            mixer.prepare(face.image, labels=labels)
            return mixer.mix(face.image, tr.image, "A_2").image

        mixed = step("mixups", mixups)
        pasted = step("paste back", lambda: faceedit.paste_back(photo, mixed, face.transform))
        step("save", lambda: save_image(tmp / "out.jpg", pasted, quality=95))
        if run:
            for name, v in t.items():
                t_all.setdefault(name, []).append(v)
    med = {name: float(np.median(v)) for name, v in t_all.items()}
    walls = [k for k in med if not k.endswith(" cpu")]
    print("  steps, wall/CPU s: " + ", ".join(f"{k} {med[k]:.3f}/{med[k + ' cpu']:.3f}" for k in walls))
    print(f"  total {sum(med[k] for k in walls):.2f} s wall, {sum(med[k + ' cpu'] for k in walls):.2f} s CPU "
          f"(median of {runs} runs per step; target <= 3 s)")
    if _has_edit_photo():
        from faceedit.compose.photo_edit import EditSettings, PhotoEditor

        editor = PhotoEditor({"A_2": 1.0}, None, EditSettings(preset=models.preset))
        totals, stages = [], {}
        for run in range(runs + 1):
            t0, c0 = time.perf_counter(), time.process_time()
            result = editor.edit(path)
            save_image(tmp / "out2.jpg", result.image, quality=95)
            if run:
                totals.append((time.perf_counter() - t0, time.process_time() - c0))
                for k2, v in result.timings.items():
                    stages.setdefault(k2, []).append(v)
        med["photo_editor_wall"] = float(np.median([x[0] for x in totals]))
        med["photo_editor_cpu"] = float(np.median([x[1] for x in totals]))
        print(f"  faceedit.compose.photo_edit.PhotoEditor.edit + JPEG save: {med['photo_editor_wall']:.2f} s wall, "
              f"{med['photo_editor_cpu']:.2f} s CPU; its stages (wall s): "
              + ", ".join(f"{k2} {np.median(v):.3f}" for k2, v in stages.items()))
    else:
        print("  faceedit.compose.photo_edit does not exist yet: only the library steps above were timed")
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    return med


def _has_edit_photo() -> bool:
    import importlib.util

    return importlib.util.find_spec("faceedit.compose.photo_edit") is not None


def sanity(photos: list[Photo]) -> None:
    """What the detail metric (and the sharpness ratio) give for known copies of a few originals."""
    import faceedit

    print("\nsanity of the metrics on originals (detail kept / sharpness ratio):")
    for photo in photos:
        face = faceedit.align(photo.path, size=photo.size)[0]
        orig, mask = face.image, pm.face_mask(aligned_labels(face))
        cases = {"small warp": pm.small_warp(orig), "blur σ3@512 + grain": pm.blurred_noisy(orig),
                 "64 px round trip + grain": pm.blurred_noisy(orig, render_size=64),
                 "64 px round trip": pm.blurred_noisy(orig, render_size=64, noise=0.0)}
        print(f"  {photo.path.name} ({photo.size} px): " + "; ".join(
            f"{k} {pm.detail_kept(v, orig, mask):.3f} / {pm.sharpness_ratio(v, orig, mask):.2f}"
            for k, v in cases.items()))


def figure(models: Models, photos: list[Photo], out: Path) -> None:
    """Original / replace / transfer for 4 edits, each with a 100 % crop, per photo (at most 3)."""
    import cv2

    import faceedit
    from faceedit.images import save_image

    blocks = []
    for photo in photos[:3]:
        face = faceedit.align(photo.path, size=photo.size)[0]
        orig, labels = face.image, aligned_labels(face)
        if photo.male is None or photo.young is None:
            p = models.predictor.predict(orig)
            photo.male, photo.young = bool(p["gender"][0] < 0.5), bool(p["Young"][0] > 0.5)
        names = [edit_name(k, photo) for k in FIGURE_KINDS]
        res = edit_one(models, orig, labels, names)
        n, c = orig.shape[0], orig.shape[0] // 4
        y0, x0 = int(0.42 * n), int(0.3 * n)  # left eye and cheek: 100 % crop
        tile = 256
        for nm in names:
            ims = [orig, res[nm]["replace"][0], res[nm]["transfer"][0]]
            row = [cv2.resize(im, (tile, tile), interpolation=cv2.INTER_AREA) for im in ims]
            row += [cv2.resize(im[y0:y0 + c, x0:x0 + c], (tile, tile), interpolation=cv2.INTER_NEAREST) for im in ims]
            row = np.concatenate(row, axis=1)
            texts = ["original", f"replace {nm}", f"transfer {nm}", "100% crop", "replace", "transfer"]
            for i, text in enumerate(texts):
                cv2.putText(row, text, (6 + i * tile, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (255, 255, 255), 2)
                cv2.putText(row, text, (6 + i * tile, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1)
            blocks.append(row)
    save_image(out, np.concatenate(blocks, axis=0))
    print(f"figure: {out} ({len(blocks)} rows; crops are {c} px of the {n} px aligned face, nearest-upscaled)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 epilog="The full run (40 photos, 8 edits, 12 MP timing) takes about 10-15 min on "
                                        "2 busy cores; --quick under a minute.")
    ap.add_argument("--n", type=int, default=40, help="held-out photos (wild first, then CelebA 178x218)")
    ap.add_argument("--edits", default=",".join(KINDS), help=f"edit kinds (default {','.join(KINDS)}; A and Se "
                    "go to the other end of the photo's age / sex)")
    ap.add_argument("--photos", nargs="+", type=Path, help="your own photos instead of the held-out set")
    ap.add_argument("--preset", default="fast", choices=["fast", "balanced", "faithful"])
    ap.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"projection cache (default {DEFAULT_CACHE})")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 photos, 2 edits, one 12 MP run")
    ap.add_argument("--sanity", action="store_true", help="print the metrics of known copies of 3 originals")
    ap.add_argument("--figure", type=Path, help="write original / replace / transfer for 4 edits here")
    ap.add_argument("--no-speed", action="store_true", help="skip the 12 MP timing")
    ap.add_argument("--speed-size", type=int, default=0, help="aligned size of the 12 MP run (default 0: the "
                    "face's quad side clamped to 256..1024, as faceedit.edit_photo does)")
    ap.add_argument("--runs", type=int, default=3, help="runs of the 12 MP timing (median)")
    ap.add_argument("--json", type=Path, help="write every measured row here")
    ap.add_argument("--threads", type=int, default=2, help="torch / OpenCV threads (1 is faster on a busy machine)")
    ap.add_argument("--judge", choices=["fitting", "validator", "both"], help="who reads efficacy: the fitting "
                    "predictor, the independent validator, or both (default: both when the validator exists)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import cv2

    cv2.setNumThreads(args.threads)
    kinds = [k for k in args.edits.split(",") if k]
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        ap.error(f"unknown edit kind(s) {bad}; choose from {KINDS}")
    if args.quick:
        args.n, kinds, args.runs = min(args.n, 2), [k for k in kinds if k in ("A", "B_1")] or kinds[:2], 1
    t_start = time.perf_counter()
    from faceedit.models.validator import validator_available, validator_path

    judge = args.judge or ("both" if validator_available() else "fitting")
    models = Models.load(args.preset, args.cache, judge=judge)
    print(f"model {models.G.model_id} ({models.G.resolution} px), preset {args.preset}, "
          f"projections cached in {args.cache}")
    if judge != "validator":
        print("efficacy(fit) read by the project's attribute predictor (faceedit/assets/attributes.*): the SAME model "
              "that fitted and calibrated the translations - optimistic for both modes")
    if models.validator is not None:
        print(f"efficacy(val) read by the independent validator ({validator_path()}; judged: "
              f"{', '.join(o for o in ('age', 'gender') if o in models.validator.judged()) or 'neither age nor gender'}"
              f", {sum(a in models.validator.judged() for a in EFFICACY_ATTRIBUTES)}/{len(EFFICACY_ATTRIBUTES)} of "
              f"the attributes read here)")
    photos = user_photos(args.photos) if args.photos else held_out_photos(args.n)
    if args.sanity:
        sanity(photos[:3])
    rows: list[dict] = []
    from tqdm import tqdm

    from faceedit.errors import FaceEditError

    for photo in tqdm(photos, desc="photos", unit="photo"):
        try:
            rows += measure_photo(models, photo, kinds)
        except FaceEditError as e:
            print(f"  skipped {photo.path.name}: {e}")
    sources = {}
    for p in photos:
        sources.setdefault(f"{p.source} at {p.size} px", []).append(p)
    measured = len({r["photo"] for r in rows})
    print("\nphotos: " + "; ".join(f"{len(v)} {k}" for k, v in sources.items()) + f" ({measured} "
          "measured); labels: " + ", ".join(f"{lbl} {sum(p.label_source == lbl for p in photos)}"
                                             for lbl in sorted({p.label_source for p in photos})))
    if not args.photos:
        big = [f"{p.path.name} ({p.quad:.0f})" for p in photos if p.size == 512]
        print(f"  aligned at 512 (FFHQ quad side >= 400 px in the photo): {', '.join(big) or 'none'}")
    summary = print_table(rows, kinds) if rows else {}
    speeds = speed_transfer(rows)
    speed12 = {}
    if not args.no_speed:
        source = max(photos, key=lambda p: p.quad or 0).path
        speed12 = speed_12mp(models, source, args.speed_size, args.runs)
    if args.figure:
        figure(models, photos, args.figure)
    total = time.perf_counter() - t_start
    print(f"\nwall time {total:.0f} s")
    if args.json:
        args.json.write_text(json.dumps({"rows": rows, "summary": summary, "transfer_s": speeds, "speed_12mp": speed12,
                                         "wall_s": total, "judge": judge}, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())

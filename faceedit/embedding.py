"""A face from an identity embedding (issue 22): dlib descriptor → W+ → faces of that identity.

The one embedding faceedit reads is the project's **canonical dlib descriptor** (:func:`faceedit.faces.identity.
descriptor`: dlib's 128-d face-recognition ResNet on the FFHQ-aligned face, after ``faceedit.align``).
Descriptors made the usual ``face_recognition`` way (dlib's own 150 px chip of the raw photo) are close to it
but not equal (``benchmarks/embedding.py convention`` measures how close); 512-d embeddings (ArcFace and the
like) are refused.

:func:`from_embedding` maps the descriptor to W+ with the embedding mapper
(:mod:`faceedit.models.embedding_mapper`), then makes ``n`` faces: the mapper's code, and ``n - 1`` variants
whose rows that identity does not fix (:data:`VARY_ROWS`, measured by ``benchmarks/embedding.py``) come from
seeded samples of the generator.  The mapper's faces carry sex weakly, so by default (``match_sex``) a face whose
sex, as the fitting attribute predictor reads it, disagrees with the sex the descriptor itself says (a logistic
readout stored with the mapper, :func:`fit_sex_readout`) gets the generator's own sex edit (:func:`match_sex`;
the translations ``Se_1_fr_0`` / ``Se_0_fr_1`` at their calibrated strength).  A mapper may carry a
``spread`` (:func:`map_embeddings`: its code moved away from the mean code, since a regressor trained with an L2
loss predicts codes closer to the average face than the faces it learned from); the built-in one keeps 1
(measured, not adopted: see ``faceedit train embedding-spread``).  ``refine=True`` searches the
mapper's neighbourhood for a code whose render's descriptor is closer to the target (:func:`refine_latent`,
scored by dlib itself).

The default generator renders 64 px: images are upscaled to ``size`` (default 128) with a Lanczos filter, which
adds pixels, not detail.  The faces are synthetic: :func:`save_synthetic_png` tags them so in the PNG.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .errors import InvalidInput

#: W+ rows whose content the descriptor does not fix (64 px generator: the 32 px and 64 px layers, which
#: carry colour, light and texture); the variants of :func:`from_embedding` take them from random samples
VARY_ROWS: tuple[int, ...] = (6, 7, 8, 9)
#: default side of the output images (the 64 px generator's renders are upscaled)
OUTPUT_SIZE = 128
#: refinement methods: ``search`` (derivative-free, scored by dlib) and ``student`` (gradient through the
#: descriptor student, checked by dlib).  Measured on 40 held-out photos (dlib distance, median): mapper 0.601,
#: search 0.546 at 2.6 s/face, student 0.560 at 1.1 s/face: the search is the default
REFINE_METHODS = ("search", "student")
DEFAULT_REFINE = "search"
#: sex edits of :func:`match_sex` (to female, to male) and how sure the descriptor's readout must be (|p - 0.5|)
SEX_EDITS = ("Se_1_fr_0", "Se_0_fr_1")
SEX_CONFIDENCE = 0.25
#: fractions of the sex edit's calibrated strength :func:`match_sex` tries, gentlest first: each face gets the
#: smallest one after which the fitting predictor reads the intended sex (the full strength if none does)
SEX_STEPS = (0.5, 0.75, 1.0)
#: spreads :func:`faceedit.train.embedding_mapper.calibrate_spread` tries: the mapper's code is moved away from
#: the mean code, ``w_mean + spread * (w - w_mean)``, undoing part of the shrinkage an L2-trained regressor has
SPREADS = (1.0, 1.15, 1.3, 1.5)
SUPPORTED = ("a 128-d dlib face descriptor (faceedit identity PHOTO --out emb.npy, or face_recognition's "
             "face_encodings), as (128,) or (N, 128)")


@dataclass
class RefineSettings:
    """Derivative-free search around a W+ code, scored by dlib's descriptor distance to the target: each
    iteration renders ``population`` codes ``best + sigma * std * noise`` (noise on ``rows`` only, ``std`` the
    mapper's per-coordinate W+ spread), keeps the best so far and shrinks ``sigma`` by ``decay``."""

    iterations: int = 4
    population: int = 6
    sigma: float = 0.35
    decay: float = 0.8
    rows: tuple[int, ...] = field(default_factory=lambda: tuple(range(6)))
    seed: int = 0


def check_embedding(vec: Any, name: str = "embedding") -> np.ndarray:
    """A descriptor ``(128,)`` or batch ``(N, 128)`` as float32 ``(N, 128)``; InvalidInput for anything else
    (512-d embeddings, wrong length, non-finite values, all-zero vectors)."""
    from .faces.identity import DIM

    try:
        arr = np.asarray(vec, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidInput(f"{name}: not a numeric array; expected {SUPPORTED}") from None
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise InvalidInput(f"{name}: shape {np.shape(vec)}; expected {SUPPORTED}")
    if arr.shape[1] == 512:
        raise InvalidInput(f"{name}: 512-d embeddings (ArcFace, FaceNet-512 and the like) are not supported; "
                           f"faceedit reads {SUPPORTED}")
    if arr.shape[1] != DIM:
        raise InvalidInput(f"{name}: {arr.shape[1]} values per embedding; expected {SUPPORTED}")
    if not np.isfinite(arr).all():
        raise InvalidInput(f"{name}: holds NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if (norms < 1e-6).any():
        raise InvalidInput(f"{name}: embedding {int(np.argmax(norms < 1e-6))} is all zeros (no identity in it)")
    return arr.astype(np.float32)


def load_embedding_file(path: str | os.PathLike) -> np.ndarray:
    """The descriptors ``(N, 128)`` of a ``.npy`` file (see :func:`check_embedding`)."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{p}: no such file")
    try:
        arr = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise InvalidInput(f"{p}: not a readable .npy array ({e})") from None
    return check_embedding(arr, str(p))


def photo_descriptor(photo: np.ndarray | str | os.PathLike, face: int = 0) -> np.ndarray:
    """The canonical descriptor ``(128,)`` of face ``face`` (largest first) of a photo: ``faceedit.align`` at
    256 px, then :func:`faceedit.faces.identity.descriptor`.  NoFaceFound when dlib finds no face."""
    from .faces.alignment import align
    from .faces.identity import WORK_SIZE, descriptor

    return descriptor(align(photo, size=WORK_SIZE, face=face)[0].image)


def embeddings_of(source: Any) -> np.ndarray:
    """Descriptors ``(N, 128)`` of a vector/array, a ``.npy`` file, or a photo (path or RGB uint8 array)."""
    if isinstance(source, (str, os.PathLike)):
        if Path(source).suffix.lower() == ".npy":
            return load_embedding_file(source)
        return photo_descriptor(source)[None]
    arr = np.asarray(source)
    if arr.ndim == 3 and arr.dtype == np.uint8:
        return photo_descriptor(arr)[None]
    return check_embedding(arr)


def map_embeddings(desc: np.ndarray, mapper: Any = None, spread: float | None = None) -> np.ndarray:
    """W+ codes ``(N, n_latent, style_dim)`` of descriptors ``(N, 128)`` by the mapper (default built-in),
    moved away from the mapper's mean code by ``spread`` (``w_mean + spread * (w - w_mean)``; None: the spread
    calibrated for the mapper, ``meta["spread"]``, 1 when it has none)."""
    import torch

    from .models.embedding_mapper import load_embedding_mapper

    mapper = mapper if mapper is not None else load_embedding_mapper()
    spread = mapper_spread(mapper, spread)
    x = torch.from_numpy(check_embedding(desc))
    with torch.inference_mode():
        w = mapper.eval()(x)
        if spread != 1.0:
            w = mapper.w_mean + spread * (w - mapper.w_mean)
        return w.numpy().astype(np.float32)


def mapper_spread(mapper: Any, spread: float | None = None) -> float:
    """``spread`` checked (a positive number), or the mapper's own (``meta["spread"]``, 1 when it has none)."""
    spread = float(mapper.meta.get("spread", 1.0)) if spread is None else float(spread)
    if not np.isfinite(spread) or spread <= 0:
        raise InvalidInput(f"spread must be a positive number, got {spread}")
    return spread


def fit_sex_readout(desc: np.ndarray, female: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """A logistic readout of P(female) from dlib descriptors ``(N, 128)`` of photos with labels ``female``
    (P(female) or NaN): ``{"weight": [128], "bias", "n", "cv_accuracy"}`` (5-fold accuracy), stored in the
    mapper's metadata by the trainer."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score

    keep = np.isfinite(female)
    x, y = check_embedding(desc)[keep], np.asarray(female)[keep] > 0.5
    if len(np.unique(y)) < 2 or len(y) < 10:
        raise InvalidInput(f"a sex readout needs labelled photos of both sexes; got {len(y)} labelled")
    clf = LogisticRegression(C=1.0, max_iter=2000, random_state=seed)
    cv = float(np.mean(cross_val_score(clf, x, y, cv=min(5, int(min(y.sum(), (~y).sum())))))) if len(y) >= 50 else None
    clf.fit(x, y)
    return {"weight": [float(v) for v in clf.coef_[0]], "bias": float(clf.intercept_[0]), "n": int(len(y)),
            "cv_accuracy": cv}


def descriptor_sex(desc: np.ndarray, mapper: Any) -> np.ndarray | None:
    """P(female) ``(N,)`` that the mapper's stored readout gives the descriptors; None without a readout."""
    readout = getattr(mapper, "meta", {}).get("sex_readout")
    if not readout:
        return None
    z = check_embedding(desc).astype(np.float64) @ np.asarray(readout["weight"]) + float(readout["bias"])
    return 1.0 / (1.0 + np.exp(-z))


def match_sex(codes: np.ndarray, desc: np.ndarray, generator: Any, mapper: Any, predictor: Any = None,
              store: Any = None, confidence: float = SEX_CONFIDENCE,
              steps: Sequence[float] = SEX_STEPS) -> tuple[np.ndarray, list[str | None]]:
    """Give each code ``(N, L, D)`` the sex its descriptor ``(N, 128)`` says, where the descriptor is sure
    (``|p - 0.5| > confidence``) and the fitting attribute predictor reads the render as the other sex: the
    generator's sex edit (:data:`SEX_EDITS`) is added at the smallest fraction in ``steps`` of its calibrated
    strength after which that predictor reads the intended sex (the last one if none does: a smaller edit keeps
    more of the face).  Returns the codes and, per code, the edit applied (or None).  Nothing changes without
    the mapper's readout or the generator's sex edits.  (The predictor that decides is the one the translations
    were calibrated on; the validator only measures.)"""
    from .edit.translations import TranslationStore, apply

    codes = np.array(codes, np.float32)
    p = descriptor_sex(desc, mapper)
    if store is None:
        store = TranslationStore.default(getattr(generator, "model_id", None) or "unknown")
    applied: list[str | None] = [None] * len(codes)
    if p is None or not all(name in store for name in SEX_EDITS):
        return codes, applied
    if predictor is None:
        from .models.attributes import load_attribute_predictor

        predictor = load_attribute_predictor()
    from .synthesis import synthesize

    def female(batch: np.ndarray) -> np.ndarray:
        return predictor.predict(synthesize(generator, batch))["gender"] if len(batch) else np.zeros(0)

    sure = np.flatnonzero(np.abs(p - 0.5) > confidence)  # only these can be edited: render only them
    for i, f in zip(sure, female(codes[sure])):
        if p[i] > 0.5 and f < 0.5:
            applied[i] = SEX_EDITS[0]
        elif p[i] < 0.5 and f > 0.5:
            applied[i] = SEX_EDITS[1]
    todo = [i for i, name in enumerate(applied) if name]
    start = codes.copy()
    for k, fraction in enumerate(steps):
        if not todo:
            break
        for i in todo:
            t = store.get(applied[i])
            codes[i] = apply(start[i], t, strength=fraction * t.default_strength)
        if k < len(steps) - 1:  # keep the faces now read as intended, try the rest stronger
            read = female(codes[todo])
            todo = [i for i, f in zip(todo, read) if (f < 0.5) == (applied[i] == SEX_EDITS[0])]
    return codes, applied


def vary(w: np.ndarray, n: int, generator: Any, rng_seed: int = 0,
         rows: Sequence[int] = VARY_ROWS) -> np.ndarray:
    """``n`` codes ``(n, L, D)``: ``w`` itself, then ``n - 1`` copies whose ``rows`` come from seeded samples
    of ``generator`` (W of seeded z; the same seed gives the same variants)."""
    from .edit.directions import sample_w

    if n < 1:
        raise InvalidInput(f"n must be at least 1, got {n}")
    out = np.repeat(np.asarray(w, np.float32)[None], n, axis=0)
    if n > 1 and len(rows):
        other = sample_w(generator, n - 1, seed=10_000 + int(rng_seed))
        out[1:, list(rows)] = other[:, None, :]
    return out


def refine_latent(w: np.ndarray, target: np.ndarray, generator: Any, settings: RefineSettings | None = None,
                  scale: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
    """Search around ``w`` ``(L, D)`` for a code whose render's dlib descriptor is closer to ``target``
    ``(128,)``; returns the best code and the best distance after each iteration (the first entry: ``w``'s).
    ``scale`` ``(L, D)`` is the spread of the noise (default: 1 on every coordinate)."""
    from tqdm import tqdm

    from .faces.identity import descriptors
    from .synthesis import synthesize

    s = settings or RefineSettings()
    target = check_embedding(target)[0]
    best = np.asarray(w, np.float32).copy()
    scale = np.ones_like(best) if scale is None else np.asarray(scale, np.float32)
    mask = np.zeros(best.shape[0], np.float32)
    mask[[r for r in s.rows if r < best.shape[0]]] = 1.0
    best_d = float(np.linalg.norm(descriptors(synthesize(generator, best[None]))[0] - target))
    history = [best_d]
    rng = np.random.default_rng(s.seed)
    sigma = s.sigma
    for _ in tqdm(range(s.iterations), desc="refine (dlib search)", unit="it", leave=False):
        noise = rng.standard_normal((s.population, *best.shape)).astype(np.float32)
        cands = best[None] + sigma * scale[None] * mask[None, :, None] * noise
        d = np.linalg.norm(descriptors(synthesize(generator, cands)) - target, axis=1)
        i = int(np.argmin(d))
        if d[i] < best_d:
            best, best_d = cands[i], float(d[i])
        else:
            sigma *= s.decay
        history.append(best_d)
    return best, history



@dataclass
class StudentRefineSettings:
    """Gradient refinement through a :class:`~faceedit.models.descriptor_student.DescriptorStudent`: ``steps``
    of Adam (``lr``) on a W+ offset (``rows`` only, in units of the mapper's W+ spread) minimising the student's
    descriptor distance to the target + ``reg`` × the offset's mean square."""

    steps: int = 40
    lr: float = 0.05
    reg: float = 0.05
    rows: tuple[int, ...] = field(default_factory=lambda: tuple(range(10)))


def refine_latent_student(w: np.ndarray, target: np.ndarray, generator: Any, student: Any,
                          settings: StudentRefineSettings | None = None,
                          scale: np.ndarray | None = None) -> tuple[np.ndarray, list[float]]:
    """Optimise ``w`` ``(L, D)`` by gradient through ``generator`` and the ``student`` towards ``target``
    ``(128,)``; dlib measures the start and the end, and the refined code is kept only if dlib agrees it is
    closer.  Returns ``(code, [dlib distance before, dlib distance of the returned code])``."""
    import torch

    from .faces.identity import descriptors
    from .synthesis import synthesize

    s = settings or StudentRefineSettings()
    t = torch.from_numpy(check_embedding(target))
    w0 = torch.from_numpy(np.asarray(w, np.float32))[None]
    sc = torch.from_numpy(np.ones_like(w) if scale is None else np.asarray(scale, np.float32))[None]
    mask = torch.zeros(1, w0.shape[1], 1)
    mask[0, [r for r in s.rows if r < w0.shape[1]]] = 1.0
    delta = torch.zeros_like(w0, requires_grad=True)
    opt = torch.optim.Adam([delta], lr=s.lr)
    student.eval()
    for _ in range(s.steps):
        img = generator.synthesis(w0 + sc * mask * delta)
        loss = (student(img) - t).pow(2).sum() + s.reg * (mask * delta).pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward(inputs=[delta])  # no gradients for the generator's or the student's weights
        opt.step()
    refined = (w0 + sc * mask * delta).detach()[0].numpy()
    d = np.linalg.norm(descriptors(synthesize(generator, np.stack([np.asarray(w, np.float32), refined])))
                       - t.numpy(), axis=1)
    return (refined, [float(d[0]), float(d[1])]) if d[1] < d[0] else (np.asarray(w, np.float32), [float(d[0])] * 2)

def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """An RGB uint8 image resized to ``size`` × ``size`` with PIL's Lanczos filter (no new detail)."""
    from PIL import Image

    if image.shape[0] == size and image.shape[1] == size:
        return image
    return np.asarray(Image.fromarray(image).resize((size, size), Image.LANCZOS))


def from_embedding(source: Any, n: int = 4, rng_seed: int = 0, generator: Any = None, mapper: Any = None,
                   refine: bool | str = False, size: int | None = OUTPUT_SIZE,
                   student: Any = None, sex: bool = True, spread: float | None = None) -> list[tuple[np.ndarray, Any]]:
    """Faces of the identity of ``source`` (one 128-d descriptor, a ``.npy`` file of one, or a photo):
    ``n`` pairs ``(image, Latent)`` — the mapper's code (refined when ``refine``: ``True`` is
    :data:`DEFAULT_REFINE`, else a method of :data:`REFINE_METHODS`; ``student`` is the descriptor student of
    the ``student`` method, default the built-in one), then ``n - 1`` variants on
    :data:`VARY_ROWS`; ``sex`` (default) gives the mapper's code the descriptor's sex first (:func:`match_sex`);
    ``spread`` moves the mapper's code from its mean code (:func:`map_embeddings`; None: the mapper's own).
    Images are RGB uint8 at ``size`` px (the generator's renders upscaled by Lanczos when
    it is smaller; ``None`` keeps the generator's size).  A batch file ``(N, 128)`` needs
    :func:`embeddings_of` + a loop: here it is refused."""
    from .models.checkpoints import load_generator
    from .models.embedding_mapper import load_embedding_mapper
    from .synthesis import synthesize
    from .types import Latent

    desc = embeddings_of(source)
    if len(desc) != 1:
        raise InvalidInput(f"from_embedding takes one embedding, got {len(desc)}: call it once per row")
    G = generator if generator is not None else load_generator().eval()
    M = mapper if mapper is not None else load_embedding_mapper()
    check_models(M, G)
    w = map_embeddings(desc, M, spread)[0]
    if sex:
        w = match_sex(w[None], desc, G, M)[0][0]
    if refine:
        w = _refined(w, desc[0], G, M, DEFAULT_REFINE if refine is True else refine, rng_seed, student)
    codes = vary(w, n, G, rng_seed)
    images = synthesize(G, codes)
    if size:
        images = np.stack([upscale(im, size) for im in images])
    model_id = G.model_id or "unknown"
    return [(img, Latent(code, model_id)) for img, code in zip(images, codes)]


def _refined(w: np.ndarray, target: np.ndarray, G: Any, M: Any, method: Any, seed: int, student: Any) -> np.ndarray:
    """``w`` refined towards ``target`` by ``method`` (see :data:`REFINE_METHODS`)."""
    if method == "search":
        return refine_latent(w, target, G, RefineSettings(seed=seed), scale=M.w_std.numpy())[0]
    if method == "student":
        from .models.descriptor_student import load_descriptor_student

        S = student if student is not None else load_descriptor_student()
        return refine_latent_student(w, target, G, S, scale=M.w_std.numpy())[0]
    raise InvalidInput(f"unknown refinement {method!r}; use one of {', '.join(REFINE_METHODS)}")


def check_models(mapper: Any, generator: Any) -> None:
    """ModelMismatch unless the mapper makes the generator's W+ shape and was trained for that generator."""
    from .errors import ModelMismatch

    if (mapper.n_latent, mapper.style_dim) != (generator.n_latent, generator.style_dim):
        raise ModelMismatch(f"the embedding mapper makes ({mapper.n_latent}, {mapper.style_dim}) codes, the "
                            f"generator takes ({generator.n_latent}, {generator.style_dim})")
    made_for = mapper.meta.get("generator_model_id")
    if made_for and generator.model_id and made_for != generator.model_id:
        raise ModelMismatch(f"the embedding mapper was trained for generator {made_for!r}, not "
                            f"{generator.model_id!r}")


def save_synthetic_png(path: str | os.PathLike, image: np.ndarray, info: dict[str, str] | None = None) -> None:
    """Write a generated face as PNG, atomically, with text chunks ``synthetic=true``, ``Software`` and
    ``info`` (e.g. how it was made), so that it can be told apart from a photo."""
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from . import __version__
    from .images import check_image
    from .io import atomic_path

    meta = PngInfo()
    meta.add_text("synthetic", "true")
    meta.add_text("Software", f"faceedit {__version__} (from-embedding)")
    meta.add_text("Description", "Synthetic face generated by a GAN from an identity embedding; not a photo.")
    for k, v in (info or {}).items():
        meta.add_text(str(k), str(v))
    with atomic_path(Path(path).with_suffix(".png")) as tmp:
        Image.fromarray(check_image(image)).save(tmp, pnginfo=meta)


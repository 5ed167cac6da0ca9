"""``faceedit train embedding-mapper``: train the 128-d dlib descriptor → W+ mapper (issue 22).

Pairs come from :mod:`faceedit.train.embedding_pairs` (encoded real training faces and sampled W+ renders, each
with dlib descriptors; the held-out ``val`` identities of the data cache are never among them).  The loss is the
latent loss: mean squared error between the predicted and the paired W+ code in standardised coordinates
(:meth:`~faceedit.models.embedding_mapper.EmbeddingMapper.normalized`).  With ``cycle_weight > 0`` a cycle loss
is added: the predicted code is rendered by the generator and the render's descriptor, as read by the differentiable
:class:`~faceedit.models.descriptor_student.DescriptorStudent` (dlib's descriptor has no gradient), must match the
input descriptor (squared L2).  The cycle needs no paired code, so it also runs on the descriptors of the real
*photos* (the inputs users give), not only on those of renders.  The generator and the student stay frozen.

The loop follows the other trainers: a seeded batch order that depends only on the step (so ``--resume`` from
``checkpoint.pt`` continues exactly), a wall-clock budget (``minutes``), a progress bar, ``log.csv`` /
``log.jsonl`` rows every ``log_every`` steps (training and held-out-pair latent loss), and the final model
``embedding_mapper.safetensors`` + ``.json`` (with how it was made in ``meta``).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import ConfigError, InvalidInput

TARGETS = ("render", "photo", "both")
MODEL_NAME = "embedding_mapper.safetensors"


@dataclass
class MapperSettings:
    """One training run of the mapper."""

    pairs: str  # folder of the pair chunks (embedding_pairs.build_pairs)
    out: str  # run folder
    target: str = "render"  # descriptor of real pairs: of the render of the code, of the photo, or both
    use_samples: bool = True
    max_real: int = 0  # use at most this many real / sampled pairs (0: all there are)
    max_samples: int = 0
    steps: int = 5000
    minutes: float = 0.0  # wall-clock budget (0: none)
    batch: int = 256
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 512
    depth: int = 3
    dropout: float = 0.2
    desc_noise: float = 0.0  # Gaussian noise on the standardised input descriptor (augmentation)
    holdout: float = 0.05  # share of the pairs kept out of training for the held-out latent loss
    log_every: int = 250
    checkpoint_every: int = 2000
    seed: int = 0
    resume: bool = False
    threads: int | None = None
    device: str = "cpu"  # cpu or cuda[:N] (under torchrun: the rank's own, see faceedit.train.ddp)
    half: bool = True  # save the final weights as float16
    cycle_weight: float = 0.0  # weight of the cycle loss through the descriptor student (0: latent loss only)
    cycle_batch: int = 16  # descriptors rendered per step for the cycle loss
    cycle_rows: int = 0  # the cycle loss moves only the first this many W+ rows (0: all); the rest: latent loss only
    student: str | None = None  # descriptor student file of the cycle loss (None: the built-in one)
    generator: str | None = None  # generator the pairs were made for (None: the built-in one)
    init: str | None = None  # start from this mapper's weights and statistics (fine-tuning)
    cache: str | None = None  # data cache of the pairs (its sex labels train the sex readout; None: pairs.json's)
    spread_faces: int = 0  # training photos to calibrate the spread on at the end (0: none; see calibrate_spread)


def training_arrays(s: MapperSettings,
                    limits: dict[str, int] | None = None) -> tuple[np.ndarray, np.ndarray, dict[str, int]]:
    """``(descriptors (N, 128), codes (N, L, D), counts)`` of the run's pairs; ``limits`` (the counts a resumed
    run started with) keeps only the first pairs of each kind."""
    from .embedding_pairs import load_kind

    if s.target not in TARGETS:
        raise ConfigError(f"unknown target {s.target!r}; use one of {', '.join(TARGETS)}")
    real = load_kind(s.pairs, "real")
    samples = load_kind(s.pairs, "samples") if s.use_samples else {}
    counts = {"real": len(real.get("w", ())), "samples": len(samples.get("w", ()))}
    for kind, most in (("real", s.max_real), ("samples", s.max_samples)):
        counts[kind] = min(counts[kind], most) if most > 0 else counts[kind]
    if limits:
        counts = {k: min(counts[k], int(limits.get(k, 0))) for k in counts}
    if not counts["real"] and not counts["samples"]:
        raise ConfigError(f"{s.pairs}: no training pairs there yet (make them first)")
    descs, ws = [], []
    if counts["real"]:
        w = real["w"][:counts["real"]]
        if s.target in ("render", "both"):
            descs.append(real["render_desc"][:counts["real"]])
            ws.append(w)
        if s.target in ("photo", "both"):
            descs.append(real["photo_desc"][:counts["real"]])
            ws.append(w)
    if counts["samples"]:
        descs.append(samples["render_desc"][:counts["samples"]])
        ws.append(samples["w"][:counts["samples"]])
    return np.concatenate(descs).astype(np.float32), np.concatenate(ws).astype(np.float32), counts


def pairs_sex_readout(pairs: str, cache: str | None = None) -> dict | None:
    """The descriptor → P(female) readout of :func:`faceedit.embedding.match_sex`, fitted on the real pairs'
    *photo* descriptors and the data cache's sex labels (training split only; ``cache`` None: the one recorded
    in ``pairs.json``); None when there are no real pairs or no cache."""
    from ..edit.builder import training_subset
    from ..embedding import fit_sex_readout
    from ..io import load_json
    from .data import load_cache
    from .embedding_pairs import load_kind

    made = Path(pairs) / "pairs.json"
    cache = cache or (load_json(made).get("cache") if made.is_file() else None)
    real = load_kind(pairs, "real")
    if not cache or not Path(cache).is_file() or not real or "photo_desc" not in real:
        return None
    female = training_subset(load_cache(cache)).gender[real["index"]]
    try:
        readout = fit_sex_readout(real["photo_desc"], female)
    except InvalidInput:  # too few labelled photos (or one sex only)
        return None
    return {**readout, "labels": "data cache gender (CelebA Male, UTKFace)"}


def cycle_descriptors(s: MapperSettings, counts: dict[str, int], train_desc: np.ndarray) -> np.ndarray:
    """Inputs of the cycle loss: the training descriptors plus the real photos' descriptors (no code needed)."""
    from .embedding_pairs import load_kind

    real = load_kind(s.pairs, "real") if counts["real"] else {}
    extra = [real["photo_desc"][:counts["real"]]] if s.target == "render" and "photo_desc" in real else []
    return np.concatenate([train_desc] + extra).astype(np.float32)


def _cycle_models(s: MapperSettings, model: object) -> tuple[object, object]:
    """The frozen generator and descriptor student of the cycle loss, checked against the mapper's W+ shape."""
    from ..models.checkpoints import load_generator
    from ..models.descriptor_student import load_descriptor_student

    G = load_generator(s.generator)  # None: the built-in one
    if (G.n_latent, G.style_dim) != (model.n_latent, model.style_dim):
        raise ConfigError(f"the generator's W+ is {(G.n_latent, G.style_dim)}, the pairs' "
                          f"{(model.n_latent, model.style_dim)}: give the generator the pairs were made for")
    S = load_descriptor_student(s.student)
    for net in (G, S):
        net.eval().requires_grad_(False)
        net.to(s.device)
    return G, S


def train_embedding_mapper(s: MapperSettings, progress: bool = True,
                           log: Callable[[str], None] | None = None) -> Path:
    """Train (or resume) a mapper into ``s.out``; returns the path of the final model file."""
    import torch

    from ..io import load_json
    from ..models._files import save_model_file
    from ..models.embedding_mapper import KIND, EmbeddingMapper
    from .loop import SmallRun, run_steps, seed_everything

    run = SmallRun(s.out, s.resume, s.threads)
    out, world, ckpt = run.out, run.world, run.checkpoint_data
    desc, w, counts = training_arrays(s, ckpt["config"]["counts"] if ckpt else None)
    n = len(desc)
    order = np.random.default_rng(s.seed).permutation(n)
    n_hold = int(round(s.holdout * n))
    hold, train = order[:n_hold], order[n_hold:]
    seed_everything(s.seed)
    model = EmbeddingMapper(w.shape[1], w.shape[2], desc.shape[1], s.hidden, s.depth, s.dropout)
    model.set_statistics(torch.from_numpy(desc[train]), torch.from_numpy(w[train]))
    if s.init:
        from ..models.embedding_mapper import load_embedding_mapper

        model.load_state_dict(load_embedding_mapper(s.init).float().state_dict())
    model = model.to(s.device)
    if s.cycle_weight > 0:
        G, student = _cycle_models(s, model)
        cycle_t = torch.from_numpy(cycle_descriptors(s, counts, desc[train])).to(s.device)
    opt = torch.optim.AdamW(model.parameters(), lr=s.lr, weight_decay=s.weight_decay)
    config = {**asdict(s), "counts": counts}
    start, logger = run.start(s.seed, model=model, opt=opt)
    desc_t, w_t = torch.from_numpy(desc).to(s.device), torch.from_numpy(w).to(s.device)
    w_norm = (w_t - model.w_mean) / model.w_std

    def held_out_loss() -> float:
        if not n_hold:
            return float("nan")
        model.eval()
        with torch.no_grad():
            loss = torch.nn.functional.mse_loss(model.normalized(desc_t[hold]), w_norm[hold]).item()
        model.train()
        return loss

    def step_fn(step: int) -> dict[str, float]:
        idx = train[world.mine(np.random.default_rng((s.seed, step)).integers(0, len(train), s.batch * world.size))]
        x = desc_t[idx]
        if s.desc_noise:
            x = x + s.desc_noise * model.desc_std * torch.randn_like(x)
        latent = torch.nn.functional.mse_loss(model.normalized(x), w_norm[idx])
        row = {"latent_loss": latent.item()}
        loss = latent
        if s.cycle_weight > 0:
            pick = world.mine(np.random.default_rng((s.seed, step, 1)).integers(0, len(cycle_t),
                                                                                s.cycle_batch * world.size))
            target = cycle_t[pick]
            w_pred = model(target)
            if s.cycle_rows:  # the finer rows (colour, texture) get no gradient from the student
                w_pred = torch.cat([w_pred[:, :s.cycle_rows], w_pred[:, s.cycle_rows:].detach()], 1)
            cycle = (student(G.synthesis(w_pred)) - target).pow(2).sum(1).mean()
            loss = loss + s.cycle_weight * cycle
            row["cycle_loss"] = cycle.item()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return row

    model.train()
    done, out_of_time = run_steps(start, s.steps, step_fn, logger, run.checkpoint(config), s.minutes, s.log_every,
                                  s.checkpoint_every, opt, s.lr,
                                  lambda: {"held_out_latent_loss": held_out_loss()}, "embedding mapper", progress)
    if not world.main:
        return out / MODEL_NAME
    if out_of_time:
        (log or print)(f"time budget of {s.minutes} min reached at step {done}; continue with --resume")
    model.eval()
    made = Path(s.pairs) / "pairs.json"
    pairs_info = load_json(made) if made.is_file() else {}
    meta = {"trained_steps": done, "generator_model_id": pairs_info.get("generator_model_id"),
            "data_cache": pairs_info.get("cache"), "pairs": counts, "target": s.target, "use_samples": s.use_samples,
            "held_out_latent_loss": held_out_loss(), "settings": asdict(s),
            "loss": "latent MSE" + (f" + {s.cycle_weight} x cycle (descriptor student of the render)"
                                    if s.cycle_weight > 0 else ""),
            "embedding": "dlib 128-d face descriptor, faceedit.faces.identity.descriptor (FFHQ-aligned face)"}
    readout = pairs_sex_readout(s.pairs, s.cache)
    if readout is not None:
        meta["sex_readout"] = readout
    elif log is not None or progress:
        (log or print)("no sex readout (no real pairs or no data cache): from-embedding will not match sex")
    path = save_model_file(model.cpu(), out / MODEL_NAME, KIND, meta, half=s.half)
    photos = training_photo_descriptors(s.pairs, s.spread_faces)
    if photos is not None:
        from ..models.checkpoints import load_generator
        from ..models.embedding_mapper import load_embedding_mapper

        cal = calibrate_spread(photos, load_generator(s.generator).eval(), load_embedding_mapper(path))
        save_spread(path, cal)
        if log is not None or progress:
            (log or print)(f"spread {cal.spread:g} (calibrated on {len(photos)} training photos)")
    return path


#: the least share of generated faces dlib must still find for a spread to be chosen (real 64 px crops: 96.8 %)
SPREAD_MIN_DETECTION = 0.95


@dataclass
class SpreadCalibration:
    """The chosen spread and, per spread tried, the dlib distances and detection rate of the generated faces."""

    spread: float
    table: dict


def training_photo_descriptors(pairs: str, n: int) -> np.ndarray | None:
    """The first ``n`` photo descriptors of the real (training) pairs in ``pairs``; None if none or ``n`` is 0."""
    from .embedding_pairs import load_kind

    real = load_kind(pairs, "real") if n > 0 else None
    if not real or "photo_desc" not in real or not len(real["photo_desc"]):
        return None
    return np.asarray(real["photo_desc"][:n], np.float32)


def calibrate_spread(photo_desc: np.ndarray, generator: object, mapper: object,
                     candidates: tuple[float, ...] | None = None,
                     min_detection: float = SPREAD_MIN_DETECTION) -> SpreadCalibration:
    """Choose how far to move the mapper's codes from its mean code (:func:`faceedit.embedding.map_embeddings`):
    for each candidate spread, render the codes of training ``photo_desc`` and read them with dlib; the spread
    with the smallest median descriptor distance among those whose faces dlib still finds in ``min_detection``
    of cases (1 when none does).  Training photos only: held-out faces and the independent recogniser that judge
    the mapper are never read here."""
    from ..embedding import SPREADS, check_models, map_embeddings
    from ..faces.identity import descriptors
    from ..measure.realism import detection_rate
    from ..synthesis import synthesize

    check_models(mapper, generator)
    table = {}
    for k in candidates or SPREADS:
        faces = synthesize(generator, map_embeddings(photo_desc, mapper, spread=k))
        dist = np.linalg.norm(descriptors(faces) - photo_desc, axis=1)
        table[float(k)] = {"median": float(np.median(dist)), "share_below_0.6": float(np.mean(dist < 0.6)),
                           "detection": float(detection_rate(faces))}
    fine = [k for k, row in table.items() if row["detection"] >= min_detection]
    best = min(fine, key=lambda k: table[k]["median"]) if fine else 1.0
    return SpreadCalibration(best, table)


def save_spread(mapper_file: str | Path, calibration: SpreadCalibration, adopt: bool = True) -> None:
    """Write the calibration table into the mapper's JSON sidecar (``meta``), atomically, and ``spread``: the
    chosen one, or 1 when ``adopt`` is false (measured only)."""
    from ..models._files import update_meta

    update_meta(mapper_file, {
        "spread": calibration.spread if adopt else 1.0,
        "spread_table": {str(k): v for k, v in calibration.table.items()},
        "spread_note": (f"smallest median dlib distance on training photos with dlib finding >= "
                        f"{SPREAD_MIN_DETECTION:.0%} of the faces: {calibration.spread:g} "
                        "(faceedit.train.embedding_mapper.calibrate_spread)"
                        + ("" if adopt else "; measured, not adopted (spread 1)"))})


#: cycle-loss weight of the mapper that ``rebuild-suite`` trains (through the student it trains first).  0: the
#: cycle loss was measured and not adopted — fine-tuning the shipped mapper 1500 steps with it (weight 1, or 0.3
#: on rows 0-5 only) lowers the dlib distance on 200 held-out photos (median 0.623 -> 0.581) but paints magenta
#: and green blotches that fool the student (dlib detects a face in 64 % of the faces instead of 90 %)
SUITE_CYCLE_WEIGHT = 0.0


def suite_stage(generator: str, cache: str, latents: str, out: str, n_pairs: int = 6000, minutes: float = 10.0,
                threads: int | None = None, student_minutes: float = 10.0,
                cycle_weight: float = SUITE_CYCLE_WEIGHT) -> tuple[Path, Path | None]:
    """The ``embedding-mapper`` stage of ``faceedit train rebuild-suite``: make ``n_pairs`` real and ``n_pairs``
    sampled pairs for ``generator`` (in ``out/embedding_pairs``, resumable), train the descriptor student on
    them for at most ``student_minutes`` (``out/descriptor_student_run``; 0: no student, and no cycle loss),
    then the mapper for at most ``minutes`` (``out/embedding_mapper_run``), with the cycle loss through that
    student when ``cycle_weight`` > 0 (default :data:`SUITE_CYCLE_WEIGHT`); interrupted runs resume.  Returns
    ``(mapper file, student file or None)``."""
    from .descriptor_student import StudentSettings, train_descriptor_student
    from .embedding_pairs import PairSettings, make_pairs

    root = Path(out)
    pairs = root / "embedding_pairs"
    make_pairs(PairSettings(out=str(pairs), n_real=n_pairs, n_samples=n_pairs, n_val=0), cache=cache,
               latents=latents, generator=generator, threads=threads)
    student = None
    if student_minutes > 0:
        run = root / "descriptor_student_run"
        student = train_descriptor_student(StudentSettings(
            pairs=str(pairs), cache=cache, out=str(run), generator=generator, minutes=student_minutes,
            resume=(run / "checkpoint.pt").is_file(), threads=threads))
    run = root / "embedding_mapper_run"
    mapper = train_embedding_mapper(MapperSettings(
        pairs=str(pairs), out=str(run), minutes=minutes, resume=(run / "checkpoint.pt").is_file(), threads=threads,
        cycle_weight=cycle_weight if student is not None else 0.0, student=str(student) if student else None,
        generator=generator, cache=cache))
    return mapper, student

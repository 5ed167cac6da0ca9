"""``faceedit train descriptor-student``: a differentiable imitation of dlib's descriptor for the refinement of
``faceedit from-embedding`` (:class:`~faceedit.models.descriptor_student.DescriptorStudent`).

Trained on the embedding mapper's pairs (:mod:`faceedit.train.embedding_pairs`): the real training photos with
their descriptors, and the renders of the encoded and sampled W+ codes with theirs (never a held-out
identity).  Loss: mean squared error of the descriptor; logged: the held-out pairs' median L2 error.  Same loop
conventions as the mapper's trainer (step-seeded batches, exact resume, wall-clock budget, log.csv).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError

MODEL_NAME = "descriptor_student.safetensors"


@dataclass
class StudentSettings:
    """One training run of the student."""

    pairs: str
    cache: str
    out: str
    generator: str | None = None
    steps: int = 6000
    minutes: float = 0.0
    batch: int = 64
    lr: float = 2e-3
    width: int = 16
    holdout: float = 0.05
    log_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0
    resume: bool = False
    threads: int | None = None
    device: str = "cpu"  # cpu or cuda[:N] (under torchrun: the rank's own, see faceedit.train.ddp)


def student_data(s: StudentSettings) -> tuple[np.ndarray, np.ndarray]:
    """``(images (N, S, S, 3) uint8, descriptors (N, 128))``: real photos, renders of their codes, renders of
    the sampled codes."""
    from ..models.checkpoints import load_generator
    from ..synthesis import synthesize
    from ..translation_builder import training_subset
    from .data import load_cache
    from .embedding_pairs import load_kind

    real, samples = load_kind(s.pairs, "real"), load_kind(s.pairs, "samples")
    if not real:
        raise DataError(f"{s.pairs}: no real pairs")
    G = load_generator(s.generator).eval()
    train = training_subset(load_cache(s.cache))
    images = [train.images[real["index"]], synthesize(G, real["w"])]
    descs = [real["photo_desc"], real["render_desc"]]
    if samples:
        images.append(synthesize(G, samples["w"]))
        descs.append(samples["render_desc"])
    return np.concatenate(images), np.concatenate(descs).astype(np.float32)


def train_descriptor_student(s: StudentSettings, progress: bool = True) -> Path:
    """Train (or resume) a student into ``s.out``; returns the final model file."""
    import torch

    from ..images import to_tensor
    from ..models._files import save_model_file
    from ..models.descriptor_student import KIND, DescriptorStudent
    from .ddp import current_world
    from .loop import (CHECKPOINT_NAME, MetricLog, load_checkpoint, restore_training_state, run_steps,
                       save_checkpoint, seed_everything, training_state)

    if s.threads:
        torch.set_num_threads(s.threads)
    out, world = Path(s.out), current_world()
    if world.main:
        out.mkdir(parents=True, exist_ok=True)
    images, desc = student_data(s)
    x_all, y_all = to_tensor(images), torch.from_numpy(desc)
    order = np.random.default_rng(s.seed).permutation(len(desc))
    n_hold = int(round(s.holdout * len(desc)))
    hold, train = order[:n_hold], order[n_hold:]
    seed_everything(s.seed)
    model = DescriptorStudent(images.shape[1], s.width).to(s.device)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    world.distribute({"model": model, "opt": opt})
    ckpt = load_checkpoint(out / CHECKPOINT_NAME) if s.resume else None
    start = restore_training_state(ckpt, model=model, opt=opt) if ckpt else 0
    if ckpt:
        world.restore_rng(ckpt)
    logger = MetricLog(out, resume_step=start if ckpt else None) if world.main else None
    config = {**asdict(s), "n": len(desc)}

    def held_out_error() -> float:
        model.eval()
        with torch.no_grad():
            err = torch.cat([(model(x_all[hold[i:i + 256]].to(s.device)).cpu() - y_all[hold[i:i + 256]]).norm(dim=1)
                             for i in range(0, n_hold, 256)])
        model.train()
        return float(err.median()) if n_hold else float("nan")

    def step_fn(step: int) -> dict[str, float]:
        rng = np.random.default_rng((s.seed, step))
        idx = train[world.mine(rng.integers(0, len(train), s.batch * world.size))]
        x = x_all[idx].flip(3) if rng.random() < 0.5 else x_all[idx]
        loss = (model(x.to(s.device)) - y_all[idx].to(s.device)).pow(2).sum(1).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item()}

    def checkpoint(done: int) -> None:
        rngs = world.rng_states()  # a collective: every rank takes part
        if world.main:
            save_checkpoint(out / CHECKPOINT_NAME, {**training_state(done, config, model=model, opt=opt), **rngs})

    model.train()
    done, _ = run_steps(start, s.steps, step_fn, logger, checkpoint, s.minutes, s.log_every, s.checkpoint_every,
                        opt, s.lr, lambda: {"held_out_median_l2": held_out_error()}, "descriptor student", progress)
    if not world.main:
        return out / MODEL_NAME
    model.eval()
    meta = {"trained_steps": done, "n_faces": len(desc), "held_out_median_l2": held_out_error(),
            "settings": asdict(s), "imitates": "faceedit.identity.descriptor (dlib 128-d) on 64 px aligned faces"}
    return save_model_file(model.cpu(), out / MODEL_NAME, KIND, meta)

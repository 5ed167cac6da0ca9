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
    from ..edit.builder import training_subset
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
    from .loop import SmallRun, run_steps, seed_everything

    run = SmallRun(s.out, s.resume, s.threads)
    out, world = run.out, run.world
    images, desc = student_data(s)
    x_all, y_all = to_tensor(images), torch.from_numpy(desc)
    order = np.random.default_rng(s.seed).permutation(len(desc))
    n_hold = int(round(s.holdout * len(desc)))
    hold, train = order[:n_hold], order[n_hold:]
    seed_everything(s.seed)
    model = DescriptorStudent(images.shape[1], s.width).to(s.device)
    opt = torch.optim.Adam(model.parameters(), lr=s.lr)
    start, logger = run.start(s.seed, model=model, opt=opt)
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

    model.train()
    done, _ = run_steps(start, s.steps, step_fn, logger, run.checkpoint(config), s.minutes, s.log_every, s.checkpoint_every,
                        opt, s.lr, lambda: {"held_out_median_l2": held_out_error()}, "descriptor student", progress)
    if not world.main:
        return out / MODEL_NAME
    model.eval()
    meta = {"trained_steps": done, "n_faces": len(desc), "held_out_median_l2": held_out_error(),
            "settings": asdict(s), "imitates": "faceedit.faces.identity.descriptor (dlib 128-d) on 64 px aligned faces"}
    return save_model_file(model.cpu(), out / MODEL_NAME, KIND, meta)

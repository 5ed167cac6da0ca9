"""An independent face recogniser (issue 22's second identity judge): metric learning on CelebA identities.

dlib's descriptor is the embedding mapper's input and the refinement's score, so it cannot be the only judge of
"does the generated face look like the person".  This recogniser shares nothing with it: a small
:class:`~faceedit.models.resnet.CompactResNet` trunk + a 128-d embedding on 32 px faces (a CPU budget), trained
with a cosine-margin softmax (CosFace) over the CelebA identities of the training split of a data cache (the
held-out ``val`` identities excluded), with flips and small shifts.  It never enters the mapper's training or
the refinement; ``benchmarks/embedding.py`` reads it (rank-1 of the true photo among 20 photos of the same sex).
Same loop conventions as the other trainers (step-seeded batches, exact resume, wall-clock budget, log.csv).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import DataError

KIND = "face_recognizer"
MODEL_NAME = "face_recognizer.safetensors"


class FaceRecognizer(nn.Module):
    """``forward(images (N, 3, S, S) in [-1, 1]) -> (N, dim)`` L2-normalised identity embeddings (input resized
    to ``input_size``)."""

    def __init__(self, input_size: int = 32, width: int = 16, blocks: tuple[int, ...] | list = (1, 1, 1),
                 dim: int = 128) -> None:
        super().__init__()
        from ..models.resnet import CompactResNet

        self.input_size, self.width, self.blocks, self.dim = input_size, width, tuple(blocks), dim
        self.trunk = CompactResNet(width, self.blocks)
        side = input_size // 2 ** len(self.blocks)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(self.trunk.out_channels * side * side, dim),
                                  nn.BatchNorm1d(dim))
        self.meta: dict[str, Any] = {}

    def config(self) -> dict[str, Any]:
        """Constructor arguments (saved in the model's JSON)."""
        return {"input_size": self.input_size, "width": self.width, "blocks": list(self.blocks), "dim": self.dim}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..models.encoder import resize_input

        return nn.functional.normalize(self.head(self.trunk(resize_input(x, self.input_size))), dim=1)

    def embed(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Embeddings ``(N, dim)`` of RGB uint8 aligned faces (the face and its mirror, averaged)."""
        from ..images import to_tensor

        self.eval()
        out = []
        with torch.no_grad():
            for i in range(0, len(images), batch_size):
                x = to_tensor(images[i:i + batch_size])
                out.append(nn.functional.normalize(self(x) + self(x.flip(3)), dim=1))
        return torch.cat(out).numpy()


def load_face_recognizer(path: str) -> FaceRecognizer:
    """Load a recogniser (``.safetensors`` + ``.json``) in eval mode."""
    from ..models._files import build_from_safetensors

    p = Path(path)
    return build_from_safetensors(p if p.suffix else p.with_suffix(".safetensors"), KIND,
                                  {"FaceRecognizer": FaceRecognizer})


@dataclass
class RecognizerSettings:
    """One training run of the recogniser."""

    cache: str
    out: str
    steps: int = 3000
    minutes: float = 0.0
    batch: int = 128
    lr: float = 2e-3
    width: int = 16
    input_size: int = 32
    scale: float = 24.0  # CosFace logit scale
    margin: float = 0.2  # CosFace margin
    log_every: int = 100
    checkpoint_every: int = 500
    seed: int = 0
    resume: bool = False
    threads: int | None = None
    device: str = "cpu"  # cpu or cuda[:N] (under torchrun: the rank's own, see faceedit.train.ddp)


def training_identities(data: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(row indices, class labels 0..K-1)`` of the CelebA training-split photos whose identity has at least
    two photos there (never a held-out identity)."""
    keep = (~data.val) & (data.source == "celeba") & (data.identity >= 0)
    ids, counts = np.unique(data.identity[keep], return_counts=True)
    rows = np.flatnonzero(keep & np.isin(data.identity, ids[counts >= 2]))
    if len(rows) == 0:
        raise DataError("no CelebA training identity with two photos in the cache")
    _, labels = np.unique(data.identity[rows], return_inverse=True)
    return rows, labels


def train_face_recognizer(s: RecognizerSettings, progress: bool = True) -> Path:
    """Train (or resume) a recogniser into ``s.out``; returns the final model file."""
    from ..images import to_tensor
    from ..models._files import save_model_file
    from .data import load_cache
    from .loop import SmallRun, run_steps, seed_everything

    run = SmallRun(s.out, s.resume, s.threads)
    out, world = run.out, run.world
    data = load_cache(s.cache)
    rows, labels = training_identities(data)
    x_all, y_all = to_tensor(data.images[rows], size=s.input_size), torch.from_numpy(labels)
    n_classes = int(labels.max()) + 1
    seed_everything(s.seed)
    model = FaceRecognizer(s.input_size, s.width).to(s.device)
    holder = nn.ParameterDict({"classes": nn.Parameter(torch.randn(n_classes, model.dim) * 0.01)}).to(s.device)
    opt = torch.optim.Adam([*model.parameters(), *holder.parameters()], lr=s.lr)
    start, logger = run.start(s.seed, model=model, opt=opt, classes=holder)
    config = {**asdict(s), "photos": len(rows), "identities": n_classes}
    def step_fn(step: int) -> dict[str, float]:
        rng = np.random.default_rng((s.seed, step))
        idx = world.mine(rng.integers(0, len(rows), s.batch * world.size))
        x = x_all[idx].flip(3) if rng.random() < 0.5 else x_all[idx]
        x = torch.roll(x, tuple(int(v) for v in rng.integers(-2, 3, 2)), (2, 3)).to(s.device)
        y = y_all[idx].to(s.device)
        cos = model(x) @ nn.functional.normalize(holder["classes"], dim=1).t()
        loss = nn.functional.cross_entropy(s.scale * (cos - s.margin * nn.functional.one_hot(y, n_classes)), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"loss": loss.item(), "train_acc": float((cos.argmax(1) == y).float().mean())}


    model.train()
    done, _ = run_steps(start, s.steps, step_fn, logger, run.checkpoint(config), s.minutes, s.log_every, s.checkpoint_every,
                        opt, s.lr, desc="face recogniser", progress=progress)
    if not world.main:
        return out / MODEL_NAME
    meta = {"trained_steps": done, "photos": len(rows), "identities": n_classes, "settings": asdict(s),
            "data": "CelebA training-split identities of the cache (held-out identities excluded)"}
    return save_model_file(model.cpu().eval(), out / MODEL_NAME, KIND, meta)


def rank1(recognizer: FaceRecognizer, probes: np.ndarray, photos: np.ndarray, female: np.ndarray,
          n_candidates: int = 20, seed: int = 0) -> float:
    """Share of probe faces (e.g. generated from photo ``i``'s descriptor) for which photo ``i`` ranks first
    (cosine) among ``n_candidates`` photos: it + others of the same sex (``female`` labels; a NaN label draws
    from everyone).  Chance is ``1 / n_candidates``."""
    g, p = recognizer.embed(probes), recognizer.embed(photos)
    rng = np.random.default_rng(seed)
    hits = []
    for i in range(len(g)):
        same = np.flatnonzero(female == female[i]) if np.isfinite(female[i]) else np.arange(len(p))
        others = rng.permutation(same[same != i])[:n_candidates - 1]
        if len(others) == n_candidates - 1:
            hits.append(int(np.argmax(p[np.r_[i, others]] @ g[i]) == 0))
    return float(np.mean(hits)) if hits else float("nan")

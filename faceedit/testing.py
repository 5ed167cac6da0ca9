"""Helpers for tests and benchmarks: the conformance fixtures and their SEEDED weights rule.

``../shared/conformance`` (beside the project root) holds reference outputs of the public model
implementations; its README defines how to build deterministic "seeded" weights from a key file so that
large models need no weight file.
"""
from __future__ import annotations

import math
import os
import re
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def shared_dir() -> Path:
    """``$FACEEDIT_SHARED`` or ``../shared`` beside the project root."""
    return Path(os.environ.get("FACEEDIT_SHARED", PROJECT_ROOT.parent / "shared"))


def conformance_dir() -> Path:
    """The folder of conformance fixtures."""
    return shared_dir() / "conformance"


def data_dir() -> Path:
    """The folder of face photo data (CelebA, UTKFace, wild)."""
    return shared_dir() / "data"


def benchmark_module(name: str):
    """``benchmarks/<name>.py`` loaded from its file, for tests of benchmark helpers (putting benchmarks/ on
    sys.path would let benchmarks/editor.py shadow the editor package)."""
    import importlib.util

    path = PROJECT_ROOT / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_KEY_LINE = re.compile(r"^(\S+)\s+\(([\d,\s]*)\)\s*$")


def read_key_file(path: str | os.PathLike) -> list[tuple[str, tuple[int, ...]]]:
    """Parse a ``key (shape)`` listing; lines starting with ``#`` are comments."""
    out = []
    for line in Path(path).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        m = _KEY_LINE.match(line.strip())
        if not m:
            raise ValueError(f"{path}: cannot parse line {line!r}")
        shape = tuple(int(s) for s in m.group(2).replace(" ", "").split(",") if s)
        out.append((m.group(1), shape))
    return out


def seeded_tensor(key: str, shape: tuple[int, ...], index: int) -> torch.Tensor:
    """The conformance README's SEEDED rule for one key (index counts key lines from 0)."""
    g = torch.Generator().manual_seed(index)
    if key.endswith("num_batches_tracked"):
        return torch.zeros(shape, dtype=torch.long)
    if key.endswith("running_var"):
        return 0.5 + torch.rand(shape, generator=g)
    if key.endswith("running_mean") or key.endswith(".bias"):
        return 0.1 * torch.randn(shape, generator=g)
    if len(shape) == 1:
        return 1 + 0.1 * torch.randn(shape, generator=g)
    return torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))


def seeded_state_dict(key_file: str | os.PathLike) -> dict[str, torch.Tensor]:
    """Build the SEEDED state dict of a key file, in file order."""
    return {k: seeded_tensor(k, s, i) for i, (k, s) in enumerate(read_key_file(key_file))}


def seeded_state_dict_like(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The SEEDED rule applied to ``model``'s own keys and shapes, in state-dict order (a meta-device model
    will do: only the shapes are read)."""
    return {k: seeded_tensor(k, tuple(v.shape), i) for i, (k, v) in enumerate(model.state_dict().items())}


def synthetic_label_cache(path: str | os.PathLike, n: int = 480, size: int = 16, seed: int = 0):
    """A FaceData cache (saved at ``path`` and returned) whose CelebA / UTKFace-style labels are drawn into
    the images as fixed patterns: directions fitted on its encoded faces have something to find (tests)."""
    import numpy as np

    from .train.data import CELEBA_ATTRIBUTES, FaceData

    rng = np.random.default_rng(seed)
    attrs = (rng.random((n, 40)) < 0.4).astype(np.float32)
    hair = rng.integers(0, 5, n)  # 4 = bald
    for v, name in enumerate(["Black_Hair", "Blond_Hair", "Brown_Hair", "Gray_Hair"]):
        attrs[:, CELEBA_ATTRIBUTES.index(name)] = hair == v
    attrs[:, CELEBA_ATTRIBUTES.index("Bald")] = hair == 4
    wavy = attrs[:, CELEBA_ATTRIBUTES.index("Wavy_Hair")]
    attrs[:, CELEBA_ATTRIBUTES.index("Straight_Hair")] = np.where(hair == 4, 0, 1 - wavy)
    attrs[hair == 4, CELEBA_ATTRIBUTES.index("Wavy_Hair")] = 0
    age = rng.uniform(18, 80, n).astype(np.float32)
    race = rng.choice([0, 1, 3], n)
    female = 1 - attrs[:, CELEBA_ATTRIBUTES.index("Male")]
    features = np.concatenate([attrs, ((age - 50) / 30)[:, None], female[:, None], (race == 1)[:, None],
                               (race == 3)[:, None]], axis=1)
    patterns = rng.normal(size=(features.shape[1], size, size, 3))
    img = 127 + 20 * rng.normal(size=(n, size, size, 3)) + 25 * np.einsum("nk,khwc->nhwc", features, patterns)
    data = FaceData(images=np.clip(img, 0, 255).astype(np.uint8), attrs=attrs, age=age, gender=female,
                    race=race.astype(np.int64), identity=np.arange(n), source=np.array(["celeba"] * n),
                    val=np.arange(n) % 8 == 0, names=np.array([f"{i}.png" for i in range(n)]))
    data.save(path)
    return data


def celeba_crops_data(n: int, held_out: int = 0, size: int = 64):
    """A :class:`~faceedit.train.data.FaceData` of the first ``n`` alignable CelebA photos of the shared data,
    FFHQ-aligned at ``size`` px like the training cache (one identity per row, zero attribute labels), the last
    ``held_out`` rows marked held out; None when the shared data is missing."""
    import numpy as np

    from .train.data import FaceData, align_record

    folder = data_dir() / "celeba" / "img_89x109"
    if not folder.is_dir():
        return None
    crops = []
    for f in sorted(folder.iterdir()):
        if len(crops) >= n:
            break
        if f.suffix == ".jpg" and (c := align_record(f, "celeba", size)) is not None:
            crops.append(c)
    k = len(crops)
    nan = np.full(k, np.nan, np.float32)
    return FaceData(images=np.stack(crops), attrs=np.zeros((k, 40), np.float32), age=nan, gender=nan.copy(),
                    race=np.full(k, -1), identity=np.arange(k), source=np.array(["celeba"] * k),
                    val=np.arange(k) >= k - held_out, names=np.array([f"{i}.jpg" for i in range(k)]))

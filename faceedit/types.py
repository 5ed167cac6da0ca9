"""The few types that travel between the modules of faceedit."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInput, ModelMismatch


@dataclass
class Face:
    """An aligned face: RGB uint8 image ``(N, N, 3)``, the transform back to the source photo, landmarks.

    ``transform`` is the 3x3 matrix mapping aligned-image pixel coordinates to source-photo pixel
    coordinates (see :mod:`faceedit.faces.alignment`); ``landmarks`` are the 68 dlib points in source-photo
    coordinates; ``source`` the photo's path when it came from a file.
    """

    image: np.ndarray
    transform: np.ndarray | None = None
    landmarks: np.ndarray | None = None
    source: Path | None = None
    source_size: tuple[int, int] | None = None  # (width, height) of the source photo
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class Latent:
    """A W+ code ``(n_latent, style_dim)`` float32 and the id of the model it belongs to."""

    w: np.ndarray
    model_id: str

    def __post_init__(self) -> None:
        self.w = np.asarray(self.w, dtype=np.float32)
        if self.w.ndim != 2:
            raise InvalidInput(f"a W+ latent must be (n_latent, style_dim); got shape {self.w.shape}")

    def check_model(self, model_id: str) -> None:
        """Refuse to use this latent with another model."""
        if model_id != self.model_id:
            raise ModelMismatch(f"latent belongs to model {self.model_id!r}, not {model_id!r}")

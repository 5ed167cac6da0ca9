"""faceedit: edit faces in the latent space of a StyleGAN2 generator.

The public API is re-exported here lazily (nothing is imported, loaded or downloaded at import time)::

    import faceedit
    G = faceedit.load_generator()            # the built-in default model
    face = faceedit.align("photo.jpg")[0]     # detect + FFHQ-align
    latent = faceedit.project(G, face.image)  # encoder, then optimisation
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "FaceEditError": "faceedit.errors",
    "NoFaceFound": "faceedit.errors",
    "CheckpointError": "faceedit.errors",
    "ModelMismatch": "faceedit.errors",
    "InvalidTranslationName": "faceedit.errors",
    "Face": "faceedit.types",
    "Latent": "faceedit.types",
    "load_image": "faceedit.images",
    "save_image": "faceedit.images",
    "load_config": "faceedit.config",
    "load_generator": "faceedit.models.checkpoints",
    "load_encoder": "faceedit.models.encoder",
    "align": "faceedit.faces.alignment",
    "paste_back": "faceedit.compose.paste",
    "project": "faceedit.projection.project",
    "Translation": "faceedit.edit.translations",
    "Mixer": "faceedit.compose.mixups",
    "edit_photo": "faceedit.compose.photo_edit",
    "EditResult": "faceedit.compose.photo_edit",
    "PhotoEditor": "faceedit.compose.photo_edit",
    "read_photo": "faceedit.images",
    "write_photo": "faceedit.images",
    "blend": "faceedit.compose.mixups",
    "from_embedding": "faceedit.embedding",
    "from_map": "faceedit.maps.generate",
    "edit_with_map": "faceedit.maps.edit",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'faceedit' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__

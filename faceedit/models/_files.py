"""Interim readers/writers for model files used by the encoder and attribute predictor.

Our own format is ``NAME.safetensors`` (tensors) + ``NAME.json`` (architecture, config, metadata).  Torch
``.pt`` files (anycost-gan checkpoints) are read with ``weights_only=True``, so loading never executes
code from the file.  Every failure becomes a :class:`~faceedit.errors.CheckpointError` naming the file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError
from ..io import atomic_path, save_json

ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"


def save_safetensors_json(state_dict: dict[str, torch.Tensor], path: str | os.PathLike, info: dict[str, Any],
                          half: bool = False) -> Path:
    """Write ``path`` (``.safetensors``, optionally float16) and ``info`` as JSON beside it; return the path."""
    from safetensors.torch import save_file

    path = Path(path).with_suffix(".safetensors")
    tensors = {}
    for k, v in state_dict.items():
        v = v.detach().cpu()
        if half and v.is_floating_point():
            v = v.half()
        tensors[k] = v.contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp))
    save_json(path.with_suffix(".json"), info)
    return path


def load_safetensors_json(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``path`` (``.safetensors``) and its ``.json``; floats come back as float32."""
    from safetensors.torch import load_file

    path = Path(path)
    meta_path = path.with_suffix(".json")
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    if not meta_path.is_file():
        raise CheckpointError(f"{path}: the configuration file {meta_path.name} is missing beside it")
    try:
        info = json.loads(meta_path.read_text())
    except (OSError, ValueError) as e:
        raise CheckpointError(f"{meta_path}: unreadable JSON ({e})") from None
    try:
        state = load_file(str(path))
    except Exception as e:  # safetensors raises its own error types for corrupt headers/data
        raise CheckpointError(f"{path}: corrupt or truncated safetensors file ({e})") from None
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    return state, info


def load_torch_file(path: str | os.PathLike) -> Any:
    """Read a ``.pt``/``.pth`` file without executing code (``weights_only=True``)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle/zip errors, or objects that weights_only refuses
        raise CheckpointError(f"{path}: not a loadable PyTorch checkpoint ({type(e).__name__}: {e})") from None


def load_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], path: str | os.PathLike) -> None:
    """``model.load_state_dict(state, strict=True)`` with a CheckpointError naming the file on mismatch."""
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = str(e).strip().splitlines()
        raise CheckpointError(f"{path}: weights do not fit the model ({' '.join(first[:3])[:400]})") from None


def torch_state_dict(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """The state dict of a ``.pt`` file (``ckpt["state_dict"]`` or the file itself), ``module.`` prefixes
    stripped, floats as float32; CheckpointError when a ``required`` key is missing."""
    ckpt = load_torch_file(path)
    state = ckpt.get("state_dict", ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: no state_dict of tensors in this checkpoint")
    state = {k.removeprefix("module."): v.float() if v.is_floating_point() else v for k, v in state.items()}
    missing = [k for k in required if k not in state]
    if missing:
        raise CheckpointError(f"{path}: missing {', '.join(missing)} (not the expected kind of checkpoint)")
    return state


def build_from_safetensors(path: str | os.PathLike, kind: str,
                           architectures: dict[str, type[torch.nn.Module]]) -> torch.nn.Module:
    """Build the model a faceedit ``.safetensors`` + ``.json`` pair describes (``kind`` and ``architecture``
    checked), load its weights strictly, set ``model.meta`` from the JSON; return it in eval mode."""
    state, info = load_safetensors_json(path)
    arch = architectures.get(info.get("architecture"))
    if info.get("kind") != kind or arch is None:
        raise CheckpointError(f"{path}: not a {kind!r} model file (kind {info.get('kind')!r}, architecture "
                              f"{info.get('architecture')!r})")
    try:
        model = arch(**info.get("config", {}))
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: bad {kind} config ({e})") from None
    load_strict(model, state, path)
    model.meta = dict(info.get("meta", {}))
    return model.eval()


def update_meta(path: str | os.PathLike, entries: dict[str, Any]) -> None:
    """Merge ``entries`` into the ``meta`` of a model file's JSON sidecar, atomically (the weights untouched)."""
    from ..io import load_json

    side = Path(path).with_suffix(".json")
    info = load_json(side)
    info.setdefault("meta", {}).update(entries)
    save_json(side, info)


def save_model_file(model: torch.nn.Module, path: str | os.PathLike, kind: str, meta: dict[str, Any] | None,
                    half: bool = False) -> Path:
    """Save ``model`` (with ``config()`` and ``meta``) as ``.safetensors`` + ``.json`` of the given ``kind``."""
    info = {"kind": kind, "architecture": type(model).__name__, "config": model.config(),
            "meta": dict(meta if meta is not None else getattr(model, "meta", {}))}
    return save_safetensors_json(model.state_dict(), path, info, half=half)

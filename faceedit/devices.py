"""Where the models run: ``cpu`` (the default everywhere: results reproducible across machines), ``cuda``
(``cuda:N``), ``mps`` or ``auto`` (CUDA, then MPS, then the CPU).

One name reaches every model call (projection, renders, the editor's worker, ``faceedit edit``, the
pipeline); :func:`resolve_device` turns it into a :class:`torch.device` and refuses one that this
machine does not have, and :func:`describe_device` is what runs print and save with their results.
"""
from __future__ import annotations

from typing import Any

from .errors import ConfigError

DEVICES = ("cpu", "cuda", "mps", "auto")
DEFAULT_DEVICE = "cpu"


def check_device_name(name: str) -> str:
    """``name`` when it is one of :data:`DEVICES` or ``cuda:N``; else a :class:`ConfigError`."""
    name = str(name).strip().lower()
    if name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit()):
        return name
    raise ConfigError(f"unknown device {name!r}; use {', '.join(DEVICES)} or cuda:N")


def resolve_device(name: str = DEFAULT_DEVICE) -> Any:
    """The :class:`torch.device` of ``name`` (``auto``: CUDA, then MPS, then the CPU); a device this
    machine does not have is a :class:`ConfigError` (no silent fall-back to the CPU)."""
    import torch

    name = check_device_name(name)
    cuda = torch.cuda.is_available()
    mps = bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    if name == "auto":
        name = "cuda" if cuda else "mps" if mps else "cpu"
    if name.startswith("cuda"):
        if not cuda:
            raise ConfigError(f"device {name!r} requested but CUDA is not available on this machine")
        index = int(name[5:]) if ":" in name else 0
        if index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    if name == "mps" and not mps:
        raise ConfigError("device 'mps' requested but MPS (Apple GPU) is not available on this machine")
    return torch.device(name)


def describe_device(device: Any) -> str:
    """``cpu``, ``cuda:0 (NVIDIA H100 80GB HBM3)`` or ``mps``: the line runs print and save."""
    import torch

    device = torch.device(device)
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return f"cuda:{index} ({torch.cuda.get_device_name(index)})"
    return device.type


def module_device(module: Any) -> Any:
    """The device of a module's first parameter or buffer (the CPU for one without any)."""
    import torch

    for tensor in (*module.parameters(), *module.buffers()):
        return tensor.device
    return torch.device("cpu")


_NETWORK_DEVICE: dict[str, Any] = {"name": DEFAULT_DEVICE, "device": None}


def set_network_device(name: Any) -> None:
    """The device of the auxiliary networks that the mixups and the transfer run deep inside (the BiSeNet /
    ParseNet face parsers, DPT depth): set by whoever sets the run's device (the pipeline's engine and its
    post-processing workers, :class:`~faceedit.compose.photo_edit.PhotoEditor`, the editor's session), so that
    ``device`` reaches them without passing through every mixup call.  Resolved on first use."""
    _NETWORK_DEVICE.update(name=str(name), device=None)


def network_device() -> Any:
    """The :class:`torch.device` the auxiliary networks run on (see :func:`set_network_device`)."""
    if _NETWORK_DEVICE["device"] is None:
        _NETWORK_DEVICE["device"] = resolve_device(_NETWORK_DEVICE["name"])
    return _NETWORK_DEVICE["device"]

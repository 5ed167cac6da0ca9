"""Read, convert and write StyleGAN2 checkpoints; never executes code from a file.

Supported inputs (detected from the suffix, then the first bytes):

* our format: ``NAME.safetensors`` + ``NAME.json`` (``{"format": "faceedit", "kind", "config", "model_id"}``);
* anycost-gan / rosinality ``.pt``: ``{"g_ema": state_dict, ...}`` (rosinality also ``"d"`` and ``"args"``),
  or a bare state dict; read with ``torch.load(weights_only=True)``;
* NVlabs stylegan2-ada-pytorch / stylegan3 ``.pkl`` holding a StyleGAN2 ``G_ema``: read by a restricted
  unpickler that turns the persistent network classes into inert records (their embedded source code is
  never run), rebuilds tensors with torch's storage functions only, and refuses every other global.

Every failure is one :class:`~faceedit.errors.CheckpointError` line naming the file and what was expected;
models are built and strictly loaded before they are returned, so nothing half-loaded escapes.
"""
from __future__ import annotations

import argparse
import collections
import io
import math
import os
import pickle
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, FaceEditError
from . import weights
from ._files import ASSETS_DIR, load_safetensors_json, load_strict, load_torch_file, save_safetensors_json
from .stylegan2 import G_CHANNEL_CONFIG, Discriminator, Generator, channel_widths
from .upfirdn import make_kernel

GENERATOR = "stylegan2_generator"
DISCRIMINATOR = "stylegan2_discriminator"
_KIND_WORDS = {GENERATOR: "a StyleGAN2 generator", DISCRIMINATOR: "a StyleGAN2 discriminator"}


@dataclass
class Checkpoint:
    """A model read from a file, already in our key layout."""

    kind: str  # GENERATOR | DISCRIMINATOR
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    model_id: str
    source_format: str  # faceedit | anycost | rosinality | state-dict | nvlabs
    path: Path
    w_avg: torch.Tensor | None = None
    meta: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------- helpers
def _model_id_from_file(path: Path) -> str:
    return "sha256-" + weights.sha256_file(path)[:12]


def _infer_channels(widths: dict[int, int], resolution: int, path: Path, what: str) -> dict[str, Any]:
    """(channel_multiplier, channel_max) of the anycost formula that yields ``widths``."""
    channel_max = max(widths.values())
    ratio = widths[resolution] / G_CHANNEL_CONFIG[resolution]
    # when every width is capped several multipliers fit: prefer the whole number
    for mult in (math.ceil(ratio), ratio):
        if channel_widths(resolution, mult, channel_max) == widths:
            return {"channel_multiplier": mult, "channel_max": channel_max}
    raise CheckpointError(f"{path}: {what} channel widths {widths} do not follow the StyleGAN2 "
                          "config-f family (min(channel_max, base[res] * multiplier))")


def _count(state: dict, pattern: str) -> int:
    rx = re.compile(pattern)
    return sum(1 for k in state if rx.fullmatch(k))


def infer_generator_config(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Generator constructor arguments from the shapes of an anycost/rosinality state dict."""
    required = ("style.1.weight", "input.input", "conv1.conv.weight", "to_rgb1.conv.weight")
    if not all(k in state for k in required):
        if "convs.0.0.weight" in state or "final_linear.0.weight" in state:
            raise CheckpointError(f"{path}: this is a StyleGAN2 discriminator, expected a generator")
        missing = [k for k in required if k not in state]
        raise CheckpointError(f"{path}: not a StyleGAN2 generator state dict (missing {', '.join(missing)})")
    n_mlp = _count(state, r"style\.\d+\.weight")
    style_dim = state["style.1.weight"].shape[0]
    n_rgb = _count(state, r"to_rgbs\.\d+\.bias")
    resolution = 2 ** (n_rgb + 2)
    if resolution not in G_CHANNEL_CONFIG or resolution < 8:
        raise CheckpointError(f"{path}: unsupported generator resolution {resolution}")
    try:
        widths = {4: state["input.input"].shape[1]}
        widths.update({2 ** (i + 3): state[f"convs.{2 * i}.conv.weight"].shape[1] for i in range(n_rgb)})
    except KeyError as e:
        raise CheckpointError(f"{path}: incomplete StyleGAN2 generator state dict (missing {e})") from None
    return {"resolution": resolution, "style_dim": style_dim, "n_mlp": n_mlp,
            **_infer_channels(widths, resolution, path, "generator")}


def infer_discriminator_config(state: dict[str, torch.Tensor], path: Path) -> dict[str, Any]:
    """Discriminator constructor arguments from the shapes of a rosinality state dict."""
    if "convs.0.0.weight" not in state or "final_linear.0.weight" not in state:
        if "style.1.weight" in state:
            raise CheckpointError(f"{path}: this is a StyleGAN2 generator, expected a discriminator")
        raise CheckpointError(f"{path}: not a StyleGAN2 discriminator state dict")
    n_blocks = _count(state, r"convs\.\d+\.conv1\.0\.weight")
    resolution = 2 ** (n_blocks + 2)
    if resolution not in G_CHANNEL_CONFIG or resolution < 8:
        raise CheckpointError(f"{path}: unsupported discriminator resolution {resolution}")
    widths = {resolution: state["convs.0.0.weight"].shape[0]}
    widths.update({resolution >> (i + 1): state[f"convs.{i + 1}.conv2.1.weight"].shape[0]
                   for i in range(n_blocks)})
    return {"resolution": resolution, **_infer_channels(widths, resolution, path, "discriminator")}


# ------------------------------------------------------------------------------- NVlabs pickle reading
class _EasyDict(dict):
    """Stand-in for ``dnnlib.EasyDict``: a plain dict."""


class _Record:
    """Inert stand-in for any network/helper class of an NVlabs pickle: keeps its name, args and state."""

    qualname = "?"

    def __init__(self, *args: Any, **kwargs: Any):
        self.args, self.kwargs, self.state = args, kwargs, {}

    def __setstate__(self, state: Any) -> None:
        self.state = state

    def __repr__(self) -> str:
        return f"<record of {self.qualname}>"


@dataclass
class PersistentRecord:
    """What NVlabs ``torch_utils.persistence`` stored for one object: its class name and ``__dict__``.

    The ``module_src`` (Python source that the original loader would execute) is deliberately dropped.
    """

    class_name: str
    state: dict[str, Any]


def _reconstruct_persistent(meta: Any) -> PersistentRecord:
    if not isinstance(meta, dict) or meta.get("type") != "class" or not isinstance(meta.get("state"), dict):
        raise pickle.UnpicklingError("unexpected persistent object record")
    return PersistentRecord(str(meta.get("class_name")), meta["state"])


def _storage_from_bytes(data: bytes) -> Any:
    """Storages inside a plain pickle are small torch.save blobs: read them with weights_only=True."""
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


def _numpy_globals() -> dict[tuple[str, str], Any]:
    """numpy scalars/arrays (NVlabs layers keep gains such as ``1 / np.sqrt(fan_in)``): data-only constructors."""
    import numpy as np

    multiarray = getattr(np, "_core", None) or np.core
    out: dict[tuple[str, str], Any] = {("numpy", "dtype"): np.dtype, ("numpy", "ndarray"): np.ndarray}
    for mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
        out[(mod, "scalar")] = multiarray.multiarray.scalar
        out[(mod, "_reconstruct")] = multiarray.multiarray._reconstruct
    return out


_SAFE_GLOBALS = {
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): torch._utils._rebuild_parameter_with_state,
    ("torch.storage", "_load_from_bytes"): _storage_from_bytes,
    ("torch", "Size"): torch.Size,
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent,
    ("dnnlib.util", "EasyDict"): _EasyDict,
    ("dnnlib", "EasyDict"): _EasyDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("builtins", "slice"): slice,
    ("builtins", "complex"): complex,
}
# modules whose classes are data holders of the NVlabs training code: replaced by inert records
_RECORD_MODULES = ("training.", "torch_utils.", "dnnlib.")


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only the globals above (and inert records for NVlabs classes)."""

    def find_class(self, module: str, name: str) -> Any:
        fn = _SAFE_GLOBALS.get((module, name))
        if fn is None and module.startswith("numpy"):
            fn = _numpy_globals().get((module, name))
        if fn is not None:
            return fn
        if module.startswith(_RECORD_MODULES) and name.isidentifier() and name[0].isupper():
            return type(name, (_Record,), {"qualname": f"{module}.{name}"})
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("persistent ids are not used by NVlabs pickles")


def read_nvlabs_pickle(path: Path) -> dict[str, Any]:
    """Unpickle an NVlabs ``.pkl`` safely: a dict whose networks are :class:`PersistentRecord` trees."""
    try:
        with open(path, "rb") as f:
            data = _RestrictedUnpickler(f).load()
    except FaceEditError:
        raise
    except Exception as e:  # truncated, corrupt, or a refused global
        raise CheckpointError(f"{path}: not a loadable NVlabs network pickle ({type(e).__name__}: {e})") from None
    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: expected an NVlabs pickle dict with 'G_ema', got {type(data).__name__}")
    return data


def flatten_record(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """The state dict (parameters and persistent buffers) of a record tree, torch naming."""
    out: dict[str, torch.Tensor] = {}
    st = record.state
    skip = set(st.get("_non_persistent_buffers_set") or ())
    for key in ("_parameters", "_buffers"):
        for name, t in (st.get(key) or {}).items():
            if t is not None and not (key == "_buffers" and name in skip):
                out[prefix + name] = t.detach() if isinstance(t, torch.Tensor) else t
    for name, child in (st.get("_modules") or {}).items():
        if isinstance(child, PersistentRecord):
            out.update(flatten_record(child, f"{prefix}{name}."))
    return out


def _nvlabs_layers(log_size: int):
    """(NVlabs prefix, our conv prefix, noise index) of every synthesis layer, and ToRGB prefixes."""
    convs = [("synthesis.b4.conv1", "conv1", 0)]
    rgbs = [("synthesis.b4.torgb", "to_rgb1")]
    for s, i in enumerate(range(3, log_size + 1)):
        r = 2 ** i
        convs.append((f"synthesis.b{r}.conv0", f"convs.{2 * s}", 2 * s + 1))
        convs.append((f"synthesis.b{r}.conv1", f"convs.{2 * s + 1}", 2 * s + 2))
        rgbs.append((f"synthesis.b{r}.torgb", f"to_rgbs.{s}"))
    return convs, rgbs


def nvlabs_to_state_dict(nv: dict[str, torch.Tensor], path: Path) -> tuple[dict, dict, torch.Tensor | None]:
    """Convert an NVlabs StyleGAN2 ``G`` state dict to ours: ``(state_dict, config, w_avg)``.

    The layouts agree numerically (same equalised-lr conventions: weights stored ``/ lr_mul``, runtime
    gains, affine bias init 1, up-conv = transposed conv + [1,3,3,1] blur with the same padding), so the
    conversion is renaming and reshaping: ``mapping.fc{i}`` -> ``style.{i+1}``, ``b4.const`` ->
    ``input.input``, ``b{res}.conv0/conv1/torgb`` -> ``convs``/``to_rgbs``, ``affine`` -> ``modulation``,
    ``noise_strength`` -> ``noise.weight``, ``noise_const`` -> ``noises.noise_i``.
    """
    try:
        n_mlp = _count(nv, r"mapping\.fc\d+\.weight")
        style_dim = nv["mapping.fc0.weight"].shape[0]
        if nv["mapping.fc0.weight"].shape[1] != style_dim or any(k.startswith("mapping.embed") for k in nv):
            raise CheckpointError(f"{path}: conditional or z_dim != w_dim mapping networks are not supported")
        blocks = sorted(int(m.group(1)) for k in nv if (m := re.fullmatch(r"synthesis\.b(\d+)\.torgb\.weight", k)))
        resolution = blocks[-1]
        log_size = resolution.bit_length() - 1
        if blocks != [2 ** i for i in range(2, log_size + 1)]:
            raise CheckpointError(f"{path}: synthesis blocks {blocks} are not a StyleGAN2 skip generator")
        if any(".skip." in k for k in nv if k.startswith("synthesis.")):
            raise CheckpointError(f"{path}: a 'resnet' synthesis network is not supported (only 'skip')")
        sd: dict[str, torch.Tensor] = {}
        for i in range(n_mlp):
            sd[f"style.{i + 1}.weight"] = nv[f"mapping.fc{i}.weight"]
            sd[f"style.{i + 1}.bias"] = nv[f"mapping.fc{i}.bias"]
        sd["input.input"] = nv["synthesis.b4.const"][None]
        blur = make_kernel([1, 3, 3, 1])
        convs, rgbs = _nvlabs_layers(log_size)
        for src, dst, noise_index in convs:
            sd[f"{dst}.conv.weight"] = nv[f"{src}.weight"][None]
            sd[f"{dst}.conv.modulation.weight"] = nv[f"{src}.affine.weight"]
            sd[f"{dst}.conv.modulation.bias"] = nv[f"{src}.affine.bias"]
            sd[f"{dst}.noise.weight"] = nv[f"{src}.noise_strength"].reshape(1)
            sd[f"{dst}.activate.bias"] = nv[f"{src}.bias"]
            sd[f"noises.noise_{noise_index}"] = nv[f"{src}.noise_const"][None, None]
            f = nv.get(f"{src}.resample_filter")
            if f is not None and (f.shape != blur.shape or not torch.allclose(f.float(), blur)):
                raise CheckpointError(f"{path}: resample filter of {src} is not [1, 3, 3, 1]")
        for src, dst in rgbs:
            sd[f"{dst}.conv.weight"] = nv[f"{src}.weight"][None]
            sd[f"{dst}.conv.modulation.weight"] = nv[f"{src}.affine.weight"]
            sd[f"{dst}.conv.modulation.bias"] = nv[f"{src}.affine.bias"]
            sd[f"{dst}.bias"] = nv[f"{src}.bias"].view(1, -1, 1, 1)
    except KeyError as e:
        raise CheckpointError(f"{path}: NVlabs G_ema lacks {e}; expected a StyleGAN2 generator") from None
    # fixed FIR kernels are part of our state dict (buffers); they are the [1,3,3,1] ones
    for s in range(log_size - 2):
        sd[f"convs.{2 * s}.conv.blur.kernel"] = blur * 4
        sd[f"to_rgbs.{s}.upsample.kernel"] = blur * 4
    config = infer_generator_config(sd, path)
    config["n_mlp"] = n_mlp
    w_avg = nv.get("mapping.w_avg")
    return sd, config, w_avg


def state_dict_to_nvlabs(generator: Generator) -> dict[str, torch.Tensor]:
    """Our generator's weights in the NVlabs StyleGAN2 ``G`` layout (inverse of :func:`nvlabs_to_state_dict`)."""
    sd = {k: v.detach().clone() for k, v in generator.state_dict().items()}
    log_size = generator.resolution.bit_length() - 1
    nv: dict[str, torch.Tensor] = {}
    for i in range(generator.n_mlp):
        nv[f"mapping.fc{i}.weight"] = sd[f"style.{i + 1}.weight"]
        nv[f"mapping.fc{i}.bias"] = sd[f"style.{i + 1}.bias"]
    w_avg = generator.w_avg if generator.w_avg is not None else generator.mean_latent(1024)
    nv["mapping.w_avg"] = w_avg.reshape(-1).clone()
    nv["synthesis.b4.const"] = sd["input.input"][0]
    convs, rgbs = _nvlabs_layers(log_size)
    for dst, src, noise_index in convs:
        nv[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        nv[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        nv[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        nv[f"{dst}.noise_strength"] = sd[f"{src}.noise.weight"].reshape(())
        nv[f"{dst}.bias"] = sd[f"{src}.activate.bias"]
        nv[f"{dst}.noise_const"] = sd[f"noises.noise_{noise_index}"][0, 0]
        nv[f"{dst}.resample_filter"] = make_kernel([1, 3, 3, 1])
    for dst, src in rgbs:
        nv[f"{dst}.weight"] = sd[f"{src}.conv.weight"][0]
        nv[f"{dst}.affine.weight"] = sd[f"{src}.conv.modulation.weight"]
        nv[f"{dst}.affine.bias"] = sd[f"{src}.conv.modulation.bias"]
        nv[f"{dst}.bias"] = sd[f"{src}.bias"].reshape(-1)
    return nv


def _nvlabs_disc_map(resolution: int) -> list[tuple[str, str]]:
    """(NVlabs D key, our key) pairs of a StyleGAN2 'resnet' discriminator of ``resolution``."""
    pairs = [(f"b{resolution}.fromrgb.weight", "convs.0.0.weight"), (f"b{resolution}.fromrgb.bias", "convs.0.1.bias")]
    for j, res in enumerate(2 ** i for i in range(resolution.bit_length() - 1, 2, -1)):
        ours = f"convs.{j + 1}"
        pairs += [(f"b{res}.conv0.weight", f"{ours}.conv1.0.weight"), (f"b{res}.conv0.bias", f"{ours}.conv1.1.bias"),
                  (f"b{res}.conv1.weight", f"{ours}.conv2.1.weight"), (f"b{res}.conv1.bias", f"{ours}.conv2.2.bias"),
                  (f"b{res}.skip.weight", f"{ours}.skip.1.weight")]
    pairs += [("b4.conv.weight", "final_conv.0.weight"), ("b4.conv.bias", "final_conv.1.bias"),
              ("b4.fc.weight", "final_linear.0.weight"), ("b4.fc.bias", "final_linear.0.bias"),
              ("b4.out.weight", "final_linear.1.weight"), ("b4.out.bias", "final_linear.1.bias")]
    return pairs


def nvlabs_disc_to_state_dict(nv: dict[str, torch.Tensor], path: Path) -> tuple[dict, dict]:
    """Convert an NVlabs StyleGAN2 ``D`` ('resnet', unconditional) state dict to ours: ``(state_dict, config)``.

    Same conventions (runtime weight gain 1/sqrt(fan_in), [1,3,3,1] blur before stride-2 convs with the same
    padding, residual sum scaled by sqrt(1/2), minibatch-stddev with one feature), so only names change.
    """
    blocks = sorted(int(m.group(1)) for k in nv if (m := re.fullmatch(r"b(\d+)\.fromrgb\.weight", k)))
    if len(blocks) != 1 or any(k.startswith(("mapping.", "b4.cmap")) or ".cmap" in k for k in nv):
        raise CheckpointError(f"{path}: D is not an unconditional StyleGAN2 'resnet' discriminator")
    resolution = blocks[0]
    try:
        sd = {ours: nv[theirs] for theirs, ours in _nvlabs_disc_map(resolution)}
    except KeyError as e:
        raise CheckpointError(f"{path}: NVlabs D lacks {e}; expected a StyleGAN2 'resnet' discriminator") from None
    blur = make_kernel([1, 3, 3, 1])
    for j in range(resolution.bit_length() - 3):
        sd[f"convs.{j + 1}.conv2.0.kernel"] = blur.clone()
        sd[f"convs.{j + 1}.skip.0.kernel"] = blur.clone()
    return sd, infer_discriminator_config(sd, path)


def state_dict_to_nvlabs_disc(discriminator: Discriminator) -> dict[str, torch.Tensor]:
    """Our discriminator's weights in the NVlabs ``D`` layout (inverse of :func:`nvlabs_disc_to_state_dict`)."""
    sd = discriminator.state_dict()
    return {theirs: sd[ours].detach().clone() for theirs, ours in _nvlabs_disc_map(discriminator.resolution)}


def _read_nvlabs(path: Path, kind: str) -> Checkpoint:
    data = read_nvlabs_pickle(path)
    key = "G_ema" if kind == GENERATOR else "D"
    net = data.get(key)
    if not isinstance(net, PersistentRecord):
        raise CheckpointError(f"{path}: no StyleGAN2 {key!r} network in this pickle (keys: {sorted(data)[:8]})")
    nv = flatten_record(net)
    meta: dict[str, Any] = {"class": net.class_name}
    for layer in _walk_records(net):
        clamp = layer.state.get("conv_clamp")
        if clamp is not None:
            meta["conv_clamp"] = clamp
    if kind == GENERATOR:
        sd, config, w_avg = nvlabs_to_state_dict(nv, path)
        if "conv_clamp" in meta:
            config["conv_clamp"] = float(meta["conv_clamp"])
    else:
        if "conv_clamp" in meta:
            warnings.warn(f"{path}: D was trained with conv_clamp={meta['conv_clamp']}; its activations are "
                          "not clamped here", stacklevel=3)
        (sd, config), w_avg = nvlabs_disc_to_state_dict(nv, path), None
        mbstd = next((r.state for r in _walk_records(net) if r.class_name == "MinibatchStdLayer"), {})
        if int(mbstd.get("num_channels", 1)) != 1:
            raise CheckpointError(f"{path}: minibatch-stddev with {mbstd['num_channels']} channels is not supported")
        config["stddev_group"] = int(mbstd.get("group_size", 4))
    return Checkpoint(kind, sd, config, _model_id_from_file(path), "nvlabs", path, w_avg, meta)


def _walk_records(record: PersistentRecord):
    yield record
    for child in (record.state.get("_modules") or {}).values():
        if isinstance(child, PersistentRecord):
            yield from _walk_records(child)


# ------------------------------------------------------------------------------------- torch / ours
def _read_torch(path: Path, kind: str) -> Checkpoint:
    with torch.serialization.safe_globals([argparse.Namespace]):  # rosinality stores its argparse args
        obj = load_torch_file(path)
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path}: expected a checkpoint dict, got {type(obj).__name__}")
    if kind == GENERATOR:
        state, fmt = obj.get("g_ema"), ("rosinality" if "args" in obj else "anycost")
        if state is None and "state_dict" in obj and isinstance(obj["state_dict"], dict):
            state, fmt = obj["state_dict"], "state-dict"
    else:
        state, fmt = obj.get("d"), "rosinality"
    if state is None:
        if all(isinstance(v, torch.Tensor) for v in obj.values()):
            state, fmt = obj, "state-dict"
        else:
            want = "'g_ema'" if kind == GENERATOR else "'d'"
            raise CheckpointError(f"{path}: no {want} entry; expected {_KIND_WORDS[kind]} checkpoint "
                                  f"(keys: {sorted(map(str, obj))[:8]})")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointError(f"{path}: the network entry is not a state dict of tensors")
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    infer = infer_generator_config if kind == GENERATOR else infer_discriminator_config
    w_avg = obj.get("latent_avg") if isinstance(obj.get("latent_avg"), torch.Tensor) else None
    return Checkpoint(kind, state, infer(state, path), _model_id_from_file(path), fmt, path, w_avg)


def _read_ours(path: Path, kind: str) -> Checkpoint:
    state, info = load_safetensors_json(path)
    if info.get("kind") != kind:
        from .families import FAMILY_KINDS

        if info.get("kind") in FAMILY_KINDS:  # a model of another family: it has no W+ space to edit in
            raise CheckpointError(f"{path}: this is {FAMILY_KINDS[info['kind']][1]}, not {_KIND_WORDS[kind]}; "
                                  "only StyleGAN2 generators can be edited (open it with `faceedit runs`)")
        raise CheckpointError(f"{path}: holds {info.get('kind')!r}, expected {_KIND_WORDS[kind]}")
    config = info.get("config")
    if not isinstance(config, dict):
        raise CheckpointError(f"{path.with_suffix('.json')}: no 'config' object")
    w_avg = state.pop("w_avg", None)
    model_id = info.get("model_id") or _model_id_from_file(path)
    return Checkpoint(kind, state, config, str(model_id), "faceedit", path, w_avg, dict(info.get("meta") or {}))


def _sniff(path: Path) -> str:
    with open(path, "rb") as f:
        head = f.read(16)
    if head.startswith(b"PK\x03\x04"):
        return "torch"
    if len(head) >= 9 and head[8:9] == b"{":
        return "safetensors"
    if head[:1] == b"\x80":
        return "pickle"
    return "unknown"


def _resolve_path(path: Path) -> Path:
    """``NAME`` or ``NAME.json`` of our format -> ``NAME.safetensors``."""
    if path.suffix == ".json" or (not path.exists() and path.with_suffix(".safetensors").is_file()):
        return path.with_suffix(".safetensors")
    return path


def read_checkpoint(path: str | os.PathLike, kind: str = GENERATOR) -> Checkpoint:
    """Read a generator (or discriminator) file of any supported format into our layout.

    Raises CheckpointError naming the file for missing, corrupt, truncated, unsupported or wrong-model files.
    """
    if kind not in _KIND_WORDS:
        raise ValueError(f"kind must be {GENERATOR!r} or {DISCRIMINATOR!r}")
    path = _resolve_path(Path(path))
    if not path.is_file():
        raise CheckpointError(f"{path}: no such file")
    fmt = _sniff(path)  # by content, so a misnamed file is still read right
    if fmt == "safetensors":
        return _read_ours(path, kind)
    if fmt == "pickle":  # legacy torch.save files are pickles too, starting with torch's magic number
        return _read_torch(path, kind) if _is_legacy_torch(path) else _read_nvlabs(path, kind)
    if fmt == "torch":
        return _read_torch(path, kind)
    raise CheckpointError(f"{path}: unsupported file format; expected {_KIND_WORDS[kind]} as .safetensors+.json, "
                          "anycost/rosinality .pt or NVlabs .pkl")


class _NoGlobalsUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}")


def _is_legacy_torch(path: Path) -> bool:
    """Whether the file's first pickle is torch's legacy magic number (read without resolving any global)."""
    try:
        with open(path, "rb") as f:
            return _NoGlobalsUnpickler(f).load() == 0x1950A86A20F9469CFC6C
    except Exception:
        return False


# ------------------------------------------------------------------------------------- public loaders
def _locate(path_or_name: str | os.PathLike | None, default: str) -> Path:
    if path_or_name is None:
        path = ASSETS_DIR / f"{default}.safetensors"
        if not path.is_file():
            from ..errors import WeightsNotAvailable

            raise WeightsNotAvailable(
                f"no built-in default {default} ({path} is missing): train one with `faceedit train`, "
                f"place a converted model there (`faceedit convert IN {path}`), or pass a checkpoint path "
                f"or a registered name (`faceedit weights list`)")
        return path
    path = Path(path_or_name)
    if path.exists() or _resolve_path(path).is_file():
        return path
    if str(path_or_name) in weights.REGISTRY:
        return weights.cached_path(str(path_or_name))
    raise CheckpointError(f"{path}: no such file or registered model name (see `faceedit weights list`)")


def build_generator(ck: Checkpoint) -> Generator:
    """Construct a Generator from a checkpoint and load it strictly; sets ``model_id`` and ``w_avg``."""
    try:
        g = Generator(**ck.config, model_id=ck.model_id)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{ck.path}: bad generator config {ck.config} ({e})") from None
    load_strict(g, ck.state_dict, ck.path)
    if ck.w_avg is not None:
        g.w_avg = ck.w_avg.detach().float().reshape(1, -1).clone()
    return g.eval()


def build_discriminator(ck: Checkpoint) -> Discriminator:
    """Construct a Discriminator from a checkpoint and load it strictly."""
    try:
        d = Discriminator(**ck.config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{ck.path}: bad discriminator config {ck.config} ({e})") from None
    load_strict(d, ck.state_dict, ck.path)
    d.model_id = ck.model_id
    return d.eval()


def load_generator(path_or_name: str | os.PathLike | None = None) -> Generator:
    """Load a StyleGAN2 generator: None = the built-in default (``faceedit/assets/generator``), a registry
    name (from the weights cache; never downloads), or a file path of any supported format."""
    return build_generator(read_checkpoint(_locate(path_or_name, "generator"), GENERATOR))


def load_discriminator(path_or_name: str | os.PathLike | None = None) -> Discriminator:
    """Load a StyleGAN2 discriminator (default ``faceedit/assets/discriminator``; rosinality ``.pt`` "d")."""
    return build_discriminator(read_checkpoint(_locate(path_or_name, "discriminator"), DISCRIMINATOR))


def save_model(model: Generator | Discriminator, path: str | os.PathLike, model_id: str | None = None,
               meta: dict[str, Any] | None = None, half: bool = False) -> Path:
    """Write ``model`` as ``NAME.safetensors`` + ``NAME.json`` (config, kind, model_id, meta); return the path.

    ``model_id`` defaults to the model's own id.  ``half=True`` stores float16 (loads back as float32).
    """
    if isinstance(model, Generator):
        kind, state = GENERATOR, dict(model.state_dict())
        if model.w_avg is not None:
            state["w_avg"] = model.w_avg.reshape(-1)
    elif isinstance(model, Discriminator):
        kind, state = DISCRIMINATOR, dict(model.state_dict())
    else:
        raise TypeError(f"save_model takes a Generator or Discriminator, got {type(model).__name__}")
    mid = model_id or getattr(model, "model_id", None) or "unnamed"
    info = {"format": "faceedit", "kind": kind, "architecture": type(model).__name__, "config": model.config,
            "model_id": mid, "meta": meta or {}}
    return save_safetensors_json(state, Path(path), info, half=half)


def convert(src: str | os.PathLike, dst: str | os.PathLike, kind: str = GENERATOR,
            model_id: str | None = None, half: bool = False) -> Path:
    """Read any supported checkpoint (a path or registered name) and write it in our format.

    The model id of the source is kept unless ``model_id`` is given (so translations stay valid).
    """
    path = _locate(src, "generator" if kind == GENERATOR else "discriminator")
    ck = read_checkpoint(path, kind)
    model = build_generator(ck) if kind == GENERATOR else build_discriminator(ck)
    meta = {"converted_from": path.name, "source_format": ck.source_format, **ck.meta}
    return save_model(model, dst, model_id or ck.model_id, meta, half=half)

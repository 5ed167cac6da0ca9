"""Import translations and directions saved by other projects, and export ours in gan-face-editing's layout.

Sources (what each project saves; facts read from their repositories):

- ``gan-face-editing``: a folder of ``<name>.npy`` W+ deltas ``(1, 18, 512)`` named by the challenge
  convention, bald as ``Hc_4`` (``projection/default_translations/{unconditional,conditional}``: given the
  parent folder, unconditional is imported first, then conditional, which wins on a shared name).
- ``interfacegan``: boundary files ``.npy`` of shape ``(1, 512)``, unit length, in W or Z (the folder or file
  name says which: ``stylegan2_ffhq_w/boundary_Smiling.npy``, ``stylegan_ffhq_age_w_boundary.npy``).
- ``ganspace``: a component file ``.npz`` with ``lat_comp`` ``(n_comp, 1, 512)`` (unit rows), ``lat_mean``
  ``(1, 512)`` and ``lat_stdev`` ``(n_comp,)``; W when its name ends in ``_w`` (``use_w``), else Z.
- ``anycost``: anycost-gan's ``boundaries_<config>.pt``, a torch dict ``{"00_5_o_Clock_Shadow": (1, 512),
  ...}`` of CelebA-attribute directions in W, read with ``torch.load(weights_only=True)`` (no code runs).

Directions (the last three) become translations named ``{source}_{attribute}`` (or a challenge name given
with ``--as``), put on the chosen W+ rows, with a default strength that moves W by :data:`SIGMAS` standard
deviations of the generator's W along them (measured, written to the sidecar).  Every file is read and
checked before anything is written; the translations are written to a temporary folder and then moved into
the target folder, so a refused import leaves it as it was.
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInput, InvalidTranslationName, ModelMismatch
from .layouts import expected_shapes, load_array, read_rows, to_rows
from .naming import FILE_ALIASES, name_of_file, parse_name
from .translations import Translation, TranslationStore, layer_mask

FORMATS = ("auto", "gan-face-editing", "interfacegan", "ganspace", "anycost")
#: default strength of an imported direction, in standard deviations of W along it
SIGMAS = 3.0
#: W samples used to measure that standard deviation
SAMPLES = 2000
_OTHER_GENERATORS = {
    "interfacegan": "InterFaceGAN's published boundaries were computed on PGGAN / StyleGAN / StyleGAN2 "
                    "(CelebA-HQ, FFHQ)",
    "anycost": "anycost-gan's published directions were computed on its FFHQ 1024 generators",
}


@dataclass
class Direction:
    """One delta or direction read from a source, before it becomes a translation."""

    attribute: str  # the source's name: an attribute, a component "c3", or a translation name
    rows: np.ndarray  # as saved: checked and put in our layout by to_translations
    source: dict[str, Any] = field(default_factory=dict)

    @property
    def where(self) -> str:
        """The file (and entry) it came from, for messages."""
        entry = self.source.get("key", self.source.get("component"))
        return self.source["file"] + (f" [{entry}]" if entry is not None else "")


# ----------------------------------------------------------------------------------------------------
# reading the sources
# ----------------------------------------------------------------------------------------------------


def detect_format(src: Path) -> str:
    """The format of ``src`` (a file or folder) for ``--format auto``."""
    if src.is_dir():
        if (src / "unconditional").is_dir() or (src / "conditional").is_dir():
            return "gan-face-editing"
        files = sorted(src.glob("*.npy"))
        if not files:
            raise InvalidInput(f"{src}: no .npy files to import")
        rows = read_rows(files[0], "translation").shape[0]
        return "interfacegan" if rows == 1 else "gan-face-editing"
    suffix = src.suffix.lower()
    if suffix == ".npz":
        return "ganspace"
    if suffix in (".pt", ".pth"):
        return "anycost"
    if suffix == ".npy":
        return "interfacegan" if read_rows(src, "direction").shape[0] == 1 else "gan-face-editing"
    raise InvalidInput(f"{src}: cannot tell its format from the name; give --format "
                       f"({', '.join(FORMATS[1:])})")


def space_of(path: Path, given: str | None) -> str:
    """``"w"`` or ``"z"``: ``given`` (``--space``), else what the folder and file names say."""
    if given is not None:
        return given
    tokens = set(re.split(r"[^a-z0-9+]+", f"{path.parent.name}_{path.stem}".lower()))
    w, z = bool(tokens & {"w", "wp", "w+"}), bool(tokens & {"z", "pggan"})
    if w != z:
        return "w" if w else "z"
    raise InvalidInput(f"{path}: W and Z directions look alike and its name does not say which this is: "
                       "give --space w or --space z")


def _refuse_z(path: Path, space: str) -> None:
    if space == "z":
        raise InvalidInput(f"{path}: a Z-space direction cannot edit W+ codes (Z reaches W through the "
                           "non-linear mapping network); import a W direction")


def read_gan_face_editing(src: Path) -> list[Direction]:
    """Every ``.npy`` of a gan-face-editing folder (or of its unconditional then conditional subfolders)."""
    folders = [src / sub for sub in ("unconditional", "conditional") if (src / sub).is_dir()] or [src]
    files = [f for folder in folders for f in sorted(folder.glob("*.npy")) if not f.name.startswith(".")]
    if src.is_file():
        files = [src]
    if not files:
        raise InvalidInput(f"{src}: no .npy translations to import")
    out = []
    for f in files:
        name = name_of_file(f.stem)
        try:
            parse_name(name, allow_free=True)
        except InvalidTranslationName as e:
            raise InvalidInput(f"{f}: {e}") from None
        out.append(Direction(name, load_array(f, "translation"), {"format": "gan-face-editing", "file": str(f)}))
    return out


def read_interfacegan(src: Path, space: str | None) -> list[Direction]:
    """InterFaceGAN boundaries: one ``.npy`` or a folder of them (W only)."""
    files = sorted(src.glob("*.npy")) if src.is_dir() else [src]
    if not files:
        raise InvalidInput(f"{src}: no boundary .npy files")
    out = []
    for f in files:
        s = space_of(f, space)
        _refuse_z(f, s)
        rows = load_array(f, "direction")
        attribute = re.sub(r"(^boundary_|_boundary$)", "", f.stem)
        attribute = re.sub(r"_[wz]$", "", attribute)
        out.append(Direction(attribute, rows, {"format": "interfacegan", "file": str(f), "space": s}))
    return out


def read_ganspace(src: Path, space: str | None, components: str | None = None) -> list[Direction]:
    """GANSpace components (``lat_comp``) of a ``.npz``; ``components`` picks some, e.g. ``"0-9"``."""
    dump = re.search(r"_n\d+(_w)?(_seed\d+)?$", src.stem)  # GANSpace's cache name: "_w" when use_w
    s = space if space is not None or dump is None else ("w" if dump.group(1) else "z")
    s = space_of(src, s)
    _refuse_z(src, s)
    try:
        with np.load(src, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError) as e:
        raise InvalidInput(f"{src}: not a readable .npz ({e})") from None
    if "lat_comp" not in data:
        raise InvalidInput(f"{src}: not a GANSpace component file: it has no 'lat_comp' (keys: {sorted(data)})")
    comp = np.asarray(data["lat_comp"])
    if comp.ndim not in (2, 3):
        raise InvalidInput(f"{src}: lat_comp must be (n_comp, 1, style_dim), (n_comp, style_dim) or "
                           f"(n_comp, n_latent, style_dim); got {comp.shape}")
    stdev = data.get("lat_stdev")
    keep = np.flatnonzero(layer_mask(components, len(comp))) if components else range(len(comp))
    out = []
    for i in keep:
        info = {"format": "ganspace", "file": str(src), "component": int(i), "space": s}
        if stdev is not None and np.size(stdev) == len(comp):
            info["source_stdev"] = float(np.ravel(stdev)[i])
        out.append(Direction(f"c{int(i)}", comp[i], info))
    return out


def read_anycost(src: Path, space: str | None) -> list[Direction]:
    """anycost-gan's attribute directions: a torch dict ``{"NN_Attribute": tensor (1, 512)}``, no code run."""
    import pickle

    import torch

    s = space if space is not None else "w"  # anycost-gan extracts its published directions in W
    _refuse_z(src, s)
    try:
        data = torch.load(src, map_location="cpu", weights_only=True)
    except (OSError, RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise InvalidInput(f"{src}: not a readable torch file of tensors ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict) or not data:
        raise InvalidInput(f"{src}: an anycost-gan direction file is a dict attribute -> tensor; got "
                           f"{type(data).__name__}")
    out = []
    for key, value in data.items():
        if not isinstance(value, torch.Tensor):
            raise InvalidInput(f"{src}: {key!r} is a {type(value).__name__}, not a tensor")
        attribute = re.sub(r"^\d+_", "", str(key))
        rows = value.detach().float().numpy()
        out.append(Direction(attribute, rows, {"format": "anycost", "file": str(src), "key": str(key), "space": s}))
    return out


def read_source(src: str | os.PathLike, fmt: str = "auto", space: str | None = None,
                components: str | None = None) -> tuple[str, list[Direction]]:
    """``(format, directions)`` of ``src``; raises :class:`InvalidInput` naming the file on any problem."""
    src = Path(src)
    if not src.exists():
        raise InvalidInput(f"{src}: no such file or folder")
    if fmt not in FORMATS:
        raise InvalidInput(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if space not in (None, "w", "z"):
        raise InvalidInput(f"--space must be w or z; got {space!r}")
    fmt = detect_format(src) if fmt == "auto" else fmt
    if components and fmt != "ganspace":
        raise InvalidInput("--components picks GANSpace components; this source is " + fmt)
    if fmt == "gan-face-editing":
        return fmt, read_gan_face_editing(src)
    if fmt == "interfacegan":
        return fmt, read_interfacegan(src, space)
    if fmt == "ganspace":
        return fmt, read_ganspace(src, space, components)
    return fmt, read_anycost(src, space)


# ----------------------------------------------------------------------------------------------------
# directions -> translations
# ----------------------------------------------------------------------------------------------------


def parse_renames(specs: Sequence[str], attributes: Sequence[str]) -> dict[str, tuple[str, float]]:
    """``--as [ATTRIBUTE=][-]NAME`` options -> ``{attribute: (challenge name, sign)}``.

    Without ``ATTRIBUTE=`` the source must hold exactly one direction; ``-`` before the name negates it
    (``--as Bags_Under_Eyes=-Be_min``)."""
    out: dict[str, tuple[str, float]] = {}
    for spec in specs:
        attribute, _, name = spec.rpartition("=")
        if not attribute:
            if len(attributes) != 1:
                raise InvalidInput(f"--as {spec}: the source has {len(attributes)} directions; say which one "
                                   f"with ATTRIBUTE=NAME (attributes: {', '.join(attributes[:12])}"
                                   f"{', ...' if len(attributes) > 12 else ''})")
            attribute = attributes[0]
        if attribute not in attributes:
            raise InvalidInput(f"--as {spec}: no direction {attribute!r} in the source "
                               f"(attributes: {', '.join(attributes[:12])}{', ...' if len(attributes) > 12 else ''})")
        sign = -1.0 if name.startswith("-") else 1.0
        name = name.lstrip("-")
        parse_name(name)  # a challenge name (raises InvalidTranslationName naming the rule)
        out[attribute] = (name, sign)
    return out


def w_std_along(generator: Any, direction: np.ndarray, samples: int = SAMPLES, seed: int = 0) -> float | np.ndarray:
    """The standard deviation of the generator's W along a unit ``direction`` ``(style_dim,)``, or along each
    row of ``(k, style_dim)`` (one set of W samples for all of them)."""
    from .directions import sample_w

    w = sample_w(generator, samples, seed)
    direction = np.asarray(direction)
    return float(np.std(w @ direction)) if direction.ndim == 1 else np.std(w @ direction.T, axis=0)


def _free_name(fmt: str, attribute: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_.-]+", "_", attribute).strip("_.-") or "direction"
    return f"{fmt.replace('-', '_')}_{clean}"


def to_translations(fmt: str, directions: Sequence[Direction], generator: Any, model_id: str,
                    layers: str | None = None, renames: Sequence[str] = (), sigmas: float = SIGMAS,
                    samples: int = SAMPLES) -> list[Translation]:
    """Our translations of what :func:`read_source` read, checked against the generator's W+ shape."""
    shape = (int(generator.n_latent), int(generator.style_dim))
    if fmt == "gan-face-editing":
        if layers or renames:
            raise InvalidInput("--layers and --as apply to directions; gan-face-editing translations keep "
                               "their names and rows")
        out: dict[str, Translation] = {}
        for d in directions:  # a later file (the conditional folder) replaces an earlier one of the same name
            delta = to_rows(d.rows, d.where, "translation", shape)
            meta = {"model_id": model_id, "method": "imported", "mode": "shift", "default_strength": 1.0,
                    "source": d.source, "created_by": "faceedit translations import"}
            out[d.attribute] = Translation(d.attribute, delta, meta)
        return list(out.values())
    if fmt in _OTHER_GENERATORS:
        warnings.warn(f"{_OTHER_GENERATORS[fmt]}, not {model_id!r}: on this generator they are directions of "
                      "the right size, not necessarily of the same attribute; check the edits (faceedit "
                      "directions evaluate) or compute directions on this generator", UserWarning, stacklevel=2)
    mapping = parse_renames(renames, [d.attribute for d in directions])
    mask = layer_mask(layers, shape[0])
    all_rows = [to_rows(d.rows, d.where, "direction", shape) for d in directions]
    norms = [float(np.linalg.norm(rows.mean(axis=0))) for rows in all_rows]
    for d, norm in zip(directions, norms):
        if norm == 0:
            raise InvalidInput(f"{d.where}: direction {d.attribute!r} is zero")
    units = np.stack([rows.mean(axis=0) / norm for rows, norm in zip(all_rows, norms)]) if directions else None
    stds = w_std_along(generator, units, samples) if directions else []  # one W sample set for every direction
    result = []
    for d, rows, norm, std in zip(directions, all_rows, norms, stds):
        name, sign = mapping.get(d.attribute, (_free_name(fmt, d.attribute), 1.0))
        std = float(std)
        meta = {"model_id": model_id, "method": "imported", "attribute": d.attribute, "mode": "shift",
                "default_strength": sigmas * std / norm, "w_std_along": std, "strength_sigmas": sigmas,
                "layers": None if mask.all() else np.flatnonzero(mask).tolist(), "source": d.source,
                "created_by": "faceedit translations import"}
        if fmt in _OTHER_GENERATORS:
            meta["source"] = {**d.source, "note": _OTHER_GENERATORS[fmt]}
        result.append(Translation(name, np.float32(sign) * rows * mask[:, None], meta))
    names = [t.name for t in result]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise InvalidInput(f"two imported directions would both be named {', '.join(twice)}")
    return result


# ----------------------------------------------------------------------------------------------------
# writing: all or nothing
# ----------------------------------------------------------------------------------------------------


def write_all(files: dict[str, np.ndarray | Translation], folder: str | os.PathLike) -> list[Path]:
    """Write translations (``.npy`` + sidecar) or bare arrays (``.npy``) into a temporary folder beside
    ``folder``, then move them in; nothing reaches ``folder`` when a write fails.  Returns the ``.npy`` paths."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.import.", dir=folder.parent))
    try:
        for stem, item in files.items():
            if isinstance(item, Translation):
                item.save(tmp)
            else:
                np.save(tmp / f"{stem}.npy", np.asarray(item, dtype=np.float32))
        folder.mkdir(parents=True, exist_ok=True)
        written = []
        for p in sorted(tmp.iterdir()):
            os.replace(p, folder / p.name)
            if p.suffix == ".npy":
                written.append(folder / p.name)
        return written
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def import_translations(src: str | os.PathLike, folder: str | os.PathLike, generator: Any,
                        fmt: str = "auto", model_id: str | None = None, space: str | None = None,
                        layers: str | None = None, components: str | None = None,
                        renames: Sequence[str] = (), sigmas: float = SIGMAS,
                        samples: int = SAMPLES) -> list[Translation]:
    """Import ``src`` into the translation folder ``folder`` of ``generator`` (all or nothing); returns the
    translations written."""
    model_id = model_id or str(generator.model_id)
    fmt, directions = read_source(src, fmt, space, components)
    translations = to_translations(fmt, directions, generator, model_id, layers, renames, sigmas, samples)
    store = TranslationStore(folder, model_id, (int(generator.n_latent), int(generator.style_dim)))
    for t in translations:
        t.check_model(store.model_id, store.shape)
    write_all({t.name: t for t in translations}, folder)
    return translations


def export_gan_face_editing(folder: str | os.PathLike, out: str | os.PathLike, model_id: str | None = None,
                            n_latent: int | None = None) -> tuple[list[Path], dict[str, str]]:
    """Write the challenge translations of ``folder`` as gan-face-editing reads them: ``<name>.npy`` of
    shape ``(1, n_latent, style_dim)``, the delta times its default strength, ``bald`` as ``Hc_4``, no
    sidecars.  Returns the files written and ``{name: why it was skipped}``."""
    store = TranslationStore(folder, model_id)
    skipped: dict[str, str] = {}
    arrays: dict[str, np.ndarray] = {}
    alias = {v: k for k, v in FILE_ALIASES.items()}
    loaded = {name: store.get(name) for name in store.names()}
    rows = n_latent or next((t.delta.shape[0] for t in loaded.values() if t.delta.shape[0] > 1), None)
    for name, t in loaded.items():
        if t.parsed.kind == "free":
            skipped[name] = "not a challenge name (gan-face-editing reads challenge names only)"
            continue
        if t.meta.get("mode", "shift") != "shift":
            skipped[name] = "a set-level translation (gan-face-editing only adds deltas)"
            continue
        delta = t.delta * np.float32(t.default_strength)
        if delta.shape[0] == 1:
            if rows is None:
                raise InvalidInput(f"{t.label} is one W row and the folder says nothing of the W+ rows: give "
                                   "--n-latent")
            delta = np.repeat(delta, rows, axis=0)
        elif rows is not None and delta.shape[0] != rows:
            raise ModelMismatch(f"{t.label} has {delta.shape[0]} rows, the export {rows}: it needs "
                                f"{expected_shapes((rows, delta.shape[1]))}")
        arrays[alias.get(name, name)] = delta[None]  # bald -> Hc_4
    if not arrays:
        raise InvalidInput(f"{store.folder}: no challenge translations to export")
    return write_all(arrays, out), skipped

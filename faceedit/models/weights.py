"""The registry of known pretrained model files and the local weights cache.

Nothing here runs at import time and nothing downloads implicitly: model loaders only *look up* the cached
file (:func:`cached_path`) and raise :class:`~faceedit.errors.WeightsNotAvailable` with instructions when it
is missing.  Files get into the cache with :func:`fetch` (download, progress bar, sha256 check, atomic
rename) or :func:`add` (a file downloaded by hand).  The cache is ``$FACEEDIT_HOME/weights`` (default
``~/.cache/faceedit/weights``).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from ..errors import CheckpointError, WeightsNotAvailable
from ..io import atomic_path

CHUNK = 1 << 20


@dataclass(frozen=True)
class WeightsEntry:
    """One known model file.

    ``sha256`` is the full digest when known, else ``None``; ``sha256_prefix`` is a known digest prefix
    (torch-hub style file names carry one) used when the full digest is unknown.  ``manual`` marks URLs
    that need a browser (e.g. Google Drive pages).
    """

    name: str
    filename: str
    url: str
    kind: str  # generator | discriminator | encoder | parsing | depth | lpips | backbone
    format: str  # nvlabs-pkl | anycost-pt | torch-state-dict | ...
    licence: str
    size: int | None = None  # bytes, when known
    sha256: str | None = None
    sha256_prefix: str | None = None
    manual: bool = False
    note: str = ""


REGISTRY: dict[str, WeightsEntry] = {e.name: e for e in [
    WeightsEntry(
        "stylegan2-ffhq-1024", "stylegan2-ffhq-1024x1024.pkl",
        "https://api.ngc.nvidia.com/v2/models/nvidia/research/stylegan2/versions/1/files/"
        "stylegan2-ffhq-1024x1024.pkl",
        "generator", "nvlabs-pkl", "NVIDIA Source Code License-NC (non-commercial research use only)",
        note="official StyleGAN2 config-f FFHQ 1024 (stylegan2-ada-pytorch release); G_ema is converted on load"),
    WeightsEntry(
        "anycost-ffhq-config-f", "generator_anycost-ffhq-config-f.pt",
        "https://hanlab.mit.edu/projects/anycost-gan/files/generator_anycost-ffhq-config-f.pt",
        "generator", "anycost-pt", "MIT (anycost-gan); trained on FFHQ (CC BY-NC-SA 4.0)",
        note="anycost-gan generator (supports channel-ratio previews); old host hanlab18.mit.edu"),
    WeightsEntry(
        "stylegan2-ffhq-config-f", "generator_stylegan2-ffhq-config-f.pt",
        "https://hanlab.mit.edu/projects/anycost-gan/files/generator_stylegan2-ffhq-config-f.pt",
        "generator", "anycost-pt", "NVIDIA Source Code License-NC (converted by anycost-gan, MIT)",
        note="the official FFHQ config-f weights in anycost/rosinality layout"),
    WeightsEntry(
        "anycost-encoder-ffhq-config-f", "encoder_anycost-ffhq-config-f.pt",
        "https://hanlab.mit.edu/projects/anycost-gan/files/encoder_anycost-ffhq-config-f.pt",
        "encoder", "anycost-pt", "MIT (anycost-gan)"),
    WeightsEntry(
        "anycost-attribute-predictor", "attribute_predictor.pt",
        "https://hanlab.mit.edu/projects/anycost-gan/files/attribute_predictor.pt",
        "attributes", "anycost-pt", "MIT (anycost-gan); trained on CelebA (non-commercial research)"),
    WeightsEntry(
        "face-parsing-bisenet", "79999_iter.pth",
        "https://drive.google.com/open?id=154JgKpzCPW82qINcVieuPH3fZ2e0P812",
        "parsing", "torch-state-dict", "MIT (zllrunning/face-parsing.PyTorch); trained on CelebAMask-HQ "
        "(non-commercial)", manual=True,
        note="BiSeNet, 19 CelebAMask-HQ classes; Google Drive link: download in a browser, then `weights add`"),
    WeightsEntry(
        "facexlib-parsenet", "parsing_parsenet.pth",
        "https://github.com/xinntao/facexlib/releases/download/v0.2.2/parsing_parsenet.pth",
        "parsing", "torch-state-dict", "MIT (xinntao/facexlib); ParseNet weights from GPEN/PSFRGAN, trained on "
        "CelebAMask-HQ (non-commercial research use)",
        note="facexlib's default face parser (`faceedit parse --backend facexlib`): GPEN's ParseNet, 512 px, "
             "19 classes in CelebAMask-HQ's own order, about 85 MB; a copy in an installed facexlib's weights "
             "folder is found too"),
    WeightsEntry(
        "facexlib-bisenet", "parsing_bisenet.pth",
        "https://github.com/xinntao/facexlib/releases/download/v0.2.0/parsing_bisenet.pth",
        "parsing", "torch-state-dict", "MIT (xinntao/facexlib, zllrunning/face-parsing.PyTorch); trained on "
        "CelebAMask-HQ (non-commercial research use)",
        note="facexlib's BiSeNet parser (`faceedit parse --backend facexlib-bisenet`): the face-parsing.PyTorch "
             "network and class order, 512 px; a copy in an installed facexlib's weights folder is found too"),
    WeightsEntry(
        "dpt-hybrid", "dpt_hybrid-midas-501f0c75.pt",
        "https://github.com/isl-org/DPT/releases/download/1_0/dpt_hybrid-midas-501f0c75.pt",
        "depth", "torch-state-dict", "MIT (isl-org/DPT, isl-org/MiDaS)", sha256_prefix="501f0c75",
        note="DPT-Hybrid (ViT-B/16 + ResNet-50), MiDaS v3 relative depth, ~470 MiB; also on the MiDaS v3 release "
             "as https://github.com/isl-org/MiDaS/releases/download/v3/dpt_hybrid_384.pt (any path works with "
             "`faceedit depth --backend dpt --weights FILE`)"),
    WeightsEntry(
        "dpt-large", "dpt_large-midas-2f21e586.pt",
        "https://github.com/isl-org/DPT/releases/download/1_0/dpt_large-midas-2f21e586.pt",
        "depth", "torch-state-dict", "MIT (isl-org/DPT, isl-org/MiDaS)", sha256_prefix="2f21e586",
        note="DPT-Large (ViT-L/16), MiDaS v3 relative depth, ~1.3 GiB; also on the MiDaS v3 release as "
             "https://github.com/isl-org/MiDaS/releases/download/v3/dpt_large_384.pt"),
    WeightsEntry(
        "lpips-vgg", "lpips_v0.1_vgg.pth",
        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/vgg.pth",
        "lpips", "torch-state-dict", "BSD-2-Clause (richzhang/PerceptualSimilarity)",
        note="LPIPS v0.1 linear heads for VGG16 (lin0..lin4); needs the vgg16-imagenet backbone"),
    WeightsEntry(
        "lpips-alex", "lpips_v0.1_alex.pth",
        "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/alex.pth",
        "lpips", "torch-state-dict", "BSD-2-Clause (richzhang/PerceptualSimilarity)",
        note="LPIPS v0.1 linear heads for AlexNet; needs the alexnet-imagenet backbone"),
    WeightsEntry(
        "vgg16-imagenet", "vgg16-397923af.pth", "https://download.pytorch.org/models/vgg16-397923af.pth",
        "backbone", "torch-state-dict", "BSD-3-Clause (torchvision); ImageNet-trained",
        sha256_prefix="397923af"),
    WeightsEntry(
        "alexnet-imagenet", "alexnet-owt-7be5be79.pth",
        "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
        "backbone", "torch-state-dict", "BSD-3-Clause (torchvision); ImageNet-trained",
        sha256_prefix="7be5be79"),
]}


def faceedit_home() -> Path:
    """``$FACEEDIT_HOME`` or ``~/.cache/faceedit``."""
    return Path(os.environ.get("FACEEDIT_HOME") or Path.home() / ".cache" / "faceedit")


def cache_dir() -> Path:
    """The folder that holds registered weight files."""
    return faceedit_home() / "weights"


def entry(name: str) -> WeightsEntry:
    """The registry entry called ``name`` (WeightsNotAvailable listing the known names otherwise)."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise WeightsNotAvailable(f"unknown model {name!r}; known: {', '.join(sorted(REGISTRY))}") from None


def local_path(name: str) -> Path:
    """Where the file of ``name`` lives in the cache (it may not exist)."""
    return cache_dir() / entry(name).filename


def is_cached(name: str) -> bool:
    """Whether the file of ``name`` is in the cache."""
    return local_path(name).is_file()


def _instructions(e: WeightsEntry) -> str:
    return (f"download {e.url} by hand and run `faceedit weights add {e.name} PATH` "
            f"(it is stored in {cache_dir()})")


def cached_path(name: str) -> Path:
    """The cached file of ``name``; WeightsNotAvailable with instructions when it is missing (no download)."""
    path = local_path(name)
    if not path.is_file():
        raise WeightsNotAvailable(_missing_message(name))
    return path


def find_weights(names: str | Sequence[str], path: str | os.PathLike | None = None, env: str | None = None,
                 fallbacks: Sequence[Path] = (), need: str = "") -> Path:
    """The weight file of a model, the one lookup of every optional network: ``path``, else ``$env``, else the
    cached file of the first of the registry ``names`` in the cache, else the first existing file of
    ``fallbacks`` (e.g. another package's weights folder).  A given path that is not a file raises
    CheckpointError; nothing found raises WeightsNotAvailable saying where to get the file and how to pass it.
    ``need`` (e.g. "the DPT depth backend needs a MiDaS v3 checkpoint") starts both messages."""
    names = [names] if isinstance(names, str) else list(names)
    path = path or (os.environ.get(env) if env else None)
    need = f"{need}: " if need else ""
    if path:
        if not Path(path).is_file():
            downloads = " or ".join(f"{entry(n).filename} from {entry(n).url}" for n in names)
            raise CheckpointError(f"{path}: no such file ({need}{downloads})")
        return Path(path)
    for name in names:
        if is_cached(name):
            return local_path(name)
    for candidate in fallbacks:
        if Path(candidate).is_file():
            return Path(candidate)
    ways = "pass its path (weights=..., --weights FILE)" + (f" or set ${env}" if env else "")
    missing = "; ".join(_missing_message(n) for n in names)
    raise WeightsNotAvailable(f"{need}{missing}; or {ways}")


def _missing_message(name: str) -> str:
    e = entry(name)
    hint = "" if e.manual else f"run `faceedit weights fetch {name}`, or "
    return f"model {name!r} ({e.filename}) is not in the cache: {hint}{_instructions(e)}"


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def check_digest(e: WeightsEntry, digest: str) -> bool | None:
    """True/False when the entry's sha256 (or its prefix) is known, None when nothing is known."""
    if e.sha256:
        return digest == e.sha256.lower()
    if e.sha256_prefix:
        return digest.startswith(e.sha256_prefix.lower())
    return None


def _copy_with_progress(src, dst, total: int | None, desc: str) -> str:
    """Copy a binary stream to an open file with a tqdm bar; return the sha256."""
    from tqdm import tqdm

    h = hashlib.sha256()
    with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc) as bar:
        for block in iter(lambda: src.read(CHUNK), b""):
            dst.write(block)
            h.update(block)
            bar.update(len(block))
    return h.hexdigest()


def fetch(name: str, timeout: float = 10.0, force: bool = False, url: str | None = None) -> Path:
    """Download the file of ``name`` into the cache and check its sha256; return the path.

    Downloads go to a temporary file that is renamed only when complete and verified.  Offline (or on any
    network error) this fails fast with :class:`WeightsNotAvailable` and the manual instructions.
    ``url`` overrides the registry URL (mirrors, tests with ``file://``).
    """
    e = entry(name)
    dst = local_path(name)
    if dst.is_file() and not force:
        return dst
    url = url or e.url
    if e.manual and url == e.url:
        raise WeightsNotAvailable(f"model {name!r} cannot be downloaded automatically: {_instructions(e)}")
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, OSError, ValueError) as err:
        reason = getattr(err, "reason", err)
        raise WeightsNotAvailable(f"cannot download {name!r} from {url} ({reason}); {_instructions(e)}") from None
    with response, atomic_path(dst) as tmp:
        total = response.headers.get("Content-Length") if hasattr(response, "headers") else None
        try:
            with open(tmp, "wb") as out:
                digest = _copy_with_progress(response, out, int(total) if total else e.size, name)
        except OSError as err:
            raise WeightsNotAvailable(f"download of {name!r} from {url} failed ({err}); {_instructions(e)}") \
                from None
        if check_digest(e, digest) is False:
            raise WeightsNotAvailable(f"download of {name!r} from {url} has sha256 {digest}, expected "
                                      f"{e.sha256 or e.sha256_prefix + '...'}; nothing was stored")
    return dst


def add(name: str, path: str | os.PathLike, force: bool = False) -> Path:
    """Copy a hand-downloaded file into the cache as ``name`` after checking its sha256 (when known)."""
    e = entry(name)
    src = Path(path)
    if not src.is_file():
        raise WeightsNotAvailable(f"{src}: no such file")
    digest = sha256_file(src)
    if check_digest(e, digest) is False and not force:
        raise WeightsNotAvailable(f"{src} has sha256 {digest}, but {name!r} expects "
                                  f"{e.sha256 or e.sha256_prefix + '...'} (use --force to add it anyway)")
    dst = local_path(name)
    with atomic_path(dst) as tmp:
        shutil.copyfile(src, tmp)
    return dst


def verify(names: list[str] | None = None) -> dict[str, str]:
    """Check the cached files: name -> "ok", "missing", "unverified (no known sha256)" or "MISMATCH ..."."""
    out = {}
    for name in names or sorted(REGISTRY):
        e = entry(name)
        path = local_path(name)
        if not path.is_file():
            out[name] = "missing"
            continue
        digest = sha256_file(path)
        ok = check_digest(e, digest)
        out[name] = {True: "ok", None: f"unverified (no known sha256; file has {digest[:16]}...)"}.get(
            ok, f"MISMATCH (sha256 {digest[:16]}...)")
    return out

"""Image I/O and the one conversion between images and tensors.

Images cross module boundaries as RGB ``uint8`` numpy arrays of shape ``(H, W, 3)``.  Tensors (NCHW,
float, in [-1, 1]) stay inside the models and the projection code; :func:`to_tensor` and
:func:`to_image` convert both ways.
"""
from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from .errors import FaceEditError, ImageReadError, InvalidInput
from .io import atomic_path, is_temp_file

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


@contextlib.contextmanager
def _opened(path: Path) -> Iterator:
    """The loaded PIL image of ``path``; missing, non-image and corrupt files raise :class:`ImageReadError`
    (also for errors raised while the caller reads it)."""
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            yield im
    except FaceEditError:
        raise
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{path}: corrupt or truncated image ({e})") from None


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 ``(H, W, 3)``.

    EXIF orientation is honoured; grayscale, palette, RGBA (composited on white), 16-bit and float
    images are converted.  Missing, corrupt, non-image and empty files raise :class:`ImageReadError`.
    """
    from PIL import ImageOps

    path = Path(path)
    with _opened(path) as im:
        arr = _pil_to_rgb(ImageOps.exif_transpose(im))
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageReadError(f"{path}: empty image")
    return arr


def _pil_to_rgb(im) -> np.ndarray:
    """Convert any PIL image to RGB uint8, scaling 16-bit and float data instead of clipping it."""
    from PIL import Image

    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        a = np.asarray(im, dtype=np.float64)
        hi = 65535.0 if im.mode.startswith("I;16") or a.max() > 255 else 255.0
        if im.mode == "F" and a.max() <= 1.0:
            hi = 1.0
        a = np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if im.mode in ("RGBA", "LA", "PA") or (im.mode == "P" and "transparency" in im.info):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(bg, im)
    if im.mode == "RGB;16" or im.mode.startswith("RGB") and im.mode != "RGB":
        im = im.convert("RGB")
    arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return np.ascontiguousarray(arr)


def save_image(path: str | os.PathLike, image: np.ndarray, quality: int = 95, compress_level: int = 6) -> None:
    """Write an RGB uint8 image atomically (format from the suffix: PNG, JPEG, WebP, BMP, TIFF).

    ``quality`` applies to JPEG/WebP; ``compress_level`` (0-9) to PNG: 1 writes about 4x faster than the
    default 6 for files about 1.2x larger (lossless either way).
    """
    from PIL import Image

    image = check_image(image)
    suffix = Path(path).suffix.lower()
    with atomic_path(path) as tmp:
        kwargs: dict = {}
        if suffix in (".jpg", ".jpeg", ".webp"):
            kwargs = {"quality": quality}
        elif suffix == ".png":
            kwargs = {"compress_level": compress_level}
        Image.fromarray(image).save(tmp, **kwargs)


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an RGB uint8 ``(H, W, 3)`` array (grayscale ``(H, W)`` is expanded); return it."""
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] != 3:
        raise InvalidInput(f"{name}: expected an RGB image of shape (H, W, 3), got {image.shape}")
    if image.dtype != np.uint8:
        raise InvalidInput(f"{name}: expected dtype uint8, got {image.dtype}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise InvalidInput(f"{name}: empty image")
    return image


def resize(image: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize an RGB uint8 image to ``size`` (an int for square, or ``(width, height)``), area/cubic."""
    import cv2

    w, h = (size, size) if isinstance(size, int) else size
    if image.shape[1] == w and image.shape[0] == h:
        return image
    interp = cv2.INTER_AREA if w < image.shape[1] else cv2.INTER_CUBIC
    return cv2.resize(image, (w, h), interpolation=interp)


def to_tensor(images: np.ndarray | Sequence[np.ndarray], size: int | None = None):
    """RGB uint8 image(s) ``(H, W, 3)`` or ``(N, H, W, 3)`` → float32 tensor ``(N, 3, H, W)`` in [-1, 1]."""
    import torch

    if isinstance(images, np.ndarray) and images.ndim == 3:
        images = [images]
    arrs = [check_image(im) for im in images]
    if size is not None:
        arrs = [resize(a, size) for a in arrs]
    batch = np.stack(arrs).astype(np.float32)
    # contiguous NCHW: torch 2.13 on the CPU corrupts memory in the backward pass of a convolution whose input
    # keeps the channels-last strides of the permuted array
    return torch.from_numpy(batch).permute(0, 3, 1, 2).contiguous().div_(127.5).sub_(1.0)


def to_image(tensor) -> np.ndarray:
    """Float tensor ``(N, 3, H, W)`` or ``(3, H, W)`` in [-1, 1] → RGB uint8 ``(N, H, W, 3)`` / ``(H, W, 3)``."""
    import torch

    t = tensor.detach().float()
    single = t.dim() == 3
    if single:
        t = t[None]
    arr = ((t.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
    out = arr.permute(0, 2, 3, 1).cpu().numpy()
    return out[0] if single else out


def image_grid(images: np.ndarray, ncol: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile uint8 NHWC images into one RGB image (white padding)."""
    n, h, w, _ = images.shape
    ncol = ncol or int(math.ceil(math.sqrt(n)))
    nrow = int(math.ceil(n / ncol))
    grid = np.full((nrow * (h + pad) + pad, ncol * (w + pad) + pad, 3), 255, np.uint8)
    for i, im in enumerate(images):
        r, c = divmod(i, ncol)
        grid[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = im
    return grid


def list_images(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Expand files and folders into a sorted list of image files (folders: non-recursive; the temporary
    files of a killed writer are left out)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES and not is_temp_file(q)))
        else:
            out.append(p)
    return out


# ---------------------------------------------------------------------------------------------------
# photos: the pixels plus what a photo file carries (EXIF, ICC profile, alpha, format, bit depth)

#: EXIF tag of the orientation (1 = upright)
ORIENTATION = 0x0112
#: formats written back as themselves; every other input format is written as PNG
_JPEG_FORMATS = ("JPEG", "MPO")


@dataclass
class Photo:
    """A photo read by :func:`read_photo`: upright RGB uint8 pixels and what :func:`write_photo` carries back.

    ``alpha``: ``(H, W)`` uint8 of an input with transparency (RGBA, LA, palette with transparency), else
    None; ``rgb`` then holds the colour channels as stored (not composited).  ``exif``: the EXIF block with
    its orientation reset to 1 (the rotation is applied to ``rgb``).  ``icc_profile``: the colour profile
    (None for grey and CMYK inputs, whose profile does not describe RGB pixels).  ``format``: PIL's name
    (``JPEG``, ``PNG``, ``TIFF``, ``WEBP``...); ``subsampling``: a JPEG's chroma subsampling (0 = 4:4:4,
    1 = 4:2:2, 2 = 4:2:0); ``bit_depth``: bits per channel of the file (16-bit inputs are converted to
    8-bit, with a note); ``notes``: such conversions, in words.
    """

    rgb: np.ndarray
    alpha: np.ndarray | None = None
    format: str | None = None
    exif: bytes | None = None
    icc_profile: bytes | None = None
    subsampling: int | None = None
    bit_depth: int = 8
    dpi: tuple[float, float] | None = None
    source: Path | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def size(self) -> tuple[int, int]:
        """``(width, height)`` of the upright pixels."""
        return int(self.rgb.shape[1]), int(self.rgb.shape[0])

    def output_suffix(self) -> str:
        """The suffix an edit of this photo is saved with: the input's own for JPEG (``.jpg``/``.jpeg``),
        ``.png`` for every other format (PNG, TIFF, WebP, BMP...: lossless, keeps alpha and 16→8-bit data)."""
        if self.format in _JPEG_FORMATS:
            suffix = self.source.suffix.lower() if self.source is not None else ""
            return suffix if suffix in (".jpg", ".jpeg") else ".jpg"
        return ".png"


def read_photo(path: str | os.PathLike) -> Photo:
    """Read a photo file with what it carries (see :class:`Photo`).

    EXIF orientation is applied to the pixels and the tag reset to 1; 16-bit (and float) data is converted
    to 8-bit, with a note in ``Photo.notes`` and a :class:`UserWarning`.  Missing, corrupt, non-image and
    empty files raise :class:`ImageReadError`.
    """
    from PIL import ImageOps

    path = Path(path)
    with _opened(path) as im:
        fmt = im.format
        exif = im.getexif()
        info = dict(im.info)
        subsampling = _jpeg_subsampling(im) if fmt in _JPEG_FORMATS else None
        depth = _bit_depth(im, path)
        mode = im.mode
        im = ImageOps.exif_transpose(im)
        alpha = _alpha(im)
        rgb = _pil_to_rgb(im.convert("RGBA").convert("RGB") if alpha is not None else im)
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ImageReadError(f"{path}: empty image")
    notes = []
    if depth > 8:
        notes.append(f"{depth}-bit image converted to 8-bit (the output is 8-bit)")
        warnings.warn(f"{path}: {notes[-1]}", UserWarning, stacklevel=2)
    icc = info.get("icc_profile") or None
    if icc and mode not in ("RGB", "RGBA", "P", "PA", "RGBX", "RGBa") and not mode.startswith("RGB;"):
        notes.append(f"{mode} colour profile dropped (the output is RGB)")
        icc = None
    if len(exif):
        exif[ORIENTATION] = 1
    dpi = info.get("dpi")
    return Photo(rgb=rgb, alpha=alpha, format=fmt, exif=exif.tobytes() if len(exif) else None, icc_profile=icc,
                 subsampling=subsampling, bit_depth=depth, source=path, notes=notes,
                 dpi=tuple(float(v) for v in dpi) if dpi else None)  # type: ignore[arg-type]


def write_photo(path: str | os.PathLike, rgb: np.ndarray, like: Photo | None = None, quality: int = 95) -> None:
    """Write RGB uint8 pixels atomically as a photo, carrying over ``like``'s EXIF (orientation 1), ICC
    profile, resolution and alpha (same size only).

    The format comes from the suffix.  JPEG: quality ``max(quality, 95)``, ``like``'s chroma subsampling
    (4:4:4 when it has none), no alpha.  PNG and TIFF keep the alpha; WebP is written lossless.
    """
    from PIL import Image

    rgb = check_image(rgb)
    suffix = Path(path).suffix.lower()
    like = like or Photo(rgb)
    im = Image.fromarray(rgb)
    if like.alpha is not None and suffix in (".png", ".tif", ".tiff", ".webp"):
        if like.alpha.shape != rgb.shape[:2]:
            raise InvalidInput(f"alpha {like.alpha.shape} and image {rgb.shape[:2]} differ in size")
        im.putalpha(Image.fromarray(like.alpha))
    kwargs: dict = {}
    if like.icc_profile:
        kwargs["icc_profile"] = like.icc_profile
    if like.exif and suffix in (".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff"):
        kwargs["exif"] = like.exif
    if like.dpi and suffix in (".jpg", ".jpeg", ".png", ".tif", ".tiff"):
        kwargs["dpi"] = like.dpi
    if suffix in (".jpg", ".jpeg"):
        sub = like.subsampling if like.subsampling in (0, 1, 2) else 0
        kwargs.update(quality=max(int(quality), 95), subsampling=sub)
    elif suffix == ".webp":
        kwargs.update(lossless=True, exact=True)
    elif suffix not in (".png", ".tif", ".tiff", ".bmp"):
        raise InvalidInput(f"{path}: cannot write a photo as {suffix or 'no suffix'} (use .jpg, .png, .tif, .webp)")
    with atomic_path(path) as tmp:
        im.save(tmp, **kwargs)


def _jpeg_subsampling(im) -> int | None:
    from PIL import JpegImagePlugin

    try:
        value = JpegImagePlugin.get_sampling(im)
    except (AttributeError, KeyError, TypeError):
        return None
    return value if value in (0, 1, 2) else None


def _bit_depth(im, path: Path) -> int:
    """Bits per channel of the file (PNG header, TIFF tag or the PIL mode)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return 16
    if im.mode in ("I", "F"):
        return 32 if im.format != "PNG" else 16
    if im.format == "PNG":
        with open(path, "rb") as f:
            head = f.read(25)
        return int(head[24]) if len(head) == 25 and head[12:16] == b"IHDR" else 8
    if im.format == "TIFF":
        bits = im.tag_v2.get(258) if hasattr(im, "tag_v2") else None
        bits = bits if isinstance(bits, (tuple, list)) else (bits,) if bits else (8,)
        return int(max(bits))
    return 8


def _alpha(im) -> np.ndarray | None:
    """The alpha channel (uint8) of an image with transparency, else None."""
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (im.mode == "P" and "transparency" in im.info):
        return np.ascontiguousarray(np.asarray(im.convert("RGBA"))[..., 3])
    return None

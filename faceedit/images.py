"""Image I/O and the one conversion between images and tensors.

Images cross module boundaries as RGB ``uint8`` numpy arrays of shape ``(H, W, 3)``.  Tensors (NCHW,
float, in [-1, 1]) stay inside the models and the projection code; :func:`to_tensor` and
:func:`to_image` convert both ways.
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import ImageReadError, InvalidInput
from .io import atomic_path

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def load_image(path: str | os.PathLike) -> np.ndarray:
    """Read an image file as RGB uint8 ``(H, W, 3)``.

    EXIF orientation is honoured; grayscale, palette, RGBA (composited on white), 16-bit and float
    images are converted.  Missing, corrupt, non-image and empty files raise :class:`ImageReadError`.
    """
    from PIL import Image, ImageOps, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        with Image.open(path) as im:
            im.load()
            im = ImageOps.exif_transpose(im)
            arr = _pil_to_rgb(im)
    except UnidentifiedImageError:
        raise ImageReadError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"{path}: corrupt or truncated image ({e})") from None
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
    return torch.from_numpy(batch).permute(0, 3, 1, 2).div_(127.5).sub_(1.0)


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
    """Expand files and folders into a sorted list of image files (folders: non-recursive)."""
    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            out.extend(sorted(q for q in p.iterdir() if q.suffix.lower() in IMAGE_SUFFIXES))
        else:
            out.append(p)
    return out

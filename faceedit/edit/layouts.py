"""The one reader of W / W+ arrays (latents, translations, directions) in the layouts other projects save.

Accepted layouts of one code or one delta (``n`` = the generator's ``n_latent``, ``d`` its ``style_dim``):

- ``(n, d)``    faceedit, and gan-face-editing's projected latents
- ``(1, n, d)`` gan-face-editing's translations (and latents saved with a batch axis)
- ``(d,)`` or ``(1, d)`` one W row (an InterFaceGAN / anycost-gan direction): the same row on every W+ row

:func:`to_rows` turns any of them into ``(n, d)`` rows, or ``(1, d)`` for one W row when the model's shape
is not known (it is broadcast where it is applied); :func:`read_rows` reads a ``.npy`` file through it (:func:`load_array`).
Values must be finite.  Every refusal is one message naming the file and the expected shapes.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import InvalidInput, ModelMismatch

Shape = tuple[int, int]


def expected_shapes(shape: Shape | None = None) -> str:
    """``(n_latent, style_dim), (1, n_latent, style_dim), (style_dim,) or (1, style_dim)``, with numbers
    when the model's W+ shape is known."""
    n, d = (str(v) for v in shape) if shape is not None else ("n_latent", "style_dim")
    return f"({n}, {d}), (1, {n}, {d}), ({d},) or (1, {d})"


def to_rows(array: np.ndarray, source: str, what: str = "latent", shape: Shape | None = None) -> np.ndarray:
    """``array`` in one of the accepted layouts as float32 rows: ``(n, d)``, or ``(1, d)`` for one W row.

    With ``shape`` (the model's ``(n_latent, style_dim)``) the result is exactly ``shape`` (one row is
    broadcast) and any other size raises :class:`ModelMismatch`; a layout that is none of the accepted ones
    or a non-finite value raises :class:`InvalidInput`.  ``source`` (a file name) and ``what`` start the
    messages.
    """
    given = np.shape(array)
    a = np.asarray(array)
    if a.dtype.kind not in "fiu" or a.size == 0:
        raise InvalidInput(f"{source}: a {what} is a non-empty array of numbers of shape "
                           f"{expected_shapes(shape)}; got {a.dtype} of shape {given}")
    if a.ndim == 3 and a.shape[0] == 1:
        a = a[0]
    elif a.ndim == 1:
        a = a[None]
    if a.ndim != 2:
        raise InvalidInput(f"{source}: a {what} must be {expected_shapes(shape)}; got shape {given}")
    a = a.astype(np.float32)
    if not np.isfinite(a).all():
        raise InvalidInput(f"{source}: the {what} has NaN or infinite values (a {what} is finite, "
                           f"{expected_shapes(shape)})")
    if shape is not None:
        n, d = (int(v) for v in shape)
        if a.shape[1] != d or a.shape[0] not in (1, n):
            raise ModelMismatch(f"{source}: a {what} of shape {given} does not fit this model: it needs "
                                f"{expected_shapes((n, d))}")
        if a.shape[0] != n:
            a = np.repeat(a, n, axis=0)
    return a


def load_array(path: str | os.PathLike, what: str = "latent", shape: Shape | None = None) -> np.ndarray:
    """One array from a ``.npy`` as saved (never pickled objects; no layout check: see :func:`read_rows`)."""
    path = Path(path)
    if not path.is_file():
        raise InvalidInput(f"{path}: no such {what} file")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise InvalidInput(f"{path}: not a readable .npy {what} ({e})") from None
    if not isinstance(array, np.ndarray):  # an .npz archive
        array.close()
        raise InvalidInput(f"{path}: a {what} is one .npy array of shape {expected_shapes(shape)}, not an archive")
    return array


def read_rows(path: str | os.PathLike, what: str = "latent", shape: Shape | None = None) -> np.ndarray:
    """Read a ``.npy`` and return :func:`to_rows` of it."""
    return to_rows(load_array(path, what, shape), str(path), what, shape)


def read_latent(path: str | os.PathLike, shape: Shape) -> np.ndarray:
    """A W+ latent ``shape`` = ``(n_latent, style_dim)`` from a ``.npy`` in any accepted layout."""
    return read_rows(path, "latent", shape)

"""Small file helpers: atomic writes so that an interrupted run never leaves a half-written file."""
from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success rename it to ``path``, on error delete it.

    The temporary name keeps the suffix of ``path`` so that writers which pick a format from the
    extension (PIL, OpenCV, numpy) keep working.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".tmp{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes 0600 files, and some writers (safetensors) recreate the file: give the result the
        # usual permissions just before it takes its final name
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp_path.unlink()
        raise


TEMP_MARK = ".tmp"  # temporary files of atomic_path: ``.{stem}.XXXXXXXX.tmp{suffix}``


def is_temp_file(path: str | os.PathLike) -> bool:
    """A temporary file of :func:`atomic_path` (left behind when a writer was killed before its rename)."""
    name = Path(path).name
    return name.startswith(".") and (f"{TEMP_MARK}." in name or name.endswith(TEMP_MARK))


def remove_temp_files(folder: str | os.PathLike) -> int:
    """Delete the temporary files a killed writer left under ``folder`` (recursively); their final files
    were never written, so nothing complete is lost.  Returns how many were removed.  Only for folders no
    other process is writing to at the same moment."""
    root = Path(folder)
    if not root.is_dir():
        return 0
    removed = 0
    for path in root.rglob(".*"):
        if path.is_file() and is_temp_file(path):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
    return removed


@contextlib.contextmanager
def file_lock(path: str | os.PathLike) -> Iterator[None]:
    """An exclusive advisory lock on ``path`` (created if needed) for a read-modify-write shared by
    processes, e.g. Ray workers updating one ``metrics.json`` (POSIX ``flock``; a no-op without fcntl)."""
    try:
        import fcntl
    except ImportError:  # Windows: one process per output folder there
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as f:
        fcntl.flock(f.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def save_json(path: str | os.PathLike, data: Any) -> None:
    """Write ``data`` as indented JSON, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=_json_default) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    return json.loads(Path(path).read_text())


def save_npy(path: str | os.PathLike, array: np.ndarray) -> None:
    """Write one array as ``.npy``, atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, np.asarray(array))


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


@functools.lru_cache(maxsize=1)
def _umask() -> int:
    """The process umask, read once (reading it means setting it for an instant)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask

"""The per-file loop shared by the batch commands: progress bar, errors collected per file, exit code."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Sequence

from ..errors import FaceEditError, InvalidInput


def for_each_image(inputs: Sequence[str], desc: str, process: Callable[[Path], None]) -> int:
    """Call ``process(path)`` for every image of ``inputs`` (files or folders).

    A :class:`FaceEditError` of one file does not stop the others; failed files are listed on stderr at the
    end and the exit code is then 1 (else 0).
    """
    from tqdm import tqdm

    from ..images import list_images

    paths = list_images(inputs)
    if not paths:
        raise InvalidInput("no images given (folders are searched for .png/.jpg/.webp/.bmp/.tif files)")
    failed = []
    for path in tqdm(paths, desc=desc, unit="image", disable=len(paths) < 2):
        try:
            process(path)
        except FaceEditError as e:
            failed.append(f"{path}: {e}")
    print(f"{desc}: {len(paths) - len(failed)}/{len(paths)} done")
    if failed:
        print("failed:\n  " + "\n  ".join(failed), file=sys.stderr)
        return 1
    return 0

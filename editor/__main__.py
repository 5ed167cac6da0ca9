"""``python -m editor`` / ``faceedit-editor``."""
from __future__ import annotations

import sys
from typing import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Start the editor (see ``python -m editor --help``)."""
    from .app import run

    return run(argv)


if __name__ == "__main__":
    sys.exit(main())

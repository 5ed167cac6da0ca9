"""The editor's preferences and last session, stored with faceedit's one config system (TOML).

Folder: ``$FACEEDIT_EDITOR_HOME`` or ``~/.config/faceedit/editor``; ``editor.toml`` holds the settings,
``last_latent.npy`` the base latent of the last session (restored at start-up when the model matches).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from faceedit.config import load_config, save_config
from faceedit.errors import ConfigError
from faceedit.io import save_npy
from faceedit.types import Latent

DEFAULTS: dict[str, Any] = {
    "model": "",  # "" = the built-in default model
    "preset": "fast",
    "last_dir": "",
    "recent": [],
    "last_model_id": "",
    "edit_mode": "transfer",  # "transfer" (the edit carried onto the photo) | "replace" (the render replaces the face)
    "device": "cpu",  # where the worker renders and projects: cpu | cuda | cuda:N | mps | auto (CUDA, then MPS)
}
MAX_RECENT = 10


def editor_home() -> Path:
    """The folder of the editor's preferences and last session."""
    env = os.environ.get("FACEEDIT_EDITOR_HOME")
    return Path(env) if env else Path.home() / ".config" / "faceedit" / "editor"


class Preferences:
    """Settings read at start-up and written on exit (a broken file falls back to the defaults)."""

    def __init__(self, values: dict[str, Any], folder: Path) -> None:
        self.values = values
        self.folder = folder

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None) -> "Preferences":
        folder = Path(folder) if folder else editor_home()
        path = folder / "editor.toml"
        try:
            values = load_config(DEFAULTS, path if path.is_file() else None)
        except ConfigError as e:
            print(f"warning: ignoring broken preferences ({e})")
            values = load_config(DEFAULTS)
        return cls(values, folder)

    def get(self, key: str) -> Any:
        return self.values[key]

    def set(self, key: str, value: Any) -> None:
        if key not in DEFAULTS:
            raise ConfigError(f"unknown editor preference {key!r}")
        self.values[key] = value

    def add_recent(self, path: str | os.PathLike) -> None:
        """Put ``path`` first in the recent-files list."""
        path = str(Path(path).resolve())
        recent = [p for p in self.values["recent"] if p != path]
        self.values["recent"] = [path] + recent[: MAX_RECENT - 1]
        self.values["last_dir"] = str(Path(path).parent)

    def save(self) -> None:
        save_config(self.values, self.folder / "editor.toml")

    def save_last_latent(self, latent: Latent) -> None:
        """Remember the base latent of this session for the next start."""
        save_npy(self.folder / "last_latent.npy", latent.w)
        self.values["last_model_id"] = latent.model_id

    def last_latent(self, model_id: str) -> Path | None:
        """The last session's latent file when it belongs to ``model_id``."""
        path = self.folder / "last_latent.npy"
        return path if path.is_file() and self.values["last_model_id"] == model_id else None

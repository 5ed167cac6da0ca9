"""The one config system: TOML files + dotted ``key=value`` overrides, merged over defaults.

Used by the CLI, the batch pipeline and the editor's preferences::

    cfg = load_config(defaults, "pipeline.toml", ["project.preset=fast", "mixups.depth=false"])
    save_config(cfg, out_dir / "config.toml")   # the merged config, saved next to the results

Override values are parsed as TOML values (``3``, ``0.5``, ``true``, ``"text"``, ``[1, 2]``); anything
that is not valid TOML is taken as a plain string.  Keys must exist in the defaults unless
``strict=False``, so a typo is an error and not a silently ignored setting.
"""
from __future__ import annotations

import copy
import os
import tomllib
from pathlib import Path
from typing import Any, Iterable, Mapping

from .errors import ConfigError
from .io import atomic_path


def parse_value(text: str) -> Any:
    """Parse one override value as TOML, falling back to the raw string."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["a.b=1", "c=x"]`` → ``{"a": {"b": 1}, "c": "x"}``."""
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        key, value = item.split("=", 1)
        key = key.strip()
        if not key or any(not part for part in key.split(".")):
            raise ConfigError(f"override {item!r} has an empty key")
        node = out
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r} conflicts with another override")
        node[parts[-1]] = parse_value(value.strip())
    return out


def merge(base: Mapping[str, Any], update: Mapping[str, Any], strict: bool = True, _prefix: str = "") -> dict:
    """Deep-merge ``update`` into a copy of ``base``; with ``strict`` unknown keys raise ConfigError."""
    out = copy.deepcopy(dict(base))
    for key, value in update.items():
        dotted = f"{_prefix}{key}"
        if key not in out:
            if strict:
                known = ", ".join(sorted(out)) or "(none)"
                raise ConfigError(f"unknown config key {dotted!r} (known here: {known})")
            out[key] = copy.deepcopy(value)
        elif isinstance(out[key], dict):
            if not isinstance(value, Mapping):
                raise ConfigError(f"config key {dotted!r} is a table; got {value!r}")
            out[key] = merge(out[key], value, strict, dotted + ".")
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_toml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a TOML file, with errors that name the file."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML ({e})") from None


def load_config(
    defaults: Mapping[str, Any],
    path: str | os.PathLike | None = None,
    overrides: Iterable[str] = (),
    strict: bool = True,
) -> dict[str, Any]:
    """defaults < TOML file < ``key=value`` overrides."""
    cfg = copy.deepcopy(dict(defaults))
    if path is not None:
        cfg = merge(cfg, read_toml(path), strict)
    return merge(cfg, parse_overrides(overrides), strict)


def dumps_toml(cfg: Mapping[str, Any]) -> str:
    """Serialise a nested dict of scalars, lists and tables as TOML (enough for our configs)."""
    lines: list[str] = []
    _dump_table(cfg, [], lines)
    return "\n".join(lines).strip() + "\n"


def _dump_table(table: Mapping[str, Any], path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in table.items() if isinstance(v, Mapping)}
    if path and (scalars or not tables):
        lines.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for k, v in scalars.items():
        if v is None:
            continue  # TOML has no null: a missing key means "use the default"
        lines.append(f"{_key(k)} = {_value(v)}")
    for k, v in tables.items():
        _dump_table(v, path + [k], lines)


def _key(k: str) -> str:
    return k if k.replace("_", "").replace("-", "").isalnum() else _value(k)


def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_value(x) for x in v if x is not None) + "]"
    s = str(v).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{s}"'


def save_config(cfg: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write the merged config as TOML, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(dumps_toml(cfg))

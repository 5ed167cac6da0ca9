"""The one config system: TOML + dotted overrides, strict keys, round trip."""
import pytest

from faceedit.config import dumps_toml, load_config, parse_overrides, read_toml, save_config
from faceedit.errors import ConfigError

DEFAULTS = {"project": {"preset": "balanced", "steps": 100, "lr": 0.05}, "mixups": {"depth": True, "codes": ["Hc", "B"]}, "name": "x"}


def test_overrides_parse_toml_values():
    o = parse_overrides(["project.steps=20", "project.lr=1e-3", "mixups.depth=false", "name=hello world", 'mixups.codes=["N"]'])
    assert o == {"project": {"steps": 20, "lr": 0.001}, "mixups": {"depth": False, "codes": ["N"]}, "name": "hello world"}


def test_file_then_overrides(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[project]\npreset = "fast"\nsteps = 5\n')
    cfg = load_config(DEFAULTS, p, ["project.steps=7"])
    assert cfg["project"] == {"preset": "fast", "steps": 7, "lr": 0.05}
    assert DEFAULTS["project"]["steps"] == 100  # defaults not mutated


def test_unknown_key_is_an_error_naming_it():
    with pytest.raises(ConfigError, match="project.stepz"):
        load_config(DEFAULTS, None, ["project.stepz=3"])
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])
    assert load_config(DEFAULTS, None, ["extra.k=1"], strict=False)["extra"] == {"k": 1}


def test_table_cannot_become_scalar():
    with pytest.raises(ConfigError):
        load_config(DEFAULTS, None, ["project=3"])


def test_save_round_trip(tmp_path):
    cfg = load_config(DEFAULTS, None, ['name="a \\"quoted\\" name"'])
    save_config(cfg, tmp_path / "out" / "config.toml")
    assert read_toml(tmp_path / "out" / "config.toml") == cfg
    assert "[project]" in dumps_toml(cfg)


def test_bad_toml_names_file(tmp_path):
    p = tmp_path / "bad.toml"
    p.write_text("[project\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(DEFAULTS, p)
    with pytest.raises(ConfigError, match="not found"):
        load_config(DEFAULTS, tmp_path / "missing.toml")

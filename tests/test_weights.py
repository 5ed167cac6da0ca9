"""Weights registry and cache: fetch (file:// URL, sha check, atomic), add, verify, CLI; no network."""
import hashlib

import pytest

from faceedit.cli import main
from faceedit.errors import WeightsNotAvailable
from faceedit.models import weights
from faceedit.models.weights import REGISTRY, WeightsEntry


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FACEEDIT_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def fake_entry(monkeypatch, tmp_path):
    payload = b"model bytes " * 1000
    src = tmp_path / "remote.bin"
    src.write_bytes(payload)
    digest = hashlib.sha256(payload).hexdigest()
    e = WeightsEntry("fake-model", "fake.bin", src.as_uri(), "generator", "test", "MIT", len(payload), digest)
    monkeypatch.setitem(REGISTRY, "fake-model", e)
    return e, src, payload


def test_registry_has_the_required_models():
    for name in ("stylegan2-ffhq-1024", "anycost-ffhq-config-f", "face-parsing-bisenet", "dpt-hybrid",
                 "dpt-large", "lpips-vgg", "lpips-alex"):
        e = REGISTRY[name]
        assert e.url.startswith("https://") and e.licence and e.filename
    assert REGISTRY["stylegan2-ffhq-1024"].format == "nvlabs-pkl"
    assert REGISTRY["stylegan2-ffhq-1024"].url.endswith("stylegan2-ffhq-1024x1024.pkl")


def test_cache_dir_follows_faceedit_home(home):
    assert weights.cache_dir() == home / "weights"
    assert weights.local_path("lpips-vgg") == home / "weights" / "lpips_v0.1_vgg.pth"


def test_fetch_file_url_checks_sha_and_renames(home, fake_entry):
    e, src, payload = fake_entry
    path = weights.fetch("fake-model")
    assert path == home / "weights" / "fake.bin" and path.read_bytes() == payload
    assert weights.verify(["fake-model"]) == {"fake-model": "ok"}
    path.write_bytes(b"tampered")
    assert weights.verify(["fake-model"])["fake-model"].startswith("MISMATCH")


def test_fetch_sha_mismatch_stores_nothing(home, fake_entry, monkeypatch):
    e, src, payload = fake_entry
    monkeypatch.setitem(REGISTRY, "fake-model", WeightsEntry(**{**e.__dict__, "sha256": "0" * 64}))
    with pytest.raises(WeightsNotAvailable, match="sha256"):
        weights.fetch("fake-model")
    assert not (home / "weights" / "fake.bin").exists()
    assert list((home / "weights").iterdir()) == []  # no temp file left behind


def test_fetch_offline_fails_fast_with_instructions(home, fake_entry, tmp_path):
    with pytest.raises(WeightsNotAvailable, match="weights add fake-model PATH"):
        weights.fetch("fake-model", url=(tmp_path / "missing.bin").as_uri())
    with pytest.raises(WeightsNotAvailable, match="cannot be downloaded automatically"):
        weights.fetch("face-parsing-bisenet")


def test_cached_path_never_downloads(home):
    with pytest.raises(WeightsNotAvailable, match="not in the cache"):
        weights.cached_path("lpips-vgg")
    with pytest.raises(WeightsNotAvailable, match="unknown model"):
        weights.entry("nope")


def test_add_checks_known_digest(home, fake_entry, tmp_path):
    e, src, payload = fake_entry
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"other")
    with pytest.raises(WeightsNotAvailable, match="expects"):
        weights.add("fake-model", wrong)
    assert not weights.is_cached("fake-model")
    assert weights.add("fake-model", src).read_bytes() == payload
    # unknown digest: accepted, reported as unverified
    weights.add("stylegan2-ffhq-1024", wrong)
    assert weights.verify(["stylegan2-ffhq-1024"])["stylegan2-ffhq-1024"].startswith("unverified")


def test_cli_list_fetch_add_verify(home, fake_entry, capsys, tmp_path):
    e, src, payload = fake_entry
    assert main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "stylegan2-ffhq-1024" in out and "fake-model" in out and "missing" in out
    assert main(["weights", "fetch", "fake-model"]) == 0
    assert (home / "weights" / "fake.bin").read_bytes() == payload
    assert main(["weights", "verify"]) == 0
    assert "fake-model: ok" in capsys.readouterr().out
    assert main(["weights", "fetch", "face-parsing-bisenet"]) == 1
    assert "weights add face-parsing-bisenet" in capsys.readouterr().err
    assert main(["weights", "add", "fake-model", str(src)]) == 0


def test_find_weights_order_and_messages(home, fake_entry, tmp_path, monkeypatch):
    from faceedit.errors import CheckpointError

    e, src, payload = fake_entry
    given = tmp_path / "given.bin"
    given.write_bytes(b"x")
    other = tmp_path / "other_package" / "fake.bin"
    other.parent.mkdir()
    other.write_bytes(b"y")
    monkeypatch.delenv("FAKE_WEIGHTS", raising=False)
    # nothing anywhere: the file, where to get it and every way to pass it
    with pytest.raises(WeightsNotAvailable, match=r"the fake net needs it: model 'fake-model' \(fake.bin\) is not in "
                       r"the cache: run `faceedit weights fetch fake-model`.*\$FAKE_WEIGHTS"):
        weights.find_weights("fake-model", env="FAKE_WEIGHTS", need="the fake net needs it")
    # a fallback file is used when nothing better exists
    assert weights.find_weights("fake-model", fallbacks=[tmp_path / "absent.bin", other]) == other
    # the cache comes before the fallbacks
    cached = weights.fetch("fake-model")
    assert weights.find_weights(["fake-model"], fallbacks=[other]) == cached
    # the environment comes before the cache, the argument before the environment
    monkeypatch.setenv("FAKE_WEIGHTS", str(given))
    assert weights.find_weights("fake-model", env="FAKE_WEIGHTS") == given
    assert weights.find_weights("fake-model", other, env="FAKE_WEIGHTS") == other
    # a given path that is not a file: CheckpointError with the download
    with pytest.raises(CheckpointError, match=r"nope.bin: no such file \(the fake net needs it: fake.bin from file:"):
        weights.find_weights("fake-model", tmp_path / "nope.bin", need="the fake net needs it")

"""Bring your own: the anchors' layouts (gan-face-editing, InterFaceGAN, GANSpace, anycost-gan) read as they are,
imported, exported back; one reader of latents; refusals name the file and the expected shapes."""
from __future__ import annotations

import itertools
import json
import pathlib
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from faceedit.errors import InvalidInput, InvalidTranslationName, ModelMismatch
from faceedit.edit.interop import export_gan_face_editing, import_translations, read_source, w_std_along
from faceedit.edit.layouts import read_latent, read_rows, to_rows
from faceedit.models.stylegan2 import Generator
from faceedit.edit.translations import (
    BALD,
    REFERENCE_ORDER,
    REFERENCE_VALUES,
    Translation,
    TranslationStore,
    required_targets,
    select,
)

# the real gan-face-editing shapes: translations (1, 18, 512), projected latents (18, 512)
N, D = 18, 512
GENERIC = [f"{c}_{v}" for c, vs in {"Sk": 3, "A": 3, "Se": 2, "B": 2, "Hc": 5, "D": 2, "Hs": 2}.items()
           for v in range(vs)]  # Hc_4 is their bald
CURSORS = [f"{c}_{e}" for c in ("Be", "N", "Pn", "Bp", "Bn", "Ch") for e in ("min", "max")]
CONDITIONAL = ["A_0_fr_1", "A_1_fr_2", "Se_0_fr_1", "Hc_0_fr_4", "Hc_1_fr_4", "Hs_1_fr_2", "Sk_2_fr_0"]


def _gfe_folder(root: Path, n: int = N, d: int = D, seed: int = 0) -> dict[str, np.ndarray]:
    """``root/unconditional`` and ``root/conditional`` as gan-face-editing saves them: ``(1, n, d)``, no sidecars."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for sub, names in (("unconditional", GENERIC + CURSORS), ("conditional", CONDITIONAL)):
        (root / sub).mkdir(parents=True)
        for name in names:
            arrays[f"{sub}/{name}"] = rng.normal(size=(1, n, d)).astype(np.float32)
            np.save(root / sub / f"{name}.npy", arrays[f"{sub}/{name}"])
    return arrays


@pytest.fixture(scope="module")
def tiny() -> Generator:
    torch.manual_seed(0)
    return Generator(16, style_dim=16, n_mlp=2, channel_max=16, model_id="tiny-interop").eval()


# ------------------------------------------------------------------ the one reader


def test_every_layout_reads_to_the_same_rows(tmp_path):
    w = np.random.default_rng(1).normal(size=(6, 8)).astype(np.float32)
    for name, array in {"plain": w, "batch": w[None]}.items():
        np.save(tmp_path / f"{name}.npy", array)
        np.testing.assert_array_equal(read_latent(tmp_path / f"{name}.npy", (6, 8)), w)
    for name, array in {"row": w[0], "row2": w[:1]}.items():  # one W row: on every row
        np.save(tmp_path / f"{name}.npy", array)
        np.testing.assert_array_equal(read_latent(tmp_path / f"{name}.npy", (6, 8)), np.repeat(w[:1], 6, 0))
        assert read_rows(tmp_path / f"{name}.npy").shape == (1, 8)  # model unknown: kept as one row
    assert to_rows(np.arange(8, dtype=np.int64), "ints").dtype == np.float32


@pytest.mark.parametrize("array,error,words", [
    (np.full((6, 8), np.nan, np.float32), InvalidInput, "NaN or infinite"),
    (np.full((1, 6, 8), np.inf, np.float32), InvalidInput, "NaN or infinite"),
    (np.zeros((2, 6, 8), np.float32), InvalidInput, r"must be \(6, 8\), \(1, 6, 8\), \(8,\) or \(1, 8\); got shape \(2, 6, 8\)"),
    (np.zeros((5, 8), np.float32), ModelMismatch, r"shape \(5, 8\) does not fit this model: it needs \(6, 8\)"),
    (np.zeros((1, 6, 9), np.float32), ModelMismatch, r"needs \(6, 8\), \(1, 6, 8\), \(8,\) or \(1, 8\)"),
    (np.array(["a", "b"]), InvalidInput, "numbers"),
])
def test_refusals_name_the_file_and_the_expected_shapes(tmp_path, array, error, words):
    np.save(tmp_path / "x.npy", array)
    with pytest.raises(error, match=words) as e:
        read_latent(tmp_path / "x.npy", (6, 8))
    assert str(e.value).startswith(str(tmp_path / "x.npy")) and "\n" not in str(e.value)


def test_unreadable_and_pickled_files_are_refused(tmp_path):
    (tmp_path / "junk.npy").write_bytes(b"junk")
    with pytest.raises(InvalidInput, match="not a readable .npy latent"):
        read_latent(tmp_path / "junk.npy", (6, 8))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(InvalidInput, match="obj.npy"):
        read_latent(tmp_path / "obj.npy", (6, 8))
    with pytest.raises(InvalidInput, match="no such latent"):
        read_latent(tmp_path / "none.npy", (6, 8))


# ------------------------------------------------------------------ gan-face-editing folders read as they are


class _Memo(TranslationStore):
    """A store that reads each file once (2592 faces x 24 targets: the selection rules are under test here;
    the same folders are read uncached below)."""

    def __init__(self, *args):
        super().__init__(*args)
        self._got, self._has = {}, {}

    def __contains__(self, name):
        if name not in self._has:
            self._has[name] = super().__contains__(name)
        return self._has[name]

    def get(self, name):
        if name not in self._got:
            self._got[name] = super().get(name)
        return self._got[name]


def test_gan_face_editing_folder_serves_every_reference(tmp_path):
    arrays = _gfe_folder(tmp_path)
    stores = [_Memo(tmp_path / "unconditional", "m", (N, D)),
              _Memo(tmp_path / "conditional", "m", (N, D))]  # translate.folders order: conditional last
    assert BALD in stores[0] and "bald" in stores[0].names() and "Hc_4" not in stores[0].names()
    choices = [REFERENCE_VALUES[c] for c in REFERENCE_ORDER]
    n_faces = 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for values in itertools.product(*choices):
            labels = dict(zip(REFERENCE_ORDER, values))
            if (labels["Hc"] == 4) != (labels["Hs"] == 2):
                continue  # not a valid reference: bald is Hc 4 and Hs 2 together
            n_faces += 1
            chosen = select(labels, stores, "m", strict=True)
            assert list(chosen) == required_targets(labels)
            for target, t in chosen.items():
                assert t.delta.shape == (N, D)
                code = target.split("_")[0]
                fr = f"{target}_fr_{labels[code]}" if code in labels else None
                source = f"conditional/{fr}" if fr in CONDITIONAL else f"unconditional/{target}"
                if target == BALD:
                    source = "unconditional/Hc_4"
                    assert t.path.name == "Hc_4.npy" and t.name == BALD
                np.testing.assert_array_equal(t.delta, arrays[source][0])
    assert n_faces == 3 * 3 * 2 * 2 * 2 * 2 * 9 * 2  # every valid reference name: 2592
    plain = [TranslationStore(tmp_path / sub, "m", (N, D)) for sub in ("unconditional", "conditional")]
    for name in ("2_1_0_1_0_0_4_1_2", "0_0_1_0_1_1_1_0_1"):
        assert {k: v.path for k, v in select(name, plain, "m").items()} == \
            {k: v.path for k, v in select(name, stores, "m").items()}
    # no sidecar: model unknown, used with one warning per folder
    messages = [str(w.message) for w in caught]
    assert len(messages) == 2 and all("without a JSON sidecar" in m for m in messages)


def test_own_bald_wins_over_hc_4_and_sidecars_are_optional(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "Hc_4.npy", rng.normal(size=(1, 6, 8)).astype(np.float32))
    store = TranslationStore(tmp_path, "m")
    t = store.get(BALD)
    assert (t.name, t.default_strength, t.meta.get("mode", "shift"), t.model_id) == (BALD, 1.0, "shift", None)
    Translation(BALD, rng.normal(size=(6, 8)), {"model_id": "m"}).save(tmp_path)
    assert store.names() == [BALD] and store.get(BALD).path.name == "bald.npy"
    # a W direction (style_dim,) is one row until a model's shape is known
    np.save(tmp_path / "A_0.npy", rng.normal(size=8).astype(np.float32))
    assert store.get("A_0").delta.shape == (1, 8)
    assert TranslationStore(tmp_path, "m", (6, 8)).get("A_0").delta.shape == (6, 8)
    with pytest.raises(ModelMismatch, match=r"A_0.npy: a translation of shape \(8,\) does not fit this model"):
        TranslationStore(tmp_path, "m", (6, 9)).get("A_0")
    assert TranslationStore(tmp_path, "m").check() == []  # one W row and (6, 8) deltas mix


# ------------------------------------------------------------------ importers


def test_import_gan_face_editing_round_trip_and_export(tmp_path, tiny):
    n, d = tiny.n_latent, tiny.style_dim
    arrays = _gfe_folder(tmp_path / "default_translations", n, d)
    np.save(tmp_path / "default_translations" / "conditional" / "A_0.npy", arrays["unconditional/A_0"] * 2)
    out = tmp_path / "ours"
    done = import_translations(tmp_path / "default_translations", out, tiny)
    assert len(done) == len(GENERIC) + len(CURSORS) + len(CONDITIONAL)
    store = TranslationStore(out, tiny.model_id, (n, d))
    for key, array in arrays.items():
        name = BALD if key.endswith("Hc_4") else key.split("/")[1]
        expected = array[0] * (2 if name == "A_0" else 1)  # the conditional folder wins on a shared name
        np.testing.assert_array_equal(store.get(name).delta, expected)
    side = json.loads((out / "bald.json").read_text())
    assert side["model_id"] == tiny.model_id and side["source"]["format"] == "gan-face-editing"
    assert side["source"]["file"].endswith("unconditional/Hc_4.npy") and side["default_strength"] == 1.0
    # export writes their layout back: (1, n, d), bald as Hc_4, no sidecars
    written, skipped = export_gan_face_editing(out, tmp_path / "back", tiny.model_id)
    assert skipped == {} and len(written) == len(done)
    assert not list((tmp_path / "back").glob("*.json"))
    for key, array in arrays.items():
        if key != "unconditional/A_0":
            back = np.load(tmp_path / "back" / f"{key.split('/')[1]}.npy")
            assert back.shape == (1, n, d)
            np.testing.assert_array_equal(back, array)


def test_import_refuses_whole_folder_on_one_bad_file(tmp_path, tiny):
    src = tmp_path / "src"
    _gfe_folder(src)  # the FFHQ-1024 shapes (1, 18, 512): not this generator's
    out = tmp_path / "ours"
    with pytest.raises(ModelMismatch, match=r"A_0.npy: a translation of shape \(1, 18, 512\) does not fit this model: "
                       r"it needs \(6, 16\), \(1, 6, 16\), \(16,\) or \(1, 16\)"):
        import_translations(src, out, tiny)
    assert not out.exists() and [p.name for p in tmp_path.iterdir()] == ["src"]  # nothing half-imported
    small = tmp_path / "small"
    arrays = _gfe_folder(small, tiny.n_latent, tiny.style_dim)
    bad = arrays["conditional/Sk_2_fr_0"].copy()
    bad[0, 2, 3] = np.nan
    np.save(small / "conditional" / "Sk_2_fr_0.npy", bad)
    Translation("Ch_max", np.ones((tiny.n_latent, tiny.style_dim)), {"model_id": tiny.model_id}).save(out)
    before = sorted(p.name for p in out.iterdir())
    with pytest.raises(InvalidInput, match="Sk_2_fr_0.npy: the translation has NaN or infinite values"):
        import_translations(small, out, tiny)
    assert sorted(p.name for p in out.iterdir()) == before
    np.testing.assert_array_equal(np.load(out / "Ch_max.npy"), 1)


def test_import_interfacegan_boundaries(tmp_path, tiny):
    rng = np.random.default_rng(2)
    folder = tmp_path / "stylegan2_ffhq_w"
    folder.mkdir()
    boundary = rng.normal(size=(1, tiny.style_dim)).astype(np.float32)
    boundary /= np.linalg.norm(boundary)  # InterFaceGAN saves unit normals
    np.save(folder / "boundary_Smiling.npy", boundary)
    np.save(folder / "boundary_Young.npy", -boundary)
    out = tmp_path / "ours"
    with pytest.warns(UserWarning, match="InterFaceGAN's published boundaries"):
        done = import_translations(folder, out, tiny, samples=500)
    assert [t.name for t in done] == ["interfacegan_Smiling", "interfacegan_Young"]
    t = TranslationStore(out, tiny.model_id).get("interfacegan_Smiling")
    np.testing.assert_array_equal(t.delta, np.repeat(boundary, tiny.n_latent, axis=0))  # broadcast
    std = w_std_along(tiny, boundary[0], 500)
    assert t.meta["w_std_along"] == pytest.approx(std) and t.default_strength == pytest.approx(3 * std)
    assert t.meta["source"]["space"] == "w" and t.meta["source"]["file"].endswith("boundary_Smiling.npy")
    # the old naming also says W; a name that says nothing must be told, and Z is refused
    np.save(tmp_path / "stylegan_ffhq_age_w_boundary.npy", boundary)
    assert read_source(tmp_path / "stylegan_ffhq_age_w_boundary.npy")[1][0].attribute == "stylegan_ffhq_age"
    np.save(tmp_path / "stylegan_celebahq_age_boundary.npy", boundary)
    with pytest.raises(InvalidInput, match="give --space w or --space z"):
        read_source(tmp_path / "stylegan_celebahq_age_boundary.npy")
    with pytest.raises(InvalidInput, match="Z-space direction cannot edit W"):
        read_source(tmp_path / "stylegan_celebahq_age_boundary.npy", space="z")
    z = tmp_path / "stylegan2_ffhq_z"
    z.mkdir()
    np.save(z / "boundary_Bald.npy", boundary)
    with pytest.raises(InvalidInput, match="boundary_Bald.npy: a Z-space direction"):
        import_translations(z, out, tiny)
    # --as maps a direction to a challenge name; '-' negates it; --layers puts it on some rows
    with pytest.warns(UserWarning):
        import_translations(folder, out, tiny, layers="0-1", renames=["Young=-A_0", "Smiling=Be_max"], samples=500)
    got = TranslationStore(out, tiny.model_id).get("A_0").delta
    np.testing.assert_array_equal(got[:2], np.repeat(boundary, 2, axis=0))
    assert not got[2:].any()
    with pytest.raises(InvalidTranslationName):
        import_translations(folder, out, tiny, renames=["Young=A_7"])
    with pytest.raises(InvalidInput, match="say which one"):
        import_translations(folder, out, tiny, renames=["A_0"])


def test_import_ganspace_components(tmp_path, tiny):
    rng = np.random.default_rng(3)
    comp = rng.normal(size=(5, 1, tiny.style_dim)).astype(np.float32)
    comp /= np.linalg.norm(comp, axis=-1, keepdims=True)
    src = tmp_path / "stylegan2-ffhq_style_ipca_c5_n10000_w.npz"  # GANSpace's dump name with use_w
    np.savez_compressed(src, lat_comp=comp, lat_mean=rng.normal(size=(1, tiny.style_dim)).astype(np.float32),
                        lat_stdev=np.arange(1, 6, dtype=np.float32), act_comp=comp, var_ratio=np.ones(5, np.float32))
    out = tmp_path / "ours"
    done = import_translations(src, out, tiny, layers="2-4", components="1,3", samples=500)
    assert [t.name for t in done] == ["ganspace_c1", "ganspace_c3"]
    t = TranslationStore(out, tiny.model_id).get("ganspace_c3")
    np.testing.assert_array_equal(t.delta[2:5], np.repeat(comp[3], 3, axis=0))
    assert not t.delta[[0, 1, 5]].any() and t.meta["layers"] == [2, 3, 4]
    assert t.meta["source"]["source_stdev"] == 4.0 and t.meta["source"]["component"] == 3
    assert t.default_strength == pytest.approx(3 * w_std_along(tiny, comp[3, 0], 500))
    done = import_translations(src, out, tiny, renames=["c0=Bn_max"], components="0", samples=500)
    assert [t.name for t in done] == ["Bn_max"]
    np.savez(tmp_path / "other.npz", comp=comp)
    with pytest.raises(InvalidInput, match="no 'lat_comp'"):
        read_source(tmp_path / "other.npz", space="w")
    np.savez(tmp_path / "stylegan2-ffhq_style_ipca_c5_n10000.npz", lat_comp=comp)  # Z unless the name says _w
    with pytest.raises(InvalidInput, match="Z-space"):
        read_source(tmp_path / "stylegan2-ffhq_style_ipca_c5_n10000.npz")


class _Trap:
    """Unpickling this would create a file: a direction file must be read without running any code."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (self.marker,))


def test_import_anycost_directions_without_running_code(tmp_path, tiny):
    rng = np.random.default_rng(4)
    dirs = {f"{i:02d}_{a}": torch.from_numpy(rng.normal(size=(1, tiny.style_dim)).astype(np.float32))
            for i, a in enumerate(["5_o_Clock_Shadow", "Bald", "Young"])}
    src = tmp_path / "boundaries_anycost-ffhq-config-f.pt"
    torch.save(dirs, src)
    out = tmp_path / "ours"
    with pytest.warns(UserWarning, match="anycost-gan's published directions"):
        done = import_translations(src, out, tiny, renames=["Bald=bald"], samples=500)
    assert [t.name for t in done] == ["anycost_5_o_Clock_Shadow", "bald", "anycost_Young"]
    store = TranslationStore(out, tiny.model_id)
    for key, value in dirs.items():
        name = {"01_Bald": "bald"}.get(key, f"anycost_{key[3:]}")
        np.testing.assert_array_equal(store.get(name).delta, np.repeat(value.numpy(), tiny.n_latent, axis=0))
        assert store.get(name).meta["source"]["key"] == key
    marker = tmp_path / "ran"
    torch.save({"00_Evil": _Trap(marker)}, tmp_path / "evil.pt")
    with pytest.raises(InvalidInput, match="evil.pt: not a readable torch file of tensors"):
        read_source(tmp_path / "evil.pt")
    assert not marker.exists()


# ------------------------------------------------------------------ the CLI


def test_cli_import_export_and_one_line_errors(tmp_path, tiny, capsys):
    from faceedit.cli import main
    from faceedit.models.checkpoints import save_model

    ckpt = save_model(tiny, tmp_path / "tiny")
    boundary = np.random.default_rng(5).normal(size=(1, tiny.style_dim)).astype(np.float32)
    np.save(tmp_path / "stylegan_celebahq_smile_boundary.npy", boundary)
    out = tmp_path / "ours"
    rc = main(["translations", "import", str(tmp_path / "stylegan_celebahq_smile_boundary.npy"),
               "--generator", str(ckpt), "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1 and err == [f"error: {tmp_path / 'stylegan_celebahq_smile_boundary.npy'}: W and Z directions "
                               "look alike and its name does not say which this is: give --space w or --space z"]
    assert not out.exists()
    assert main(["translations", "import", str(tmp_path / "stylegan_celebahq_smile_boundary.npy"), "--space", "w",
                 "--as", "Ch_max", "--generator", str(ckpt), "--folder", str(out), "--model-id", "tiny-interop"]) == 0
    printed = capsys.readouterr()
    assert "imported 1 translations" in printed.out
    assert printed.err.startswith("warning: InterFaceGAN's published boundaries") and printed.err.count("\n") == 1
    np.testing.assert_array_equal(np.load(out / "Ch_max.npy"), np.repeat(boundary, tiny.n_latent, axis=0))
    assert main(["translations", "export", "--format", "gan-face-editing", "--out", str(tmp_path / "gfe"),
                 "--folder", str(out), "--model-id", "tiny-interop"]) == 0
    strength = json.loads((out / "Ch_max.json").read_text())["default_strength"]
    np.testing.assert_allclose(np.load(tmp_path / "gfe" / "Ch_max.npy"), strength * np.repeat(boundary, 6, 0)[None],
                               rtol=1e-6)
    # a latent in their layout (1, n, d) is applied like ours
    w = np.random.default_rng(6).normal(size=(1, tiny.n_latent, tiny.style_dim)).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    assert main(["translations", "apply", str(tmp_path / "w.npy"), "Ch_max", "--strength", "2", "--out",
                 str(tmp_path / "o.npy"), "--folder", str(out), "--model-id", "tiny-interop"]) == 0
    np.testing.assert_allclose(np.load(tmp_path / "o.npy"), w[0] + 2 * np.repeat(boundary, 6, 0), rtol=1e-6)
    np.save(tmp_path / "nan.npy", np.full((tiny.n_latent, tiny.style_dim), np.nan, np.float32))
    capsys.readouterr()
    assert main(["translations", "apply", str(tmp_path / "nan.npy"), "Ch_max", "--out", str(tmp_path / "p.npy"),
                 "--folder", str(out), "--model-id", "tiny-interop"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nan.npy: the latent has NaN or infinite values" in err[0]
    assert not (tmp_path / "p.npy").exists()

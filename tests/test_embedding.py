"""A face from an identity embedding (issue 22): input checks, the CLI's bad inputs, the shipped mapper against
the mean face on held-out photos, refinement, variants, the trainer's exact resume."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from faceedit.cli import main
from faceedit.errors import InvalidInput
from faceedit.testing import data_dir

pytestmark = pytest.mark.usefixtures("one_thread")

HELD_OUT = 8


@pytest.fixture(scope="module")
def held_out():
    """``(crops (N, 64, 64, 3), canonical descriptors (N, 128))`` of CelebA photos of held-out identities."""
    from faceedit.faces.identity import descriptors
    from faceedit.train.data import _celeba_records, align_record

    folder = data_dir() / "celeba"
    if not (folder / "img_89x109").is_dir():
        pytest.skip("shared data missing")
    records = [r for r in _celeba_records(folder / "img_89x109", folder / "img_89x109.csv", 0.1) if r.val]
    crops, seen = [], set()
    for r in records:
        if r.identity in seen:
            continue
        c = align_record(r.path, "celeba", 64)
        if c is not None:
            crops.append(c)
            seen.add(r.identity)
        if len(crops) == HELD_OUT:
            break
    crops = np.stack(crops)
    return crops, descriptors(crops)


@pytest.fixture(scope="module")
def models():
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.embedding_mapper import DEFAULT_MAPPER, load_embedding_mapper

    if not DEFAULT_MAPPER.is_file():
        pytest.skip("no built-in embedding mapper")
    return load_generator().eval(), load_embedding_mapper()


# ----------------------------------------------------------------------------------------------- input checks
@pytest.mark.parametrize("vec, words", [
    (np.ones(512), "512-d embeddings"),
    (np.ones(100), "100 values"),
    (np.r_[np.ones(127), np.nan], "NaN"),
    (np.zeros(128), "all zeros"),
    (np.ones((2, 3, 128)), "shape"),
])
def test_check_embedding_refuses(vec, words):
    from faceedit.embedding import check_embedding

    with pytest.raises(InvalidInput, match=words):
        check_embedding(vec)


def test_check_embedding_shapes():
    from faceedit.embedding import check_embedding

    assert check_embedding(np.ones(128)).shape == (1, 128)
    assert check_embedding(np.ones((3, 128))).shape == (3, 128)


def _bad_inputs(tmp_path):
    from faceedit.images import save_image

    files = {}
    for name, arr in (("arcface", np.ones(512, np.float32)), ("short", np.ones(100, np.float32)),
                      ("nan", np.r_[np.ones(127), np.inf].astype(np.float32)), ("zero", np.zeros(128, np.float32))):
        files[name] = tmp_path / f"{name}.npy"
        np.save(files[name], arr)
    files["noface"] = tmp_path / "noface.png"
    save_image(files["noface"], np.full((120, 120, 3), 128, np.uint8))
    files["missing"] = tmp_path / "missing.npy"
    return files


def test_cli_bad_inputs_one_error_line_nothing_written(tmp_path, capsys):
    files = _bad_inputs(tmp_path)
    for name, path in files.items():
        out = tmp_path / f"out_{name}"
        code = main(["from-embedding", str(path), "--out", str(out)])
        err = capsys.readouterr().err.strip().splitlines()
        assert code != 0, name
        assert len(err) == 1 and err[0].startswith("error:"), (name, err)
        assert not out.exists(), name
    main(["from-embedding", str(files["arcface"]), "--out", str(tmp_path / "o")])
    assert "not supported" in capsys.readouterr().err
    code = main(["identity", str(files["noface"]), "--out", str(tmp_path / "e.npy")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code != 0 and len(err) == 1 and "no face" in err[0]
    assert not (tmp_path / "e.npy").exists()


# ------------------------------------------------------------------------------------- the shipped mapper
def test_mapper_beats_mean_face_on_held_out(held_out, models):
    from faceedit.embedding import map_embeddings
    from faceedit.faces.identity import descriptors
    from faceedit.synthesis import synthesize

    G, M = models
    _, target = held_out
    mapped = descriptors(synthesize(G, map_embeddings(target, M)))
    mean = descriptors(synthesize(G, M.w_mean.numpy()[None]))[0]
    d_map = np.linalg.norm(mapped - target, axis=1)
    d_mean = np.linalg.norm(mean - target, axis=1)
    assert np.median(d_map) < np.median(d_mean) - 0.02
    assert (d_map < d_mean).mean() >= 0.6


def test_map_embeddings_spread_moves_codes_from_the_mean(held_out, models):
    """spread k gives w_mean + k (w - w_mean); None reads the mapper's calibrated spread (1 without one)."""
    import copy

    from faceedit.embedding import map_embeddings

    _, M = models
    _, target = held_out
    mean = M.w_mean.numpy()
    w1 = map_embeddings(target, M, spread=1.0)
    w13 = map_embeddings(target, M, spread=1.3)
    np.testing.assert_allclose(w13 - mean, 1.3 * (w1 - mean), rtol=1e-4, atol=1e-5)
    other = copy.deepcopy(M)
    other.meta = {k: v for k, v in M.meta.items() if k != "spread"}
    np.testing.assert_allclose(map_embeddings(target, other), w1, atol=1e-6)
    other.meta["spread"] = 1.3
    np.testing.assert_allclose(map_embeddings(target, other), w13, atol=1e-6)
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(InvalidInput, match="spread"):
            map_embeddings(target, M, spread=bad)


def test_spread_calibration_rule_sidecar_and_cli(tmp_path, held_out, models, capsys):
    """The calibration keeps the spread with the lowest median dlib distance among those dlib still finds faces
    for; it is written into the sidecar, read back by the mapper, and the CLI does the same from a pair folder."""
    import shutil

    from faceedit.cli import main
    from faceedit.embedding import map_embeddings
    from faceedit.models.embedding_mapper import DEFAULT_MAPPER, load_embedding_mapper
    from faceedit.train.embedding_mapper import calibrate_spread, save_spread
    from faceedit.train.embedding_pairs import _save_npz

    G, M = models
    _, target = held_out
    cal = calibrate_spread(target, G, M, candidates=(1.0, 1.4), min_detection=0.5)
    assert set(cal.table) == {1.0, 1.4}
    for row in cal.table.values():
        assert 0.0 < row["median"] < 1.5 and 0.0 <= row["detection"] <= 1.0
    fine = [k for k, r in cal.table.items() if r["detection"] >= 0.5]
    assert cal.spread == (min(fine, key=lambda k: cal.table[k]["median"]) if fine else 1.0)
    assert calibrate_spread(target, G, M, candidates=(1.4,), min_detection=1.01).spread == 1.0  # none passes
    copy = tmp_path / "mapper.safetensors"
    shutil.copy(DEFAULT_MAPPER, copy)
    shutil.copy(DEFAULT_MAPPER.with_suffix(".json"), copy.with_suffix(".json"))
    save_spread(copy, cal)
    again = load_embedding_mapper(copy)
    assert again.meta["spread"] == cal.spread and set(again.meta["spread_table"]) == {"1.0", "1.4"}
    np.testing.assert_allclose(map_embeddings(target, again), map_embeddings(target, M, spread=cal.spread), atol=1e-5)
    # the CLI reads the real pairs' photo descriptors of a pair folder
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    _save_npz(pairs / "real_0000.npz", {"index": np.arange(len(target)), "photo_desc": target,
                                        "render_desc": target, "w": map_embeddings(target, M)})
    capsys.readouterr()
    assert main(["train", "embedding-spread", "--mapper", str(copy), "--pairs", str(pairs), "--faces", "4"]) == 0
    out = capsys.readouterr().out
    assert out.count("spread 1") >= 4 and "written to" in out
    assert set(load_embedding_mapper(copy).meta["spread_table"]) == {"1.0", "1.15", "1.3", "1.5"}
    assert main(["train", "embedding-spread", "--mapper", str(copy), "--pairs", str(pairs), "--faces", "4",
                 "--measure-only"]) == 0
    assert load_embedding_mapper(copy).meta["spread"] == 1.0 and "not adopted" in capsys.readouterr().out + \
        load_embedding_mapper(copy).meta["spread_note"]
    before = copy.with_suffix(".json").read_bytes()
    assert main(["train", "embedding-spread", "--mapper", str(copy), "--pairs", str(tmp_path / "none")]) == 1
    assert capsys.readouterr().err.startswith("error: ") and copy.with_suffix(".json").read_bytes() == before


def test_refinement_lowers_descriptor_distance(held_out, models):
    from faceedit.embedding import RefineSettings, map_embeddings, refine_latent

    G, M = models
    _, target = held_out
    w = map_embeddings(target[:2], M)
    for i in range(2):
        _, hist = refine_latent(w[i], target[i], G, RefineSettings(iterations=3, population=4),
                                scale=M.w_std.numpy())
        assert all(b <= a for a, b in zip(hist, hist[1:]))
        assert hist[-1] < hist[0]


def test_four_faces_differ_but_share_identity(held_out, models):
    from faceedit.embedding import from_embedding
    from faceedit.faces.identity import descriptors
    from faceedit.measure.realism import generator_samples

    G, M = models
    _, target = held_out
    within, images = [], []
    for t in target[:3]:
        faces = from_embedding(t, n=4, rng_seed=1, generator=G, mapper=M, size=None)
        ims = np.stack([f[0] for f in faces])
        assert ims.shape == (4, 64, 64, 3)
        assert all(f[1].model_id == G.model_id for f in faces)
        for i in range(1, 4):  # the variants really differ from the mapper's face
            assert np.abs(ims[i].astype(float) - ims[0]).mean() > 3
        d = descriptors(ims)
        within += [np.linalg.norm(d[i] - d[j]) for i in range(4) for j in range(i + 1, 4)]
        images.append(ims)
    rand = descriptors(generator_samples(G, 8, seed=77))
    between = [np.linalg.norm(rand[i] - rand[j]) for i in range(8) for j in range(i + 1, 8)]
    assert np.mean(within) < np.mean(between) - 0.05
    again = from_embedding(target[0], n=4, rng_seed=1, generator=G, mapper=M, size=None)
    assert np.array_equal(np.stack([f[0] for f in again]), images[0])  # seeded


def test_cli_from_embedding_writes_tagged_128px_faces(tmp_path, held_out, models, capsys):
    from PIL import Image

    _, target = held_out
    emb = tmp_path / "emb.npy"
    np.save(emb, target[:2])
    assert main(["from-embedding", str(emb), "--n", "2", "--out", str(tmp_path / "out")]) == 0
    pngs = sorted((tmp_path / "out").glob("*.png"))
    assert [p.name for p in pngs] == ["emb0_0.png", "emb0_1.png", "emb1_0.png", "emb1_1.png"]
    im = Image.open(pngs[0])
    assert im.size == (128, 128) and im.text["synthetic"] == "true"
    assert np.load(tmp_path / "out" / "emb1_1.npy").shape == (10, 128)
    assert "upscaled to 128 px" in capsys.readouterr().out


def test_cli_identity_on_a_photo(tmp_path):
    from faceedit.embedding import photo_descriptor

    photo = sorted((data_dir() / "wild" / "images").glob("*.jpg"))[0]
    assert main(["identity", str(photo), "--out", str(tmp_path / "e.npy")]) == 0
    d = np.load(tmp_path / "e.npy")
    assert d.shape == (128,) and np.isfinite(d).all()
    assert np.allclose(d, photo_descriptor(photo), atol=1e-5)


# ------------------------------------------------------------------------------------------- the trainer
def _tiny_pairs(folder, n=96, seed=0, w_scale=1.0):
    from faceedit.train.embedding_pairs import _save_npz

    rng = np.random.default_rng(seed)
    basis = rng.normal(size=(128, 4 * 8)).astype(np.float32)
    desc = rng.normal(size=(n, 128)).astype(np.float32) * 0.1
    w = (desc @ basis).reshape(n, 4, 8) * w_scale
    folder.mkdir(parents=True, exist_ok=True)
    half = n // 2
    _save_npz(folder / "real_0000.npz", {"index": np.arange(half), "w": w[:half], "render_desc": desc[:half],
                                         "photo_desc": desc[:half] + 0.01})
    _save_npz(folder / "samples_0000.npz", {"index": np.arange(n - half), "w": w[half:],
                                            "render_desc": desc[half:]})


def _settings(tmp_path, out, steps, resume=False):
    from faceedit.train.embedding_mapper import MapperSettings

    return MapperSettings(pairs=str(tmp_path / "pairs"), out=str(tmp_path / out), steps=steps, batch=16,
                          hidden=32, depth=2, lr=0.01, log_every=5, checkpoint_every=10, resume=resume,
                          half=False, spread_faces=0)


def test_trainer_learns_and_resumes_exactly(tmp_path, monkeypatch):
    from faceedit.models.embedding_mapper import load_embedding_mapper
    from faceedit.train import loop
    from faceedit.train.embedding_mapper import train_embedding_mapper

    _tiny_pairs(tmp_path / "pairs")
    full = load_embedding_mapper(train_embedding_mapper(_settings(tmp_path, "a", 40), progress=False))
    calls = iter(range(10 ** 6))
    with monkeypatch.context() as m:  # the time budget runs out after 20 steps
        m.setattr(loop.Deadline, "passed", lambda self: next(calls) >= 19)
        train_embedding_mapper(_settings(tmp_path, "b", 40), progress=False, log=lambda msg: None)
    assert load_embedding_mapper(tmp_path / "b" / "embedding_mapper").meta["trained_steps"] == 20
    s = _settings(tmp_path, "b", 40, resume=True)
    resumed = load_embedding_mapper(train_embedding_mapper(s, progress=False))
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k
    import csv

    rows = list(csv.DictReader(open(tmp_path / "b" / "log.csv")))
    assert [int(r["step"]) for r in rows] == [5, 10, 15, 20, 25, 30, 35, 40]
    assert float(rows[-1]["latent_loss"]) < float(rows[0]["latent_loss"])
    assert full.meta["pairs"] == {"real": 48, "samples": 48} and full.meta["trained_steps"] == 40


def test_trainer_cycle_loss_through_a_frozen_student(tmp_path):
    """The cycle loss (render the predicted code, read it with the descriptor student, match the input) falls,
    is logged, and leaves the generator and the student untouched; a generator of another W+ shape is refused."""
    import csv

    from faceedit.errors import ConfigError
    from faceedit.models._files import save_model_file
    from faceedit.models.checkpoints import load_generator, save_model
    from faceedit.models.descriptor_student import KIND, DescriptorStudent, load_descriptor_student
    from faceedit.models.stylegan2 import Generator
    from faceedit.train.embedding_mapper import train_embedding_mapper

    _tiny_pairs(tmp_path / "pairs", w_scale=3.0)  # codes spread enough for renders to differ
    torch.manual_seed(0)
    G = Generator(8, style_dim=8, n_mlp=1, channel_multiplier=1, channel_max=8, model_id="tiny8")
    assert (G.n_latent, G.style_dim) == (4, 8)
    gen = save_model(G, tmp_path / "g")
    S = DescriptorStudent(input_size=8, width=4, blocks=(1, 1))
    with torch.no_grad():  # a random student barely reads its input: make its readout strong and centred
        S.head.weight.mul_(20.0)
        S.head.bias.zero_()
    student = save_model_file(S, tmp_path / "student.safetensors", KIND, {})
    before_g = {k: v.clone() for k, v in load_generator(gen).state_dict().items()}
    before_s = {k: v.clone() for k, v in load_descriptor_student(student).state_dict().items()}
    s = _settings(tmp_path, "cyc", 60)
    s.cycle_weight, s.cycle_batch, s.student, s.generator, s.dropout = 1.0, 8, str(student), str(gen), 0.0
    model = train_embedding_mapper(s, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "cyc" / "log.csv")))
    cycle = [float(r["cycle_loss"]) for r in rows]
    assert len(cycle) == 12 and np.mean(cycle[-3:]) < 0.5 * cycle[0]
    assert "cycle" in json.loads((tmp_path / "cyc" / "embedding_mapper.json").read_text())["meta"]["loss"]
    for k, v in load_generator(gen).state_dict().items():
        assert torch.equal(v, before_g[k]), k
    for k, v in load_descriptor_student(student).state_dict().items():
        assert torch.equal(v, before_s[k]), k
    # fine-tuning from a mapper starts from its weights
    s2 = _settings(tmp_path, "init", 0)
    s2.init = str(model)
    from faceedit.models.embedding_mapper import load_embedding_mapper

    a, b = load_embedding_mapper(model), load_embedding_mapper(train_embedding_mapper(s2, progress=False))
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    wrong = save_model(Generator(16, style_dim=8, n_mlp=1, channel_multiplier=1, channel_max=8), tmp_path / "g16")
    s3 = _settings(tmp_path, "wrong", 5)
    s3.cycle_weight, s3.student, s3.generator = 1.0, str(student), str(wrong)
    with pytest.raises(ConfigError, match="W\\+"):
        train_embedding_mapper(s3, progress=False)


def test_trainer_targets(tmp_path):
    from faceedit.errors import ConfigError
    from faceedit.train.embedding_mapper import training_arrays

    _tiny_pairs(tmp_path / "pairs")
    s = _settings(tmp_path, "c", 10)
    desc, w, counts = training_arrays(s)
    assert desc.shape == (96, 128) and w.shape == (96, 4, 8)
    s.target = "both"
    assert training_arrays(s)[0].shape == (144, 128)
    s.target = "photo"
    assert np.allclose(training_arrays(s)[0][:48], training_arrays(_settings(tmp_path, "c", 10))[0][:48] + 0.01)
    s.target = "nope"
    with pytest.raises(ConfigError):
        training_arrays(s)


def test_student_refinement_never_worse_by_dlib(held_out, models):
    from faceedit.embedding import StudentRefineSettings, map_embeddings, refine_latent_student
    from faceedit.models.descriptor_student import DescriptorStudent

    G, M = models
    _, target = held_out
    torch.manual_seed(0)
    student = DescriptorStudent(width=4, blocks=(1, 1))
    w = map_embeddings(target[:1], M)[0]
    code, hist = refine_latent_student(w, target[0], G, student, StudentRefineSettings(steps=3),
                                       scale=M.w_std.numpy())
    assert hist[1] <= hist[0] and code.shape == w.shape
    assert not any(p.grad is not None for p in G.parameters())  # only the code was optimised


def test_descriptor_student_trainer(tmp_path):
    from faceedit.models.descriptor_student import load_descriptor_student
    from faceedit.testing import synthetic_label_cache
    from faceedit.train.descriptor_student import StudentSettings, train_descriptor_student
    from faceedit.train.embedding_pairs import _save_npz
    from faceedit.edit.builder import training_subset
    from faceedit.models.checkpoints import save_model
    from faceedit.models.stylegan2 import Generator

    data = synthetic_label_cache(tmp_path / "cache.npz", n=48, size=16)
    n_train = len(training_subset(data))
    torch.manual_seed(0)
    G = Generator(16, style_dim=16, n_mlp=2, channel_multiplier=1, channel_max=16, model_id="tiny").eval()
    save_model(G, tmp_path / "g.safetensors")
    rng = np.random.default_rng(0)
    k = min(12, n_train)
    _save_npz(tmp_path / "pairs" / "real_0000.npz", {
        "index": np.arange(k), "w": rng.normal(size=(k, G.n_latent, 16)).astype(np.float32),
        "photo_desc": rng.normal(size=(k, 128)).astype(np.float32) * 0.1,
        "render_desc": rng.normal(size=(k, 128)).astype(np.float32) * 0.1})
    s = StudentSettings(pairs=str(tmp_path / "pairs"), cache=str(tmp_path / "cache.npz"), out=str(tmp_path / "s"),
                        generator=str(tmp_path / "g.safetensors"), steps=6, batch=4, width=4, log_every=2,
                        checkpoint_every=3)
    S = load_descriptor_student(train_descriptor_student(s, progress=False))
    assert S.meta["trained_steps"] == 6 and S.meta["n_faces"] == 2 * k
    assert S(torch.zeros(2, 3, 16, 16)).shape == (2, 128)



def test_face_recognizer_trainer_and_rank1(tmp_path):
    from faceedit.train.data import FaceData
    from faceedit.train.face_recognizer import (
        RecognizerSettings,
        load_face_recognizer,
        rank1,
        train_face_recognizer,
        training_identities,
    )

    rng = np.random.default_rng(0)
    n = 60
    identity = np.repeat(np.arange(20), 3)
    val = identity >= 16  # held-out identities: never trained on
    data = FaceData(images=rng.integers(0, 255, (n, 16, 16, 3), dtype=np.uint8), attrs=np.zeros((n, 40), np.float32),
                    age=np.full(n, np.nan, np.float32), gender=np.full(n, np.nan, np.float32), race=np.full(n, -1),
                    identity=identity, source=np.array(["celeba"] * n), val=val,
                    names=np.array([f"{i}.jpg" for i in range(n)]))
    data.save(tmp_path / "c.npz")
    rows, labels = training_identities(data)
    assert not val[rows].any() and labels.max() + 1 == 16
    s = RecognizerSettings(cache=str(tmp_path / "c.npz"), out=str(tmp_path / "r"), steps=4, batch=8, input_size=16,
                           width=4, log_every=2, checkpoint_every=2)
    R = load_face_recognizer(train_face_recognizer(s, progress=False))
    assert R.meta["identities"] == 16 and R.meta["trained_steps"] == 4
    emb = R.embed(data.images[:5])
    assert emb.shape == (5, 128) and np.allclose(np.linalg.norm(emb, axis=1), 1, atol=1e-5)
    # the probes are the photos themselves: each ranks first among 20
    assert rank1(R, data.images[:30], data.images[:30], np.zeros(30)) == 1.0


def test_cli_from_embedding_of_a_photo_keeps_64px_with_size_0(tmp_path, models):
    from PIL import Image

    photo = sorted((data_dir() / "wild" / "images").glob("*.jpg"))[0]
    assert main(["from-embedding", str(photo), "--n", "1", "--size", "0", "--out", str(tmp_path / "o")]) == 0
    im = Image.open(tmp_path / "o" / "emb0_0.png")
    assert im.size == (64, 64) and im.text["synthetic"] == "true" and im.text["source"] == photo.name


def test_cli_from_embedding_spread(tmp_path, held_out, models, capsys):
    """--spread K writes the mapper's code moved K times as far from the mean code (and says so in the PNG); a
    non-positive K is one error line with nothing written."""
    from PIL import Image

    _, M = models
    _, target = held_out
    emb = tmp_path / "e.npy"
    np.save(emb, target[0])
    base = ["from-embedding", str(emb), "--n", "1", "--size", "0", "--no-match-sex"]
    assert main(base + ["--out", str(tmp_path / "a")]) == 0
    assert main(base + ["--spread", "1.3", "--out", str(tmp_path / "b")]) == 0
    mean = M.w_mean.numpy()
    w1, w13 = np.load(tmp_path / "a" / "emb0_0.npy"), np.load(tmp_path / "b" / "emb0_0.npy")
    np.testing.assert_allclose(w13 - mean, 1.3 * (w1 - mean), rtol=1e-4, atol=1e-5)
    assert Image.open(tmp_path / "b" / "emb0_0.png").text["spread"] == "1.3"
    capsys.readouterr()
    assert main(base + ["--spread", "0", "--out", str(tmp_path / "c")]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error:") and "spread" in err[0] and not (tmp_path / "c").exists()


def test_refine_methods_of_from_embedding(held_out, models):
    from faceedit.embedding import from_embedding, map_embeddings
    from faceedit.models.descriptor_student import DEFAULT_STUDENT

    G, M = models
    _, target = held_out
    w = map_embeddings(target[:1], M)[0]
    if DEFAULT_STUDENT.is_file():
        (img, latent), = from_embedding(target[0], n=1, generator=G, mapper=M, refine="student", size=None)
        assert img.shape == (64, 64, 3) and latent.w.shape == w.shape
    with pytest.raises(InvalidInput, match="unknown refinement"):
        from_embedding(target[0], n=1, generator=G, mapper=M, refine="gradient-free")


def test_match_sex_applies_the_sex_edit_only_where_descriptor_and_render_disagree(held_out, models):
    """The built-in mapper carries a descriptor → sex readout (fitted on training photos' labels); a code whose
    render the fitting predictor reads as the other sex gets the generator's sex edit, nothing else changes."""
    from faceedit.edit.translations import TranslationStore, apply
    from faceedit.embedding import SEX_EDITS, SEX_STEPS, descriptor_sex, map_embeddings, match_sex
    from faceedit.models.attributes import load_attribute_predictor
    from faceedit.synthesis import synthesize

    G, M = models
    _, target = held_out
    p = descriptor_sex(target, M)
    assert p.shape == (len(target),) and ((p >= 0) & (p <= 1)).all()
    assert M.meta["sex_readout"]["cv_accuracy"] > 0.85
    w = map_embeddings(target, M)
    read = load_attribute_predictor().predict(synthesize(G, w))["gender"]
    codes, applied = match_sex(w, target, G, M)
    store = TranslationStore.default(G.model_id)
    after = load_attribute_predictor().predict(synthesize(G, codes))["gender"]

    def strength_used(w0, code, name):
        """The fraction of SEX_STEPS whose edit of w0 gives code (None if none)."""
        t = store.get(name)
        for f in SEX_STEPS:
            if np.allclose(code, apply(w0, t, strength=f * t.default_strength), atol=1e-5):
                return f
        return None

    for i, name in enumerate(applied):
        if p[i] > 0.75 and read[i] < 0.5:
            assert name == SEX_EDITS[0]
        elif p[i] < 0.25 and read[i] > 0.5:
            assert name == SEX_EDITS[1]
        else:
            assert name is None
        if name is None:
            np.testing.assert_array_equal(codes[i], w[i])
            continue
        f = strength_used(w[i], codes[i], name)
        assert f is not None, i
        if f < SEX_STEPS[-1]:  # stopped early: the fitting predictor reads the intended sex
            assert (after[i] > 0.5) == (name == SEX_EDITS[0]), (i, f, after[i])
    # a descriptor that says "female" for sure, with a code read as male, is edited towards female
    code_m = apply(w[0], store.get(SEX_EDITS[1]))
    assert load_attribute_predictor().predict(synthesize(G, code_m[None]))["gender"][0] < 0.5
    sure_female = 10 * np.asarray(M.meta["sex_readout"]["weight"], np.float32)  # far on the female side
    assert descriptor_sex(sure_female[None], M)[0] > 0.99
    edited, names = match_sex(code_m[None], sure_female[None], G, M)
    assert names == [SEX_EDITS[0]] and strength_used(code_m, edited[0], SEX_EDITS[0]) is not None
    # without a readout (an older mapper file) nothing changes
    bare = type(M)(**M.config())
    bare.load_state_dict(M.state_dict())
    same, names = match_sex(w, target, G, bare)
    assert names == [None] * len(w) and np.array_equal(same, w)


def test_fit_sex_readout_on_labelled_descriptors():
    from faceedit.embedding import descriptor_sex, fit_sex_readout

    rng = np.random.default_rng(0)
    female = (rng.random(200) < 0.5).astype(np.float32)
    desc = rng.normal(size=(200, 128)).astype(np.float32) * 0.1
    desc[:, :4] += (female[:, None] - 0.5) * 0.4  # the labels live along a few coordinates
    female[::10] = np.nan  # unlabelled photos are left out
    r = fit_sex_readout(desc, female)
    assert r["n"] == 180 and r["cv_accuracy"] > 0.8 and len(r["weight"]) == 128

    class Mapper:
        meta = {"sex_readout": r}

    p = descriptor_sex(desc, Mapper())
    ok = np.isfinite(female)
    assert np.mean((p[ok] > 0.5) == (female[ok] > 0.5)) > 0.9
    with pytest.raises(InvalidInput, match="both sexes"):
        fit_sex_readout(desc, np.ones(200, np.float32))

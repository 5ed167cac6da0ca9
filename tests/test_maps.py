"""Segmentation maps (issue 21): map I/O and validation, the from-map command's errors, the map encoder's
training (resume is exact) and a real photo's round trip parse → from_map → parse."""
import json
import subprocess
import sys

import numpy as np
import pytest

from faceedit.errors import InvalidInput
from faceedit.maps.io import as_map, labels_from_rgb, read_map, save_map
from faceedit.faces.parsing import LABEL, PALETTE, colorize

pytestmark = pytest.mark.usefixtures("one_thread")


def face_map(size: int = 64, dx: int = 0) -> np.ndarray:
    """A cartoon face map: hair, skin, brows, eyes, nose, lips."""
    import cv2

    m = np.zeros((size, size), np.uint8)
    s = size / 64
    c = lambda x, y: (int((x + dx) * s), int(y * s))  # noqa: E731
    cv2.ellipse(m, c(32, 30), (int(22 * s), int(26 * s)), 0, 0, 360, LABEL["hair"], -1)
    cv2.ellipse(m, c(32, 36), (int(16 * s), int(21 * s)), 0, 0, 360, LABEL["skin"], -1)
    for name, x in (("l_brow", 25), ("r_brow", 39)):
        cv2.rectangle(m, c(x - 4, 26), c(x + 4, 27), LABEL[name], -1)
    for name, x in (("l_eye", 25), ("r_eye", 39)):
        cv2.ellipse(m, c(x, 31), (int(3 * s), int(1.5 * s)), 0, 0, 360, LABEL[name], -1)
    cv2.rectangle(m, c(30, 31), c(34, 41), LABEL["nose"], -1)
    cv2.ellipse(m, c(32, 47), (int(6 * s), int(1.5 * s)), 0, 180, 360, LABEL["u_lip"], -1)
    cv2.ellipse(m, c(32, 47), (int(6 * s), int(2 * s)), 0, 0, 180, LABEL["l_lip"], -1)
    return m


def test_index_and_palette_png_read_the_same(tmp_path):
    m = face_map(128)
    save_map(tmp_path / "ids.png", m)
    save_map(tmp_path / "colours.png", m, colour=True)
    a, b = read_map(tmp_path / "ids.png", 64), read_map(tmp_path / "colours.png", 64)
    assert a.shape == (64, 64) and np.array_equal(a, b)
    assert np.array_equal(a, m[::2, ::2])  # nearest neighbour
    assert np.array_equal(read_map(tmp_path / "colours.png"), m)
    assert np.array_equal(labels_from_rgb(PALETTE[m]), m)
    assert np.array_equal(as_map(colorize(m), 32), as_map(m, 32))


@pytest.mark.parametrize("bad, message", [
    (np.full((64, 64), 25, np.uint8), "unknown class id"),
    (np.zeros((64, 64), np.uint8), "empty"),
    (np.where(face_map() == LABEL["skin"], LABEL["hair"], face_map()).astype(np.uint8), "no skin"),
    (face_map()[:, :40], "square"),
])
def test_bad_maps_are_refused(bad, message):
    with pytest.raises(InvalidInput, match=message):
        as_map(bad)


def test_unknown_colour_is_refused():
    rgb = colorize(face_map())
    rgb[0, 0] = (1, 2, 3)
    with pytest.raises(InvalidInput, match=r"not in the 19-class palette, e.g. \(1, 2, 3\)"):
        labels_from_rgb(rgb)


def _bad_files(tmp_path):
    from faceedit.images import save_image

    files = {}
    rgb = colorize(face_map())
    rgb[5:9, 5:9] = (10, 200, 30)
    save_image(tmp_path / "colour.png", rgb)
    files["colour"] = (tmp_path / "colour.png", "palette")
    import cv2

    for name, arr, msg in (("ids", np.full((64, 64), 40, np.uint8), "unknown class id"),
                           ("empty", np.zeros((64, 64), np.uint8), "empty"),
                           ("noskin", np.where(face_map() == 1, 17, face_map()).astype(np.uint8), "no skin"),
                           ("wide", np.zeros((32, 64), np.uint8) + 1, "square")):
        cv2.imwrite(str(tmp_path / f"{name}.png"), arr)
        files[name] = (tmp_path / f"{name}.png", msg)
    (tmp_path / "text.png").write_text("not an image")
    files["text"] = (tmp_path / "text.png", "not an image")
    return files


def test_from_map_cli_bad_input_is_one_error_line_and_writes_nothing(tmp_path):
    for name, (path, msg) in _bad_files(tmp_path).items():
        out, lat = tmp_path / f"out_{name}.png", tmp_path / f"w_{name}.npy"
        r = subprocess.run([sys.executable, "-m", "faceedit", "from-map", str(path), "--out", str(out),
                            "--latent-out", str(lat)], capture_output=True, text=True)
        lines = r.stderr.strip().splitlines()
        assert r.returncode != 0, name
        assert len(lines) == 1 and lines[0].startswith("error:") and msg in lines[0], (name, r.stderr)
        assert not out.exists() and not lat.exists()


def _tiny_pairs(folder, n: int = 24, seed: int = 0):
    """A pairs folder of cartoon maps (shifted), their colours as images and random W+ codes."""
    from faceedit.models.checkpoints import load_generator

    G = load_generator()
    rng = np.random.default_rng(seed)
    maps = np.stack([face_map(64, int(d)) for d in rng.integers(-4, 5, n)])
    w = rng.normal(size=(n, G.n_latent, G.style_dim)).astype(np.float32) * 0.3
    folder.mkdir()
    for kind, sl in (("real", slice(0, n - 8)), ("val", slice(n - 8, n))):
        np.savez(folder / f"{kind}_000.npz", maps=maps[sl], ok=np.ones(len(maps[sl]), bool), w=w[sl],
                 index=np.arange(n)[sl], images=PALETTE[maps[sl]])


def _cfg(steps: int):
    from faceedit.config import load_config
    from faceedit.train.map_encoder import DEFAULTS

    return load_config(DEFAULTS, None, ["train.parser_steps=2", f"train.steps={steps}", "train.latent_only_steps=1",
                                        "train.batch=4", "train.checkpoint_every=2", "train.log_every=1",
                                        "train.eval_maps=4", 'train.kinds=["real"]', "encoder.width=8",
                                        "parser.width=8"])


def test_map_encoder_training_runs_and_resume_is_exact(tmp_path):
    import torch

    from faceedit.models.map_encoder import load_map_encoder, load_tiny_parser
    from faceedit.train.map_encoder import train_map_encoder

    _tiny_pairs(tmp_path / "pairs")
    result = train_map_encoder(tmp_path / "pairs", tmp_path / "a", _cfg(4))
    assert set(result) >= {"from_map_skin", "parser_hair"}
    train_map_encoder(tmp_path / "pairs", tmp_path / "b", _cfg(2))
    train_map_encoder(tmp_path / "pairs", tmp_path / "b", _cfg(4), resume=True)
    ea, eb = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False), \
        torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert ea["step"] == eb["step"] == 6
    for k in ea["E"]:
        assert torch.equal(ea["E"][k], eb["E"][k]), k
    rows = [r for r in (tmp_path / "a" / "log.jsonl").read_text().splitlines()]
    assert len(rows) == 4
    E = load_map_encoder(tmp_path / "a" / "map_encoder.safetensors")
    assert E(torch.from_numpy(face_map()[None]).long()).shape[1:] == (E.n_latent, E.style_dim)
    assert load_tiny_parser(tmp_path / "a" / "tiny_parser").meta["parser_steps"] == 2
    from faceedit.maps.edit import GAIN_GRID

    assert E.meta["edit_gain"] in GAIN_GRID and set(E.meta["edit_gain_table"]) == {str(g) for g in GAIN_GRID}
    # the command re-calibrates a saved encoder (same maps, same reader: the same table) and rewrites its sidecar
    side = tmp_path / "a" / "map_encoder.json"
    before = json.loads(side.read_text())["meta"]
    side.write_text(side.read_text().replace('"edit_gain":', '"edit_gain_was":'))
    r = subprocess.run([sys.executable, "-m", "faceedit", "train", "map-edit-gain", "--encoder",
                        str(tmp_path / "a" / "map_encoder.safetensors"), "--pairs", str(tmp_path / "pairs"),
                        "--parser", str(tmp_path / "a" / "tiny_parser.safetensors"), "--threads", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    after = json.loads(side.read_text())["meta"]
    assert after["edit_gain"] == before["edit_gain"] and f"edit_gain {before['edit_gain']:g} written" in r.stdout
    for g, row in before["edit_gain_table"].items():
        assert after["edit_gain_table"][g] == pytest.approx(row, abs=1e-6)


def test_real_photo_round_trip_beats_a_constant_face():
    """parse a real photo → from_map → parse: closer to the photo's map than the mean face's parsing is."""
    from faceedit.maps.generate import MapModels, from_map
    from faceedit.maps.measure import group_iou
    from faceedit.maps.pairs import parse_face_map
    from faceedit.models.map_encoder import DEFAULT_MAP_ENCODER
    from faceedit.synthesis import synthesize
    from faceedit.testing import celeba_crops_data

    data = celeba_crops_data(8)
    if data is None or not DEFAULT_MAP_ENCODER.is_file():
        pytest.skip("needs the shared CelebA photos and the built-in map encoder")
    models = MapModels.load()
    G = models.generator
    mean_face = parse_face_map(synthesize(G, G.mean_latent(4096).numpy()[None].repeat(G.n_latent, 1))[0])
    groups = ("skin", "hair", "nose", "lips")
    made, constant = [], []
    for photo in data.images:
        target = parse_face_map(photo)
        if target is None:
            continue
        result = parse_face_map(from_map(target, models=models).image)
        assert result is not None
        made.append(np.nanmean(list(group_iou(result, target, groups).values())))
        constant.append(np.nanmean(list(group_iou(mean_face, target, groups).values())))
    assert len(made) >= 6
    assert np.mean(made) > np.mean(constant) + 0.05, (np.mean(made), np.mean(constant))


def test_scale_part_reaches_the_asked_area_and_leaves_the_rest():
    from faceedit.maps.edit import lower_hairline, scale_part
    from faceedit.maps.measure import group_mask

    m = face_map(128)  # at 64 px a 5 px wide nose grows in jumps of a pixel column
    nose = group_mask(m, "nose").sum()
    for area in (1.3, 0.7):
        out = scale_part(m, ("nose",), area)
        got = group_mask(out, "nose").sum() / nose
        assert (got >= area if area > 1 else got <= area) and abs(got - area) < 0.2, (area, got)
        changed = out != m
        assert np.isin(m[changed], [LABEL["skin"], LABEL["nose"]]).all()
    lips = scale_part(m, ("mouth", "u_lip", "l_lip"), 1.3)  # a thin part overshoots, but grows
    assert group_mask(lips, "lips").sum() >= 1.3 * group_mask(m, "lips").sum()
    assert np.array_equal(scale_part(m, ("hat",), 1.5), m)  # absent part: unchanged
    low = lower_hairline(m, 0.1)
    assert (low == LABEL["hair"]).sum() > (m == LABEL["hair"]).sum() and ((low != m) <= (m == LABEL["skin"])).all()
    with pytest.raises(InvalidInput, match="area"):
        scale_part(m, ("nose",), 9.0)


def test_editing_a_real_face_through_its_map_keeps_it_and_moves_the_part():
    """The unedited map gives back the face exactly; bigger lips in the map make the rendered lips bigger (read
    by the landmarks parser, which had no part in training or calibrating the gain), more than re-making the face
    from the edited map does, and the rest of the face keeps its parts."""
    from faceedit.maps.edit import default_gain, edit_with_map, scale_part
    from faceedit.maps.generate import MapModels, from_map
    from faceedit.maps.measure import GROUPS, group_iou, group_mask
    from faceedit.maps.pairs import parse_face_map
    from faceedit.models.map_encoder import DEFAULT_MAP_ENCODER
    from faceedit.testing import celeba_crops_data

    data = celeba_crops_data(12)
    if data is None or not DEFAULT_MAP_ENCODER.is_file():
        pytest.skip("needs the shared CelebA photos and the built-in map encoder")
    models = MapModels.load()
    assert default_gain(models) > 1  # calibrated: the encoder alone answers map changes too weakly
    base_area = edit_area = remake_area = 0
    rest = []
    for photo in data.images:
        m = parse_face_map(photo)
        if m is None:
            continue
        face = from_map(m, models=models)
        same = edit_with_map(face.latent, m, m, models=models)
        assert np.array_equal(same.image, face.image) and np.array_equal(same.latent.w, face.latent.w)
        bigger = scale_part(m, ("mouth", "u_lip", "l_lip"), 1.3)
        base, edit = parse_face_map(face.image), parse_face_map(edit_with_map(face.latent, m, bigger, models).image)
        remake = parse_face_map(from_map(bigger, style=face.latent.w, models=models).image)
        if base is None or edit is None or remake is None:
            continue
        base_area += group_mask(base, "lips").sum()
        edit_area += group_mask(edit, "lips").sum()
        remake_area += group_mask(remake, "lips").sum()
        rest.append(np.nanmean(list(group_iou(edit, base, tuple(g for g in GROUPS if g != "lips")).values())))
    assert len(rest) >= 8
    assert edit_area > 1.1 * base_area and edit_area > remake_area, (base_area, edit_area, remake_area)
    assert np.mean(rest) > 0.8, rest


def test_from_map_cli_edits_the_style_face_with_base_map(tmp_path):
    """--base-map without --style is an error; with the unedited map as MAP the style face comes back as it was."""
    from faceedit.images import load_image
    from faceedit.models.checkpoints import load_generator
    from faceedit.models.map_encoder import DEFAULT_MAP_ENCODER
    from faceedit.synthesis import synthesize

    save_map(tmp_path / "m.png", face_map())
    cmd = [sys.executable, "-m", "faceedit", "from-map", str(tmp_path / "m.png"), "--base-map", str(tmp_path / "m.png"),
           "--out", str(tmp_path / "o.png")]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode != 0 and r.stderr.strip().startswith("error:") and "--style" in r.stderr
    assert not (tmp_path / "o.png").exists()
    if not DEFAULT_MAP_ENCODER.is_file():
        pytest.skip("no built-in map encoder")
    G = load_generator().eval()
    w = (G.mean_latent(4096).numpy().repeat(G.n_latent, 0) + 0.3).astype(np.float32)
    np.save(tmp_path / "w.npy", w)
    r = subprocess.run(cmd + ["--style", str(tmp_path / "w.npy"), "--latent-out", str(tmp_path / "w2.npy")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "w2.npy"), w)
    assert np.array_equal(load_image(tmp_path / "o.png"), synthesize(G, w[None])[0])


def test_build_pairs_reuses_the_photos_parses_for_a_new_generator(tmp_path):
    """Pairs for a new generator (new W+ codes) copy the photo chunks (real, val) of an older folder, with the new
    codes, and parse only the renders; chunks of other photos are parsed again."""
    from faceedit.edit.builder import training_subset
    from faceedit.maps.pairs import PairSettings, build_pairs, load_pairs
    from faceedit.models.checkpoints import load_generator
    from faceedit.testing import celeba_crops_data

    data = celeba_crops_data(10, held_out=3)
    if data is None:
        pytest.skip("needs the shared CelebA photos")
    data.save(tmp_path / "cache.npz")
    G = load_generator().eval()
    n = len(training_subset(data))
    rng = np.random.default_rng(0)
    for name in ("old", "new"):
        w = np.tile(G.mean_latent(256).numpy().reshape(-1), (n, G.n_latent, 1))
        np.save(tmp_path / f"{name}.npy", (w + 0.2 * rng.normal(size=w.shape)).astype(np.float32))
    common = dict(cache=str(tmp_path / "cache.npz"), real=4, samples=2, val=2, workers=1)
    build_pairs(PairSettings(latents=str(tmp_path / "old.npy"), out=str(tmp_path / "a"), **common), G=G,
                log=lambda m: None)
    logged = []
    build_pairs(PairSettings(latents=str(tmp_path / "new.npy"), out=str(tmp_path / "b"), reuse=str(tmp_path / "a"),
                             **common), G=G, log=logged.append)
    assert sorted(m.split(":")[0] for m in logged if "reused" in m) == ["real_000.npz", "val_000.npz"]
    a, b = load_pairs(tmp_path / "a", "real", only_ok=False), load_pairs(tmp_path / "b", "real", only_ok=False)
    assert np.array_equal(a["maps"], b["maps"]) and np.array_equal(a["index"], b["index"])
    new = np.load(tmp_path / "new.npy")
    assert not np.allclose(a["w"], b["w"]) and np.array_equal(b["w"], new[np.linspace(0, n - 1, 4).round().astype(int)])
    # another photo set (more real faces: other rows) is not taken from the old folder
    logged.clear()
    build_pairs(PairSettings(latents=str(tmp_path / "new.npy"), out=str(tmp_path / "c"), reuse=str(tmp_path / "a"),
                             **{**common, "real": 5}), G=G, log=logged.append)
    assert [m for m in logged if m.startswith("real_000") and "reused" in m] == []

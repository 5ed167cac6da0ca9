"""Mixups: the blending primitive, the three region kinds, the Mixer chain, errors and empty regions."""
import numpy as np
import pytest

from faceedit.config import load_config, save_config
from faceedit.errors import ConfigError, InvalidInput, InvalidTranslationName, NoFaceFound
from faceedit.compose.mixups import (
    DEFAULTS,
    Mixer,
    blend,
    characteristic,
    distance_to_outside,
    feather_alpha,
    mixer_config,
    nearer_foreground,
    resize_nearest,
)
from faceedit.faces.regions import REGIONS, rasterize

HAIR, NOSE, L_EYE, R_EYE, MOUTH, U_LIP, L_LIP, SKIN, CLOTH, HAT = 17, 10, 4, 5, 11, 12, 13, 1, 16, 18


def _pair(size, seed=0):
    rng = np.random.default_rng(seed)
    original = rng.integers(0, 128, (size, size, 3), dtype=np.uint8)
    edited = rng.integers(128, 256, (size, size, 3), dtype=np.uint8)
    return original, edited


def _dist_from(region):
    """Euclidean distance of every pixel to ``region`` (0 inside)."""
    return distance_to_outside(~region) if region.any() else np.full(region.shape, np.inf)


def _check_mixed(out, original, edited, allowed, feather_px):
    """Edited exactly inside ``allowed``; original exactly beyond ``feather_px`` of it; in between, between."""
    dist = _dist_from(allowed)
    inside, outside = allowed, dist > feather_px + 1e-3
    assert np.array_equal(out[inside], edited[inside])
    assert np.array_equal(out[outside], original[outside])
    lo, hi = np.minimum(original, edited), np.maximum(original, edited)
    assert (out >= lo).all() and (out <= hi).all()


# --------------------------------------------------------------------------- blend


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_blend_exact_outside_feather_and_inside_edit(size):
    original, edited = _pair(size)
    allowed = np.zeros((size, size), bool)
    allowed[size // 4 : size // 2, size // 3 : 2 * size // 3] = True
    feather = 0.08 * size
    out = blend(original, edited, ~allowed, feather)
    assert out.dtype == np.uint8 and out.shape == original.shape
    _check_mixed(out, original, edited, allowed, feather)
    # half-way through the feather, straight above the region's top edge: alpha = dist / feather
    row, col = size // 4 - int(round(feather / 2)), size // 2
    dist = size // 4 - row
    expected = dist / feather * original[row, col].astype(np.float32) + (1 - dist / feather) * edited[row, col]
    np.testing.assert_allclose(out[row, col], np.rint(expected), atol=1)


def test_blend_alpha_profile_linear_and_exponential():
    keep = np.zeros((1, 200), bool)
    keep[:, 100:] = True  # distance d at column 99 + d
    lin = feather_alpha(keep, (1, 200), 40)[0]
    exp = feather_alpha(keep, (1, 200), 40, "exponential")[0]
    np.testing.assert_allclose(lin[100:141], np.minimum(np.arange(1, 42) / 40, 1), atol=1e-6)
    assert (lin[:100] == 0).all() and (lin[139:] == 1).all() and (exp[139:] == 1).all() and (exp[:100] == 0).all()
    assert (np.diff(exp) >= 0).all() and (exp[101:139] > lin[101:139]).all()  # steeper start, same ends


def test_blend_float_in_float_out_and_hard_mask():
    original, edited = _pair(32)
    keep = np.zeros((32, 32), bool)
    keep[:, :10] = True
    out = blend(original / 255.0, edited.astype(np.float32) / 255.0, keep, 0)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :10], (original / 255.0)[:, :10].astype(np.float32))
    np.testing.assert_array_equal(out[:, 10:], (edited / 255.0)[:, 10:].astype(np.float32))
    # everything kept / nothing kept
    assert np.array_equal(blend(original, edited, np.ones((32, 32), bool), 5), original)
    assert np.array_equal(blend(original, edited, np.zeros((32, 32), np.uint8), 5), edited)


def test_blend_resizes_small_mask_nearest():
    original, edited = _pair(256)
    small = np.zeros((32, 32), np.uint8)
    small[8:20, 4:30] = 255
    big = np.kron(small, np.ones((8, 8), np.uint8))
    assert np.array_equal(resize_nearest(small, (256, 256)), big)
    assert np.array_equal(blend(original, edited, small, 12), blend(original, edited, big > 0, 12))
    # a (h, w, 1) mask is accepted too
    assert np.array_equal(blend(original, edited, small[:, :, None], 12), blend(original, edited, big > 0, 12))


_IMG = np.zeros((8, 8, 3), np.uint8)
_MASK = np.zeros((8, 8), bool)


@pytest.mark.parametrize(
    "original, edited, mask, feather, message",
    [
        (_IMG, _IMG, np.zeros((8, 8), np.float32), 2, "bool or uint8"),
        (_IMG, _IMG, np.zeros((8, 8, 3), bool), 2, "2-D"),
        (_IMG, _IMG, np.zeros((0, 8), bool), 2, "non-empty"),
        (_IMG.astype(np.int16), _IMG, _MASK, 2, "uint8 or float"),
        (_IMG, np.zeros((9, 8, 3), np.uint8), _MASK, 2, "differ in shape"),
        (_IMG, _IMG, _MASK, -1, "feather_px"),
        (_IMG, _IMG, _MASK, "x", "feather_px"),
    ],
)
def test_blend_rejects_bad_input(original, edited, mask, feather, message):
    with pytest.raises(InvalidInput, match=message):
        blend(original, edited, mask, feather)


# --------------------------------------------------------------------------- regions


def _at(mask, x, y):
    h, w = mask.shape
    return bool(mask[int(y * h), int(x * w)])


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_regions_cover_measured_landmarks_at_any_size(size):
    m = {name: rasterize(shapes, size) for name, shapes in REGIONS.items()}
    for eye in ((0.378, 0.475), (0.622, 0.474)):
        assert _at(m["eyes"], *eye) and not _at(m["under_eyes"], *eye) and not _at(m["hair"], *eye)
        assert _at(m["under_eyes"], eye[0], eye[1] + 0.05)
    assert _at(m["nose"], 0.5, 0.66) and _at(m["nose"], 0.5, 0.5) and not _at(m["nose"], 0.5, 0.75)
    assert _at(m["mouth"], 0.5, 0.728) and _at(m["mouth"], 0.39, 0.728) and not _at(m["mouth"], 0.5, 0.66)
    assert _at(m["chin_neck"], 0.498, 0.93) and _at(m["chin_neck"], 0.5, 0.99) and not _at(m["chin_neck"], 0.5, 0.75)
    assert _at(m["hair"], 0.5, 0.1) and _at(m["hair"], 0.5, 0.3) and _at(m["hair"], 0.1, 0.6)
    assert not _at(m["hair"], 0.5, 0.6) and not _at(m["hair"], 0.5, 0.95)
    # the same normalised area at every size
    expected = {"hair": 0.711, "eyes": 0.0176, "nose": 0.0297, "mouth": 0.0308, "chin_neck": 0.0987}
    for name, fraction in expected.items():
        assert abs(m[name].mean() - fraction) < 0.1 * fraction + 2 / size, name


def test_region_shapes_and_errors():
    rect = rasterize([["rect", [0.25, 0.5, 0.75, 1.0]]], (4, 8))
    assert rect.astype(int).tolist() == [[0] * 8, [0] * 8, [0, 0, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 0, 0]]
    tri = rasterize([["polygon", [[0, 0], [1, 0], [0, 1]]]], 10)
    centre_sum = np.add.outer(np.arange(10), np.arange(10)) + 1  # 10 * (x + y) of pixel centres
    assert np.array_equal(tri[centre_sum != 10], (centre_sum < 10)[centre_sum != 10])  # off the edge itself
    ring = rasterize([["ellipse", [0.5, 0.5, 0.5, 0.5]], ["-ellipse", [0.5, 0.5, 0.25, 0.25]]], 100)
    assert ring[50, 5] and not ring[50, 50] and not ring[0, 0]
    rotated = rasterize([["ellipse", [0.5, 0.5, 0.4, 0.05], 90]], 100)
    assert rotated[20, 50] and not rotated[50, 20]
    for bad in ([["circle", [0.5, 0.5, 0.1]]], [["ellipse", [0.5, 0.5, 0, 0.1]]], [["polygon", [[0, 0], [1, 1]]]],
                [{"rect": [0, 0, 1, 1]}], "hair", [["rect", ["a", 0, 1, 1]]]):
        with pytest.raises(ConfigError):
            rasterize(bad, 16)


def test_defaults_survive_a_toml_round_trip(tmp_path):
    save_config({"mixups": DEFAULTS}, tmp_path / "c.toml")
    loaded = load_config({"mixups": DEFAULTS}, tmp_path / "c.toml")
    assert loaded["mixups"] == mixer_config()
    regions = loaded["mixups"]["domain"]["regions"]
    assert all(np.array_equal(rasterize(regions[k], 64), rasterize(REGIONS[k], 64)) for k in REGIONS)


# --------------------------------------------------------------------------- domain mixup


DOMAIN = {"B": "hair", "Hc": "hair", "Hs": "hair", "bald": "hair", "Be": "under_eyes", "D": "chin_neck",
          "N": "eyes", "Bn": "nose", "Pn": "nose", "Bp": "mouth"}


@pytest.mark.parametrize("code, region", sorted(DOMAIN.items()))
@pytest.mark.parametrize("size", [64, 256])
def test_domain_mixup_every_characteristic(code, region, size):
    original, edited = _pair(size, seed=size)
    name = {"bald": "bald", "B": "B_1", "Hc": "Hc_3", "Hs": "Hs_0", "D": "D_1"}.get(code, f"{code}_max")
    result = Mixer({"steps": ["domain"]}).mix(original, edited, name)
    allowed = rasterize(REGIONS[region], size)
    assert result.applied == ["domain"] and result.code == code and not result.dropped
    assert np.array_equal(result.masks["domain"], allowed)
    _check_mixed(result.image, original, edited, allowed, 0.08 * size)


def test_domain_mixup_1024_and_codes_without_region():
    original, edited = _pair(1024)
    result = Mixer({"steps": ["domain"]}).mix(original, edited, "Hc_2")
    _check_mixed(result.image, original, edited, rasterize(REGIONS["hair"], 1024), 0.08 * 1024)
    for name in ("Sk_0", "A_2", "Se_1", "Ch_max"):
        r = Mixer({"steps": ["domain"]}).mix(original[:64, :64], edited[:64, :64], name)
        assert r.applied == [] and r.skipped and np.array_equal(r.image, edited[:64, :64])


# --------------------------------------------------------------------------- segmentation mixup


def _labels(size, blobs):
    """A label map with rectangles {class: (x0, y0, x1, y1) normalised}."""
    lab = np.zeros((size, size), np.uint8)
    for cls, (x0, y0, x1, y1) in blobs:
        lab[int(y0 * size) : int(y1 * size), int(x0 * size) : int(x1 * size)] = cls
    return lab


FACE = [(SKIN, (0.25, 0.3, 0.75, 0.95)), (L_EYE, (0.33, 0.45, 0.43, 0.5)), (R_EYE, (0.57, 0.45, 0.67, 0.5)),
        (NOSE, (0.46, 0.5, 0.54, 0.66)), (U_LIP, (0.4, 0.7, 0.6, 0.73)), (MOUTH, (0.4, 0.73, 0.6, 0.75)),
        (L_LIP, (0.4, 0.75, 0.6, 0.78)), (CLOTH, (0.0, 0.95, 1.0, 1.0))]


def _seg_mix(code, size, original_blobs, edited_blobs, **config):
    original, edited = _pair(size, seed=1)
    lab_o, lab_e = _labels(size, original_blobs), _labels(size, edited_blobs)
    mixer = Mixer({"steps": ["segmentation"], **config}, parser=lambda image: lab_o)
    return original, edited, lab_o, lab_e, mixer.mix(original, edited, code, edited_labels=lab_e)


@pytest.mark.parametrize("size", [64, 256, 1024])
def test_segmentation_hair_is_the_union_of_both_images(size):
    hair_o, hair_e = (HAIR, (0.1, 0.0, 0.5, 0.3)), (HAIR, (0.4, 0.0, 0.9, 0.25))
    original, edited, lab_o, lab_e, result = _seg_mix("Hc_1", size, FACE + [hair_o], FACE + [hair_e])
    allowed = (lab_o == HAIR) | (lab_e == HAIR)
    assert np.array_equal(result.masks["segmentation"], allowed)
    _check_mixed(result.image, original, edited, allowed, 0.03 * size)


@pytest.mark.parametrize(
    "code, classes", [("Pn_max", [NOSE]), ("Bn_min", [NOSE]), ("Bp_max", [MOUTH, U_LIP, L_LIP]),
                      ("Sk_1", "all"), ("A_0", "all"), ("Se_1", "all"), ("Ch_min", "all"), ("B_1", [HAIR])],
)
def test_segmentation_classes_per_characteristic(code, classes):
    size = 128
    blobs = FACE + [(HAIR, (0.2, 0.0, 0.8, 0.3))]
    original, edited, lab_o, lab_e, result = _seg_mix(code, size, blobs, blobs, segmentation={"restore_classes": []})
    dilate = {"Bp_max": 0.01}.get(code, 0.0) * size
    selected = (lab_o != 0) if classes == "all" else np.isin(lab_o, classes)
    allowed = _dist_from(selected) <= dilate
    assert np.array_equal(result.masks["segmentation"], allowed)
    _check_mixed(result.image, original, edited, allowed, 0.03 * size)


def test_segmentation_eyes_dilated_and_shifted_for_bags():
    size = 200
    eye = (0.3, 0.4, 0.4, 0.45)  # rows 80..89, columns 60..79
    _, _, _, _, narrow = _seg_mix("N_max", size, [(L_EYE, eye)], [(L_EYE, eye)])
    _, _, _, _, bags = _seg_mix("Be_max", size, [(L_EYE, eye)], [(L_EYE, eye)])
    n, b = narrow.masks["segmentation"], bags.masks["segmentation"]
    # N: the eye grown by 0.02 * 200 = 4 px
    assert n[84, 70] and n[80 - 4, 70] and not n[80 - 5, 70] and n[89 + 4, 70] and not n[89 + 5, 70]
    # Be: grown by 6 px, shifted down by 8 px: from row 80 - 6 + 8 = 82 to 89 + 6 + 8 = 103
    assert not b[81, 70] and b[82, 70] and b[103, 70] and not b[104, 70]


def test_segmentation_restores_hats_and_clothes_in_the_top_half():
    size = 128
    blobs = FACE + [(HAT, (0.2, 0.0, 0.8, 0.2))]
    original, edited, lab_o, _, result = _seg_mix("A_2", size, blobs, FACE)
    hat = lab_o == HAT
    assert not result.masks["segmentation"][hat].any()
    assert np.array_equal(result.image[hat], original[hat])
    # clothes in the bottom half are NOT restored for an all-classes edit
    cloth = lab_o == CLOTH
    assert result.masks["segmentation"][cloth].all() and np.array_equal(result.image[cloth], edited[cloth])
    # configurable: restore nothing
    *_, free = _seg_mix("A_2", size, blobs, FACE, segmentation={"restore_classes": []})
    assert free.masks["segmentation"][hat].all()


def test_segmentation_skipped_for_chin_and_bald_unless_configured():
    size = 64
    _, edited, _, _, result = _seg_mix("D_1", size, FACE, FACE)
    assert result.skipped == ["segmentation: no classes for D"] and np.array_equal(result.image, edited)
    *_, bald = _seg_mix("bald", size, FACE, FACE)
    assert bald.applied == [] and bald.skipped
    cfg = {"segmentation": {"codes": {"D": {"classes": [SKIN], "feather": 0.0}}}}
    original, edited, lab_o, _, chin = _seg_mix("D_1", size, FACE, FACE, **cfg)
    assert chin.applied == ["segmentation"]
    assert np.array_equal(chin.image, np.where((lab_o == SKIN)[:, :, None], edited, original))


def test_empty_region_drops_the_edit_and_reports_it():
    original, edited, _, _, result = _seg_mix("Hc_0", 64, FACE, FACE)  # no hair anywhere
    assert result.dropped == ["segmentation: empty region for Hc (classes [17])"]
    assert np.array_equal(result.image, original)
    *_, skipped = _seg_mix("Hc_0", 64, FACE, FACE, on_empty="skip")
    assert skipped.dropped and skipped.applied == [] and np.array_equal(skipped.image, edited)


# --------------------------------------------------------------------------- depth mixup


def _disc_depth(size, cx, cy, r, near=2.0, far=0.5, seed=0):
    yy, xx = np.mgrid[:size, :size]
    disc = (xx - cx * size) ** 2 + (yy - cy * size) ** 2 <= (r * size) ** 2
    noise = np.random.default_rng(seed).normal(0, 0.05, (size, size))
    return disc, (np.where(disc, near, far) + noise).astype(np.float32)


def test_nearer_foreground_is_computed_not_assumed():
    disc, depth = _disc_depth(128, 0.5, 0.5, 0.3)
    assert np.array_equal(nearer_foreground(depth), disc)
    # a small near object in front of a large background, and the reverse: the nearer one wins
    small, depth_small = _disc_depth(128, 0.3, 0.3, 0.1)
    assert np.array_equal(nearer_foreground(depth_small), small)
    ring, depth_far_disc = _disc_depth(128, 0.5, 0.5, 0.3, near=0.5, far=2.0)
    assert np.array_equal(nearer_foreground(depth_far_disc), ~ring)
    assert nearer_foreground(np.ones((8, 8), np.float32)).all() and nearer_foreground(np.ones((1, 1))).all()
    with pytest.raises(InvalidInput, match="NaN"):
        nearer_foreground(np.full((4, 4), np.nan))


@pytest.mark.parametrize("size", [64, 256])
def test_depth_mixup_restores_the_background_of_both(size):
    original, edited = _pair(size, seed=3)
    disc_o, depth_o = _disc_depth(size, 0.45, 0.5, 0.3)
    disc_e, depth_e = _disc_depth(size, 0.55, 0.5, 0.3, seed=1)
    mixer = Mixer({"steps": ["depth"]}, depth=lambda image: depth_o)
    result = mixer.mix(original, edited, "A_2", edited_depth=depth_e)
    allowed = disc_o | disc_e
    assert result.applied == ["depth"] and np.array_equal(result.masks["depth"], allowed)
    _check_mixed(result.image, original, edited, allowed, 0.05 * size)
    for name in ("Se_1", "bald"):
        r = mixer.mix(original, edited, name, edited_depth=depth_e)
        assert r.skipped == [f"depth: not used for {characteristic(name)}"] and np.array_equal(r.image, edited)


# --------------------------------------------------------------------------- the chain


def test_full_chain_is_exact_outside_every_feathered_region_and_caches_the_original():
    size = 256
    blobs = FACE + [(HAIR, (0.1, 0.0, 0.9, 0.35))]
    original, edited = _pair(size, seed=4)
    lab = _labels(size, blobs)
    _, depth = _disc_depth(size, 0.5, 0.55, 0.42)
    calls = {"parse": 0, "depth": 0}

    def parser(image):
        calls["parse"] += 1
        return lab

    def estimate(image):
        calls["depth"] += 1
        return depth

    mixer = Mixer(parser=parser, depth=estimate)
    for name in ("Hc_1", "Hs_0", "B_0"):
        result = mixer.mix(original, edited, name)
        assert result.applied == ["domain", "segmentation", "depth"]
    assert calls == {"parse": 1 + 3, "depth": 1 + 3}  # the original once, each edited image once
    feathers = {"domain": 0.08, "segmentation": 0.03, "depth": 0.05}
    reach = np.zeros((size, size), bool)  # where any step lets the edit (partly) through: within all
    reach[:] = True
    for step, mask in result.masks.items():
        reach &= _dist_from(mask) <= feathers[step] * size + 1e-3
    assert np.array_equal(result.image[~reach], original[~reach])
    core = result.masks["domain"] & result.masks["segmentation"] & result.masks["depth"]
    assert core.any() and np.array_equal(result.image[core], edited[core])
    assert result.report()["applied"] == ["domain", "segmentation", "depth"]


def test_characteristic_names_and_unknown_names():
    assert [characteristic(n) for n in ("Hc_1", "bald", "Sk_2_fr_0", "A_0_fr_1", "Be_max", "Ch", "smile_more")] == [
        "Hc", "bald", "Sk", "A", "Be", "Ch", None]
    for bad in ("Hc_9", "N_2", "Hc_4"):
        with pytest.raises(InvalidTranslationName):
            characteristic(bad)
    original, edited = _pair(16)
    result = Mixer().mix(original, edited, "smile_more")
    assert result.code is None and result.skipped and np.array_equal(result.image, edited)


def test_config_errors_and_open_tables():
    with pytest.raises(ConfigError, match="step"):
        Mixer({"steps": ["domain", "blur"]})
    with pytest.raises(ConfigError, match="unknown config key"):
        Mixer({"domain": {"fether": 0.1}})
    with pytest.raises(ConfigError, match="unknown region"):
        Mixer({"domain": {"codes": {"Ch": {"region": "cheeks"}}}})
    cfg = mixer_config({"domain": {"regions": {"cheeks": [["ellipse", [0.5, 0.6, 0.3, 0.1]]]},
                                   "codes": {"Ch": {"region": "cheeks"}, "Hc": {}}}})
    assert cfg["domain"]["codes"]["Ch"] == {"region": "cheeks"} and cfg["domain"]["codes"]["B"] == {"region": "hair"}
    original, edited = _pair(64)
    mixer = Mixer({"steps": ["domain"], **{k: v for k, v in cfg.items() if k == "domain"}})
    assert mixer.mix(original, edited, "Ch_max").applied == ["domain"]
    assert mixer.mix(original, edited, "Hc_1").skipped == ["domain: no region for Hc"]


# --------------------------------------------------------------------------- CLI


def test_cli_mix_writes_image_masks_and_report(tmp_path, capsys):
    from faceedit.cli import main
    from faceedit.images import load_image, save_image
    from faceedit.io import load_json

    original, edited = _pair(64, seed=5)
    save_image(tmp_path / "o.png", original)
    save_image(tmp_path / "e.png", edited)
    args = ["mix", str(tmp_path / "o.png"), str(tmp_path / "e.png"), "--name", "Pn_max", "--steps", "domain",
            "--set", "domain.feather=0.1", "--out", str(tmp_path / "out.png"), "--masks", str(tmp_path / "m"),
            "--report", str(tmp_path / "r.json")]
    assert main(args) == 0
    expected = Mixer({"steps": ["domain"], "domain": {"feather": 0.1}}).mix(original, edited, "Pn_max")
    assert np.array_equal(load_image(tmp_path / "out.png"), expected.image)
    assert np.array_equal(load_image(tmp_path / "m" / "domain.png")[:, :, 0] > 0, rasterize(REGIONS["nose"], 64))
    assert load_json(tmp_path / "r.json")["applied"] == ["domain"]
    # user errors: one line, exit 1, nothing written
    assert main(["mix", str(tmp_path / "o.png"), str(tmp_path / "nope.png"), "--name", "Hc_1",
                 "--out", str(tmp_path / "bad.png")]) == 1
    assert main(["mix", str(tmp_path / "o.png"), str(tmp_path / "e.png"), "--name", "Hc_9",
                 "--out", str(tmp_path / "bad.png")]) == 1
    assert "Hc_9" in capsys.readouterr().err and not (tmp_path / "bad.png").exists()


def test_no_face_in_the_edited_or_original_image_is_reported_not_fatal():
    size = 64
    original, edited = _pair(size, seed=6)
    lab = _labels(size, FACE + [(HAIR, (0.1, 0.0, 0.9, 0.3))])
    disc, depth = _disc_depth(size, 0.5, 0.5, 0.3)

    asked = []

    def picky(value):
        def backend(image):
            asked.append(image is original)
            if image is not original:
                raise NoFaceFound("no face found to parse")
            return value
        return backend

    mixer = Mixer({"steps": ["segmentation", "depth"]}, parser=picky(lab), depth=picky(depth))
    result = mixer.mix(original, edited, "Hc_1")
    assert result.applied == ["segmentation", "depth"] and len(result.notes) == 2
    assert np.array_equal(result.masks["segmentation"], lab == HAIR) and np.array_equal(result.masks["depth"], disc)
    # no face in the original: both steps are skipped, and the backends are not asked again
    blind = Mixer({"steps": ["segmentation", "depth"]}, parser=picky(lab), depth=picky(depth))
    asked.clear()
    for _ in range(2):
        r = blind.mix(edited, original, "Hc_1")
        assert r.applied == [] and len(r.skipped) == 2 and np.array_equal(r.image, original)
    assert asked == [False, False]  # once per backend for that original, not once per mix


def test_classes_by_name_or_id():
    pytest.importorskip("faceedit.faces.parsing", reason="class names need faceedit.faces.parsing.CLASSES")
    cfg = mixer_config({"segmentation": {"restore_classes": ["hat"],
                                         "codes": {"Hc": {"classes": ["hair", "hat"]}, "D": {"classes": [1]}}}})
    assert cfg["segmentation"]["restore_classes"] == [HAT]
    codes = cfg["segmentation"]["codes"]
    assert codes["Hc"]["classes"] == [HAIR, HAT] and codes["D"]["classes"] == [1]
    for bad in (["hairs"], "hair", [1.5], [True]):
        with pytest.raises(ConfigError, match="segmentation code 'Hc'"):
            mixer_config({"segmentation": {"codes": {"Hc": {"classes": bad}}}})


# --------------------------------------------------------------------------- several edits at once


def test_several_names_allow_the_union_of_their_regions():
    size = 128
    blobs = FACE + [(HAIR, (0.2, 0.0, 0.8, 0.3))]
    original, edited = _pair(size, seed=3)
    lab = _labels(size, blobs)
    calls = []

    def parser(image):
        calls.append(1)
        return lab

    mixer = Mixer({"steps": ["domain", "segmentation"], "segmentation": {"restore_classes": []}}, parser=parser)
    both = mixer.mix(original, edited, ["Hc_1", "Pn_max"])
    hair = mixer.mix(original, edited, "Hc_1")
    nose = mixer.mix(original, edited, "Pn_max")
    assert both.code == "Hc+Pn" and both.applied == ["domain", "segmentation"]
    for step in ("domain", "segmentation"):
        assert np.array_equal(both.masks[step], hair.masks[step] | nose.masks[step])
    assert np.array_equal(both.masks["segmentation"], (lab == HAIR) | (lab == NOSE))
    # allowed by both steps for either edit: the edit is kept exactly; far from every region: the original
    keep = both.masks["domain"] & both.masks["segmentation"]
    assert keep.sum() > 0.05 * size * size
    assert np.array_equal(both.image[keep], edited[keep])
    far = _dist_from(both.masks["domain"]) > 0.08 * size + 1
    assert far.any() and np.array_equal(both.image[far], original[far])
    # the original is parsed once (cached), the edited image once per mix (3 mixes)
    assert len(calls) == 4
    # the same name twice is the name once
    twice = Mixer({"steps": ["domain"]}).mix(original, edited, ["Pn_max", "Pn_min"])
    assert twice.code == "Pn" and np.array_equal(twice.image, Mixer({"steps": ["domain"]}).mix(original, edited, "Pn_max").image)


def test_several_names_a_step_that_does_not_restrict_one_edit_is_skipped():
    original, edited = _pair(64, seed=4)
    # the domain step has no region for age: an age + hair edit may change everything the age edit may
    result = Mixer({"steps": ["domain"]}).mix(original, edited, ["Hc_1", "A_2"])
    assert result.applied == [] and result.skipped == ["domain: no region for A"]
    assert np.array_equal(result.image, edited)
    # a free name in the list: nothing is restricted
    free = Mixer().mix(original, edited, ["Hc_1", "smile_more"])
    assert free.code is None and np.array_equal(free.image, edited)
    with pytest.raises(InvalidInput):
        Mixer().mix(original, edited, [])

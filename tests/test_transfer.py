"""Edit transfer: the generator's change R → E carried onto the original's own pixels."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from faceedit.compose.blending import blend
from faceedit.errors import InvalidInput
from faceedit.images import load_image, resize
from faceedit.testing import data_dir
from faceedit.compose.transfer import TransferSettings, policy_for, transfer_edit


@pytest.fixture(scope="module")
def face512() -> np.ndarray:
    """A real CelebA face (the 178x218 crop's face square) at 512 px: real skin and hair texture."""
    folder = data_dir() / "celeba" / "img_178x218"
    path = sorted(folder.iterdir())[0]
    image = load_image(path)
    return resize(image[46:186, 18:158], 512)


def laplacian_energy(image: np.ndarray) -> float:
    """Mean squared Laplacian of the luminance (Lab L: a change of hue alone does not change it)."""
    return float((cv2.Laplacian(lab(image)[..., 0], cv2.CV_32F) ** 2).mean())


def lab(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def shift_lab(image: np.ndarray, dl: float = 0.0, da: float = 0.0, db: float = 0.0, where=None) -> np.ndarray:
    """The image with (dl, da, db) added in Lab (inside ``where`` only, if given)."""
    x = lab(image)
    delta = np.array([dl, da, db], np.float32)
    x = x + (delta if where is None else where[..., None] * delta)
    rgb = cv2.cvtColor(x, cv2.COLOR_Lab2RGB)
    return np.clip(np.rint(rgb * 255), 0, 255).astype(np.uint8)


def bump_flow(n: int, amplitude: tuple[float, float], centre: tuple[float, float], sigma: float) -> np.ndarray:
    """A smooth displacement field ``(n, n, 2)``: a Gaussian bump of ``amplitude`` pixels."""
    yy, xx = np.mgrid[0:n, 0:n].astype(np.float32)
    g = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * sigma**2))
    return np.stack([amplitude[0] * g, amplitude[1] * g], axis=2).astype(np.float32)


def warp(image: np.ndarray, flow: np.ndarray) -> np.ndarray:
    n = flow.shape[0]
    gx, gy = np.meshgrid(np.arange(n, dtype=np.float32), np.arange(n, dtype=np.float32))
    return cv2.remap(image, gx + flow[..., 0], gy + flow[..., 1], cv2.INTER_CUBIC, borderMode=cv2.BORDER_REFLECT_101)


def test_no_change_gives_the_original_back(face512):
    r = resize(face512, 64)
    out = transfer_edit(face512, r, r.copy())
    assert np.array_equal(out.image, face512)
    assert not out.flow.any() and not out.gain.any() and not out.alpha.any()
    # renders that differ by render noise only (one grey level here and there): within 1/255
    noisy = r.astype(np.int16)
    noisy[::7, ::5] += 1
    out = transfer_edit(face512, r, np.clip(noisy, 0, 255).astype(np.uint8))
    assert np.abs(out.image.astype(int) - face512).max() <= 1


def test_colour_edit_changes_hue_and_keeps_sharpness(face512):
    r = resize(face512, 64)
    e = shift_lab(r, da=12.0, db=-8.0)  # a pure colour change of the render
    out = transfer_edit(face512, r, e)
    shift = (lab(out.image) - lab(face512)).reshape(-1, 3).mean(axis=0)
    assert shift[1] > 8 and shift[2] < -5 and abs(shift[0]) < 2
    ratio = laplacian_energy(out.image) / laplacian_energy(face512)
    assert 0.95 <= ratio <= 1.05
    assert out.alpha.max() == 0  # a recolour needs no new content
    assert np.abs(out.flow).max() < 2.0  # and (almost) no motion


def test_recolour_leaves_no_new_content_but_new_structure_does(face512):
    r = resize(face512, 64)
    brighter = shift_lab(r, dl=8.0)
    assert transfer_edit(face512, r, brighter).alpha.max() == 0
    # a dark, sharp-edged patch on the forehead: something the photo has no pixels for
    e = r.copy()
    e[8:18, 20:44] = (40, 30, 25)
    e[8:18:2, 20:44] = (70, 55, 45)
    out = transfer_edit(face512, r, e)
    assert out.alpha[8 * 8 + 20:18 * 8 - 20, 20 * 8 + 20:44 * 8 - 20].mean() > 0.8
    assert out.alpha[400:, :].max() == 0  # nowhere near it


def test_known_warp_is_recovered_on_the_original(face512):
    r = resize(face512, 64)
    known = bump_flow(64, (1.2, -0.8), (32, 36), 9.0)  # render pixels
    e = warp(r, known)
    out = transfer_edit(face512, r, e)
    known_512 = cv2.resize(known, (512, 512), interpolation=cv2.INTER_LINEAR) * 8.0
    centre = (slice(36 * 8 - 64, 36 * 8 + 64), slice(32 * 8 - 64, 32 * 8 + 64))
    error = np.sqrt(((out.flow[centre] - known_512[centre]) ** 2).sum(axis=2))
    assert error.max() <= 8.0  # at most one render pixel, in the original's scale
    assert error.mean() <= 3.0
    expected = warp(face512, known_512)
    d_out = np.abs(out.image[centre].astype(float) - expected[centre]).mean()
    d_orig = np.abs(face512[centre].astype(float) - expected[centre]).mean()
    assert d_out < 0.6 * d_orig  # the photo's own pixels moved as the render's did


@pytest.mark.parametrize("size", [256, 512, (1000, 1000), 1024])
@pytest.mark.parametrize("model", [64, 256])
def test_any_original_and_model_size(face512, size, model):
    original = resize(face512, size if isinstance(size, int) else size)
    r = resize(face512, model)
    e = shift_lab(r, dl=-10.0, where=_top_half(model))
    out = transfer_edit(original, r, e)
    h, w = original.shape[:2]
    assert out.image.shape == original.shape and out.image.dtype == np.uint8
    assert out.flow.shape == (h, w, 2) and out.gain.shape == (h, w, 3) and out.alpha.shape == (h, w)
    top, bottom = lab(out.image)[: h // 3, :, 0], lab(out.image)[-h // 6:, :, 0]
    top0, bottom0 = lab(original)[: h // 3, :, 0], lab(original)[-h // 6:, :, 0]
    assert (top - top0).mean() < -6  # the darkening reached the photo where the render darkened
    assert abs((bottom - bottom0).mean()) < 1  # and not where it did not


def _top_half(n: int) -> np.ndarray:
    m = np.zeros((n, n), np.float32)
    m[: n // 2] = 1.0
    return cv2.GaussianBlur(m, (0, 0), n / 32)


def test_chroma_only_where_the_edit_is_about(face512):
    """A hair-colour edit recolours the hair, not the skin; an age edit whose render tints everything
    green greys the hair (saturation only, no hue change) and keeps the skin's colour."""
    r = resize(face512, 64)
    labels = np.ones((512, 512), np.int64)  # skin
    labels[:128] = 17  # hair on top
    e = shift_lab(r, dl=5.0, da=-12.0)  # brighter and greener everywhere
    hair_colour = transfer_edit(face512, r, e, "Hc_1", labels=labels)
    d = lab(hair_colour.image) - lab(face512)
    assert d[:100, :, 1].mean() < -6 and abs(d[300:, :, 1].mean()) < 1.0
    assert abs(d[300:, :, 0].mean()) < 1.0  # nor the skin's luminance

    grey = shift_lab(r, dl=5.0, da=-12.0)
    x = lab(grey)
    x[..., 1:] *= 0.5  # the render's colours lose half their saturation (and turn greener)
    grey = np.clip(np.rint(cv2.cvtColor(x, cv2.COLOR_Lab2RGB) * 255), 0, 255).astype(np.uint8)
    older = transfer_edit(face512, r, grey, "A_2", labels=labels)
    before, after = lab(face512), lab(older.image)
    chroma = lambda v: np.hypot(v[..., 1], v[..., 2]).mean()  # noqa: E731
    hue = lambda v: np.arctan2(v[..., 2].mean(), v[..., 1].mean())  # noqa: E731
    assert chroma(after[:100]) < 0.8 * chroma(before[:100])  # the hair greys
    assert abs(hue(after[:100]) - hue(before[:100])) < 0.1  # without turning green
    assert np.abs((after - before)[300:, :, 1:].mean(axis=(0, 1))).max() < 1.0  # the skin keeps its colour
    assert (after - before)[300:, :, 0].mean() > 2  # luminance changes everywhere


def test_sex_edit_varies_skin_chroma_locally_without_a_cast(face512):
    r = resize(face512, 64)
    labels = np.ones((512, 512), np.int64)
    tint = np.zeros((64, 64), np.float32)
    tint[40:56, 16:48] = 1.0  # a ruddier lower face (a beard's shadow) on an otherwise greener render
    e = shift_lab(shift_lab(r, da=-6.0), da=14.0, where=cv2.GaussianBlur(tint, (0, 0), 2))
    out = transfer_edit(face512, r, e, "Se_0", labels=labels)
    d = lab(out.image) - lab(face512)
    assert np.abs(d[..., 1:].mean(axis=(0, 1))).max() < 1.0  # no cast over the skin
    assert d[360:430, 160:350, 1].mean() - d[40:120, :, 1].mean() > 3  # but the local change is there


def test_policies():
    assert policy_for("Hc_1").chroma == (2, 3, 17)
    assert policy_for(["A_2", "Sk_1"]).luminance == "all"
    both = policy_for(["A_2", "Sk_1"])
    assert 17 in both.saturation and 1 in both.chroma and 17 not in both.chroma
    assert policy_for(None).chroma == "all" and policy_for(None).recolour == ()
    assert policy_for("A_0").saturation == (2, 3, 17) and policy_for("Se_1").local_chroma == (1, 7, 8, 10, 14)


def test_deterministic_and_bad_input(face512):
    r = resize(face512, 64)
    e = r.copy()
    e[10:20, 10:30] = 30
    a, b = transfer_edit(face512, r, e), transfer_edit(face512, r, e)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.alpha, b.alpha)
    with pytest.raises(InvalidInput, match="differ in shape"):
        transfer_edit(face512, r, resize(e, 32))
    with pytest.raises(InvalidInput, match="uint8"):
        transfer_edit(face512.astype(np.float32), r, e)
    with pytest.raises(InvalidInput, match="flow_preset"):
        TransferSettings(flow_preset="slow")
    with pytest.raises(InvalidInput, match="unknown transfer setting"):
        TransferSettings.from_mapping({"flow_sise": 3})
    for kind in ("flow", "gain", "alpha"):
        assert a.overlay(kind).shape == face512.shape


def test_blend_soft_alpha():
    a = np.full((4, 4, 3), 200, np.uint8)
    b = np.full((4, 4, 3), 100, np.uint8)
    alpha = np.array([[0.0, 0.25, 0.5, 1.0]] * 4, np.float32)
    out = blend(a, b, alpha=alpha)
    assert out[0, :, 0].tolist() == [100, 125, 150, 200]
    assert np.array_equal(blend(a, b, alpha=np.zeros((2, 2), np.float32)), b)  # resized, exact copy at 0
    with pytest.raises(InvalidInput, match="not both"):
        blend(a, b, np.ones((4, 4), bool), 1.0, alpha=alpha)
    with pytest.raises(InvalidInput, match="float"):
        blend(a, b, alpha=np.ones((4, 4), np.uint8))


def test_hair_edit_reaches_hair_the_parser_missed(face512):
    """Dark hair on a dark background is often not parsed: the usual hair region stands in for it."""
    r = resize(face512, 64)
    labels = np.ones((512, 512), np.int64)
    labels[:100] = 0  # background where the hair is
    e = shift_lab(r, dl=6.0, da=8.0, db=12.0)  # the render's hair turns warmer and lighter (everywhere here)
    out = transfer_edit(face512, r, e, "Hc_1", labels=labels)
    d = lab(out.image) - lab(face512)
    assert d[10:60, 200:312, 2].mean() > 6  # the top of the head, in the hair region of an aligned face
    assert abs(d[300:, 200:312, 2].mean()) < 1  # not the face
    assert any("no hair" in n for n in out.notes)


def test_no_colour_that_neither_the_photo_nor_the_edit_has(face512):
    """A dark, neutral strip of the photo that the render paints blond: when the edited render's hair turns dark
    with a blue tint, the strip may darken but must not become saturated blue (the edit's chroma *change* added
    to a pixel that never had the render's chroma); a "grey" or "black" hair edit keeps the hair's own hue."""
    photo = face512.copy()
    photo[40:110, 300:360] = (72, 66, 70)  # a dark parting, almost grey
    x = lab(resize(face512, 64))
    x[..., 1], x[..., 2] = 5.0, 40.0  # the render: blond everywhere, no parting
    r = np.clip(np.rint(cv2.cvtColor(x, cv2.COLOR_Lab2RGB) * 255), 0, 255).astype(np.uint8)
    labels = np.full((512, 512), 17, np.int64)  # all hair: the recolour applies everywhere
    x = lab(r)
    x[..., 0] = np.minimum(x[..., 0], 40.0)  # dark hair ...
    x[..., 1], x[..., 2] = 2.0, -12.0  # ... with a blue tint
    e = np.clip(np.rint(cv2.cvtColor(x, cv2.COLOR_Lab2RGB) * 255), 0, 255).astype(np.uint8)
    chroma = lambda img: np.hypot(*np.moveaxis(lab(img)[50:100, 310:350, 1:], 2, 0)).mean()  # noqa: E731
    e_chroma = np.hypot(*np.moveaxis(lab(e)[..., 1:], 2, 0)).mean()
    limited = transfer_edit(photo, r, e, "Hc_2", labels=labels)  # "brown": a hue change is allowed in the hair
    unlimited = transfer_edit(photo, r, e, "Hc_2", labels=labels, settings=TransferSettings(chroma_margin=1e9))
    assert chroma(unlimited.image) > e_chroma + 12  # what the guard is for: a colour more saturated than the edit's
    assert chroma(limited.image) < e_chroma + 8  # bounded by the edited render's chroma + the margin
    d = lab(limited.image) - lab(photo)
    assert d[200:300, 100:200, 2].mean() < -8  # elsewhere the hair still takes the new colour

    grey = transfer_edit(photo, r, e, "Hc_3_fr_1", labels=labels)  # greying: saturation and luminance only
    before, after = lab(photo)[200:300, 100:200], lab(grey.image)[200:300, 100:200]
    hue = lambda v: np.arctan2(v[..., 2].mean(), v[..., 1].mean())  # noqa: E731
    assert abs(hue(after) - hue(before)) < 0.15  # the photo's hue, not the render's blue
    assert np.hypot(after[..., 1], after[..., 2]).mean() < 0.8 * np.hypot(before[..., 1], before[..., 2]).mean()

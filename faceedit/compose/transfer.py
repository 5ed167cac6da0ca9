"""Edit transfer: carry the generator's edit onto the photo's own pixels.

A latent edit is rendered twice by the generator: the reconstruction ``R = G(w)`` and the edit
``E = G(w + d)``, both at the model's resolution (64 px for the built-in model).  Pasting ``E`` over the
photo replaces a sharp face by a render; :func:`transfer_edit` instead explains the change ``R → E`` in
three parts and applies them to the aligned original at its own resolution:

- **geometry**: a dense optical flow ``E(x) ≈ R(x + f(x))`` (OpenCV DIS on contrast-normalised copies of
  the upsampled renders, so that a change of shading is not read as motion), kept where it explains the
  change of structure, within the person, smoothed, at most ``flow_max`` render pixels long and scaled to
  the original, moves the photo's pixels with ``cv2.remap`` (a smile, a chin, a nose change move the real
  pixels);
- **appearance**: the low-frequency change of colour and shading between ``E`` and the warped ``R`` in
  CIE Lab, kept only in the channels and face-parsing classes the edit is about (:data:`POLICIES`: hair
  colour recolours the hair; an age edit changes luminance everywhere and only the *saturation* of hair
  and brows, so a render's green cast never reaches the photo; a sex edit may vary the skin's chroma
  locally but not its mean), large luminance changes compressed, upsampled edge-aware with a guided
  filter on the warped original, added in Lab;
- **new content**: where the render shows what the photo has no pixels for (bangs on a bare forehead,
  a beard, hair on a bald head, long hair over the background), found as what geometry and appearance do
  not explain, the upsampled render, colour-matched to the photo and with the photo's grain added, is
  blended in through :func:`faceedit.compose.blending.blend`'s soft form.

``E == R`` gives the original back bit for bit; the transfer is deterministic.  Typical use::

    result = transfer_edit(face.image, R, E, "A_2", labels=parse(face.image))
    result.image, result.flow, result.gain, result.alpha
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable, Mapping, Sequence

import numpy as np

from . import pixels as px
from .blending import blend
from ..errors import InvalidInput, NoFaceFound
from ..images import check_image

EDIT_MODES = ("transfer", "replace")

# CelebAMask-HQ class ids (faceedit.faces.parsing.CLASSES)
_SKIN = (1, 7, 8, 10, 14)  # skin, ears, nose, neck
_BROWS = (2, 3)
_LIPS = (12, 13)
_HAIR = (17,)
_INNER = (2, 3, 4, 5, 6, 10, 11, 12, 13)  # brows, eyes, glasses, nose, mouth, lips
_PERSON = tuple(range(1, 19))  # every class but the background
ALL = "all"


@dataclass(frozen=True)
class Policy:
    """Where an edit may change luminance and chroma, and where a large change is a recolour rather than
    new content; each a tuple of parsing class ids or ``"all"``."""

    luminance: tuple[int, ...] | str = ALL
    chroma: tuple[int, ...] | str = ()
    recolour: tuple[int, ...] | str = ()
    #: classes whose chroma may vary locally (a beard's shadow, rosy cheeks) while their mean colour stays:
    #: the edit's mean chroma change over them is removed, so it cannot cast a tint over the skin
    local_chroma: tuple[int, ...] | str = ()
    #: classes whose colour may only lose or gain saturation (greying hair), never change hue
    saturation: tuple[int, ...] | str = ()


#: characteristic code (or a target value such as ``Hc_3``, which wins over its code) → :class:`Policy`;
#: codes not listed (and free names) use ``DEFAULT_POLICY``
POLICIES: dict[str, Policy] = {
    "Hc": Policy(_HAIR + _BROWS, _HAIR + _BROWS, _HAIR + _BROWS),
    # to black / to grey: darker or lighter and less saturated, never another hue (a 64 px render's dark hair
    # takes the background's tint, which as a hue change painted blue and purple strands onto blond hair)
    "Hc_0": Policy(_HAIR + _BROWS, (), _HAIR + _BROWS, saturation=_HAIR + _BROWS),
    "Hc_3": Policy(_HAIR + _BROWS, (), _HAIR + _BROWS, saturation=_HAIR + _BROWS),
    "Sk": Policy(_SKIN + _LIPS, _SKIN + _LIPS, _SKIN + _LIPS),
    "A": Policy(ALL, (), _HAIR + _BROWS, saturation=_HAIR + _BROWS),
    "Se": Policy(ALL, _LIPS, _LIPS, local_chroma=_SKIN),
    "B": Policy(ALL, _HAIR, ()),
    "Hs": Policy(ALL, _HAIR, ()),
    "bald": Policy(ALL, (), ()),  # hair → skin is new content; a tint of the hair is not what it means
    "Bp": Policy(ALL, _LIPS, _LIPS),
    "D": Policy(ALL, (), ()),
    "Ch": Policy(ALL, (), ()),
    "N": Policy(ALL, (), ()),
    "Bn": Policy(ALL, (), ()),
    "Pn": Policy(ALL, (), ()),
    "Be": Policy(ALL, (), ()),
}
#: free names and directions without a code: every change allowed; a large change of luminance is new content
DEFAULT_POLICY = Policy(ALL, ALL, ())


@dataclass(frozen=True)
class TransferSettings:
    """Knobs of :func:`transfer_edit`; distances in render pixels unless said otherwise."""

    # the renders are resampled to this square size for the flow and appearance; 0 = twice the render's
    # size, within 128..256 (128 for the built-in 64 px model)
    flow_size: int = 0
    flow_preset: str = "medium"  # OpenCV DIS preset: ultrafast | fast | medium
    flow_smooth: float = 3.0  # Gaussian sigma of the flow
    flow_min: float = 0.05  # flow below this length is noise (soft threshold)
    flow_max: float = 1.5  # longer flow is clipped to this length
    flow_explained: float = 0.5  # the flow counts fully where it explains this share of the structure change
    structure_sigma: float = 3.0  # scale of the local contrast normalisation the flow is computed on
    change_min: float = 2.0 / 255  # render differences below this are no change
    support_radius: float = 3.0  # the flow lives within this distance of a change
    appearance_sigma: float = 1.5  # Gaussian sigma of the low-frequency appearance change
    luminance_knee: float = 15.0  # luminance changes are compressed as knee * tanh(change / knee) (Lab L)
    local_chroma_weight: float = 0.6  # share of the local chroma change kept (Policy.local_chroma)
    chroma_margin: float = 6.0  # the result's chroma may exceed both the photo's and the edited render's by this
    guided_radius: float = 1 / 64  # guided-filter radius, fraction of the original's size
    guided_eps: float = 1e-3  # guided-filter regularisation (guide in 0..1)
    content_low: float = 10.0  # unexplained change (Lab units) where new content starts
    content_high: float = 22.0  # ... and where it is complete
    large_low: float = 22.0  # a smooth luminance change this large outside the recolour classes starts to be
    large_high: float = 35.0  # new content (skin → hair, hair → skin), complete at this
    content_sigma: float = 1.0  # feather of the new-content alpha
    content_min_area: float = 1.5  # new-content specks thinner than this are dropped (opening radius)
    colour_sigma: float = 1 / 16  # colour match of the new content to the photo: Gaussian, fraction of size
    colour_max: tuple[float, float] = (15.0, 10.0)  # largest colour correction (L, ab) of new content
    grain: bool = True  # re-add the photo's grain (noise level matched) to new content
    min_hair: float = 0.01  # a hair edit on a parsing with less hair than this share assumes the usual hair region
    class_dilate: float = 1.5  # parsing-class masks grown by this, then feathered by as much
    interpolation: str = "lanczos"  # remap of the original: lanczos | cubic | linear

    def __post_init__(self) -> None:
        if self.flow_preset not in _DIS_PRESETS:
            raise InvalidInput(f"flow_preset must be one of {', '.join(_DIS_PRESETS)}; got {self.flow_preset!r}")
        if self.interpolation not in _INTERPOLATIONS:
            raise InvalidInput(f"interpolation must be one of {', '.join(_INTERPOLATIONS)}; got {self.interpolation!r}")
        if int(self.flow_size) != 0 and not 32 <= int(self.flow_size) <= 1024:
            raise InvalidInput(f"flow_size must be 0 (automatic) or 32..1024; got {self.flow_size}")
        if not self.content_high > self.content_low >= 0:
            raise InvalidInput("content_high must be larger than content_low >= 0")

    @classmethod
    def from_mapping(cls, values: Mapping[str, object] | None) -> "TransferSettings":
        """Settings from a config table (unknown keys are errors)."""
        values = dict(values or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(values) - known)
        if unknown:
            raise InvalidInput(f"unknown transfer setting(s) {unknown}; known: {', '.join(sorted(known))}")
        if "colour_max" in values:
            values["colour_max"] = tuple(float(v) for v in values["colour_max"])  # type: ignore[union-attr]
        return replace(cls(), **values)


_DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}
_INTERPOLATIONS = ("lanczos", "cubic", "linear")


@dataclass
class TransferResult:
    """The edited face at the original's resolution and the maps that made it.

    ``flow`` ``(H, W, 2)`` float32 in original pixels (``out(x) = original(x + flow(x))`` before the
    appearance change); ``gain`` ``(H, W, 3)`` float32, the Lab change added (L, a*, b*); ``alpha``
    ``(H, W)`` float32 in [0, 1], the weight of the new content; ``content`` the new-content image.
    """

    image: np.ndarray
    flow: np.ndarray
    gain: np.ndarray
    alpha: np.ndarray
    content: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def overlay(self, kind: str) -> np.ndarray:
        """An RGB uint8 picture of one map: ``flow`` (hue = direction, value = length), ``gain`` (grey =
        no change) or ``alpha`` (the new content in red over the image)."""
        return map_picture(self, kind)


def policy_for(names: str | Iterable[str] | None) -> Policy:
    """The union of the :class:`Policy` of each edit (translation names or codes; ``None`` = free edit)."""
    from ..edit.naming import parse_name
    from .mixups import characteristic

    if names is None:
        return DEFAULT_POLICY
    names = [names] if isinstance(names, str) else list(names)
    policies = []
    for name in names:
        code = characteristic(name)
        target = parse_name(name, allow_free=True).target if code and code != name else None
        policies.append(POLICIES.get(target or "", POLICIES.get(code, DEFAULT_POLICY)) if code else DEFAULT_POLICY)
    if not policies:
        return DEFAULT_POLICY

    def union(parts: list) -> tuple[int, ...] | str:
        if any(p == ALL for p in parts):
            return ALL
        return tuple(sorted({c for p in parts for c in p}))

    fields = ("luminance", "chroma", "recolour", "local_chroma", "saturation")
    return Policy(*(union([getattr(p, f) for p in policies]) for f in fields))


# ---------------------------------------------------------------------------------------------------
# the transfer


def transfer_edit(
    original: np.ndarray,
    reconstruction: np.ndarray,
    edited: np.ndarray,
    names: str | Sequence[str] | None = None,
    labels: np.ndarray | None = None,
    settings: TransferSettings | None = None,
) -> TransferResult:
    """Apply the change ``reconstruction → edited`` (two renders of the generator) to ``original``.

    ``original``: the aligned face, RGB uint8 at any resolution; ``reconstruction`` and ``edited``: the
    generator's renders of ``w`` and ``w + d`` (RGB uint8, same shape, any size).  ``names``: the edit's
    translation name(s) or characteristic code(s), which choose the :class:`Policy`; ``labels``: the
    original's CelebAMask-HQ parsing ``(h, w)`` (any size; computed with :func:`faceedit.faces.parsing.parse`
    when a policy needs classes and none are given).  Returns a :class:`TransferResult`.
    """
    settings = settings or TransferSettings()
    original = check_image(original, "original")
    reconstruction = check_image(reconstruction, "reconstruction")
    edited = check_image(edited, "edited")
    if reconstruction.shape != edited.shape:
        raise InvalidInput(f"reconstruction {reconstruction.shape} and edited {edited.shape} renders differ in shape")
    if np.array_equal(reconstruction, edited):
        return _unchanged(original)
    policy = policy_for(names)
    return _Transfer(original, reconstruction, edited, policy, labels, settings).run()


def _unchanged(original: np.ndarray) -> TransferResult:
    h, w = original.shape[:2]
    return TransferResult(original.copy(), np.zeros((h, w, 2), np.float32), np.zeros((h, w, 3), np.float32),
                          np.zeros((h, w), np.float32), None, ["no change between the renders"])


class _Transfer:
    """One transfer: the work-size renders, the flow and the maps, then the original-size result."""

    def __init__(self, original, reconstruction, edited, policy: Policy, labels, settings: TransferSettings):
        self.original, self.policy, self.s = original, policy, settings
        self.notes: list[str] = []
        self.n = int(settings.flow_size) or int(np.clip(2 * reconstruction.shape[0], 128, 256))
        self.k = self.n / reconstruction.shape[0]  # work pixels per render pixel
        self.R = px.resize_float(reconstruction, self.n)
        self.E = px.resize_float(edited, self.n)
        self.labels = self._labels(labels)

    # -- inputs -----------------------------------------------------------------------------------------

    def _labels(self, labels: np.ndarray | None) -> np.ndarray | None:
        """The original's parsing at the work size, or None when no policy needs it / it cannot be made."""
        from .blending import resize_nearest

        policy = self.policy
        if all(p == ALL or not p for p in (policy.luminance, policy.chroma, policy.recolour, policy.local_chroma,
                                           policy.saturation)):
            return None
        if labels is None:
            from ..faces.parsing import parse

            try:
                labels = parse(self.original)
            except NoFaceFound as e:
                self.notes.append(f"no parsing of the original ({e}): chroma changes dropped")
                return None
        labels = np.asarray(labels)
        if labels.ndim != 2 or not np.issubdtype(labels.dtype, np.integer):
            raise InvalidInput(f"labels must be an integer (H, W) class map; got {labels.dtype} {labels.shape}")
        labels = resize_nearest(labels, (self.n, self.n)).astype(np.int64)
        if self._about_hair() and (labels == _HAIR[0]).mean() < self.s.min_hair:
            labels = self._assumed_hair(labels)
        return labels

    def _about_hair(self) -> bool:
        p = self.policy
        return any(c != ALL and _HAIR[0] in c for c in (p.chroma, p.recolour, p.saturation))

    def _assumed_hair(self, labels: np.ndarray) -> np.ndarray:
        """The parser found (almost) no hair: the background of the domain hair region of an aligned face
        (:mod:`faceedit.faces.regions`) stands in for it, so that a hair edit still reaches dark hair on a dark
        background."""
        from ..faces.regions import REGIONS, rasterize

        region = rasterize(REGIONS["hair"], (self.n, self.n))
        self.notes.append("the parsing found no hair: the hair region of an aligned face stands in for it")
        return np.where(region & (labels == 0), _HAIR[0], labels)

    def _class_mask(self, classes: tuple[int, ...] | str, labels: np.ndarray | None) -> np.ndarray:
        """Float work-size mask of parsing classes, grown and feathered (all ones for ``"all"``)."""
        import cv2

        if classes == ALL:
            return np.ones((self.n, self.n), np.float32)
        if not classes or labels is None:
            return np.zeros((self.n, self.n), np.float32)
        mask = np.isin(labels, np.asarray(classes)).astype(np.uint8)
        r = max(1, int(round(self.s.class_dilate * self.k)))
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1)))
        return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), self.s.class_dilate * self.k)

    # -- the steps --------------------------------------------------------------------------------------

    def flow(self) -> np.ndarray:
        """Work-size flow ``E(x) ≈ R(x + f(x))``: DIS on contrast-normalised renders (so that a change of
        colour or shading is not read as motion), kept where it explains the change of structure, within
        the person, smoothed and no longer than ``flow_max``."""
        import cv2

        s, k = self.s, self.k
        sigma = s.structure_sigma * k
        grey_e, z_e = px.structure(self.E, sigma)
        grey_r, z_r = px.structure(self.R, sigma)
        dis = cv2.DISOpticalFlow_create(_DIS_PRESETS[s.flow_preset])
        f = dis.calc(grey_e, grey_r, None)
        f = cv2.GaussianBlur(f, (0, 0), s.flow_smooth * k)
        # confidence: how much of the structure difference the warp explains, locally
        before = cv2.GaussianBlur(np.abs(z_e - z_r), (0, 0), 2 * k)
        after = cv2.GaussianBlur(np.abs(z_e - px.remap(z_r, f, cv2.INTER_LINEAR)), (0, 0), 2 * k)
        explained = (before - after) / (before + 0.05)
        confidence = np.clip(explained / s.flow_explained, 0.0, 1.0)
        change = np.abs(self.E - self.R).max(axis=2) > s.change_min
        radius = max(1, int(round(s.support_radius * k)))
        support = cv2.dilate(change.astype(np.uint8), cv2.getStructuringElement(cv2.MORPH_ELLIPSE,
                                                                               (2 * radius + 1,) * 2))
        weight = confidence * support
        if self.labels is not None:
            weight = weight * self._class_mask(_PERSON, self.labels)
        weight = cv2.GaussianBlur(weight.astype(np.float32), (0, 0), s.flow_smooth * k)
        f = f * weight[..., None]
        length = np.sqrt((f**2).sum(axis=2, keepdims=True))
        lo, hi = s.flow_min * k, s.flow_max * k
        f = f * (np.clip(length - lo, 0.0, hi) / np.maximum(length, 1e-6))
        return f.astype(np.float32)

    def run(self) -> TransferResult:
        import cv2

        s, k = self.s, self.k
        flow = self.flow()
        R_w = px.remap(self.R, flow, cv2.INTER_LINEAR)
        labels_w = None if self.labels is None else px.remap(self.labels.astype(np.float32), flow, cv2.INTER_NEAREST)
        labels_w = None if labels_w is None else labels_w.astype(np.int64)
        lab_e, lab_r = px.to_lab(self.E), px.to_lab(R_w)
        diff = lab_e - lab_r
        sigma = s.appearance_sigma * k
        low = cv2.GaussianBlur(diff, (0, 0), sigma)
        luma = self._class_mask(self.policy.luminance, labels_w)
        chroma = self._class_mask(self.policy.chroma, labels_w)
        recolour = self._class_mask(self.policy.recolour, labels_w)
        weights = np.stack([luma, chroma, chroma], axis=2)
        appearance = low * weights
        knee = s.luminance_knee  # large changes of shading are compressed (a render's glare, not the edit)
        appearance[..., 0] = knee * np.tanh(appearance[..., 0] / knee)
        local = self._class_mask(self.policy.local_chroma, labels_w) * (1.0 - chroma)
        if local.any():  # broader and weaker than the chroma the edit is about: no blotches of the render's tints
            broad = cv2.GaussianBlur(low[..., 1:], (0, 0), 2 * sigma)
            cast = (broad * local[..., None]).sum(axis=(0, 1)) / max(float(local.sum()), 1e-6)
            appearance[..., 1:] += s.local_chroma_weight * (broad - cast) * local[..., None]
        saturation = self._class_mask(self.policy.saturation, labels_w) * (1.0 - chroma)
        scale = None  # the photo's chroma is multiplied by this where only its saturation may change
        if saturation.any():
            scale = 1.0 + (self._saturation_ratio(lab_e, lab_r, sigma) - 1.0) * saturation

        # new content: what the flow and the smooth, allowed appearance change leave unexplained
        rest = np.abs(diff - appearance)
        unexplained = np.maximum(rest[..., 0] * luma, np.sqrt(rest[..., 1] ** 2 + rest[..., 2] ** 2) * chroma)
        unexplained = cv2.GaussianBlur(unexplained, (0, 0), 0.75 * k)
        # big changes of luminance outside the recolour classes: darker anywhere (hair, a beard, bangs
        # appear) or brighter where there is no skin (hair or background turning into skin); skin that gets
        # brighter has gained nothing new
        skin = self._class_mask(_SKIN, labels_w) if labels_w is not None else 0.0
        gained = np.maximum(-low[..., 0], 0.0) + np.maximum(low[..., 0], 0.0) * (1.0 - skin)
        # ... and not inside the eyes, brows, nose or mouth: their shading is the render's, not something new
        inner = self._class_mask(_INNER, labels_w) if labels_w is not None else 0.0
        large = gained * luma * (1.0 - recolour) * (1.0 - inner)
        alpha = np.maximum(px.ramp(unexplained, s.content_low, s.content_high), px.ramp(large, s.large_low, s.large_high))
        alpha = alpha * alpha * (3.0 - 2.0 * alpha)  # smoothstep
        r = int(round(s.content_min_area * k))
        if r >= 1:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
            alpha = cv2.morphologyEx(alpha, cv2.MORPH_OPEN, kernel)
        alpha = cv2.GaussianBlur(alpha, (0, 0), s.content_sigma * k)
        alpha[alpha < 1e-3] = 0.0
        # where the edit may change colour (elsewhere the photo keeps its hue), and the edited render's chroma there
        allowed = np.maximum(chroma, self._class_mask(self.policy.local_chroma, labels_w))
        chroma_e = cv2.GaussianBlur(np.hypot(lab_e[..., 1], lab_e[..., 2]), (0, 0), sigma)
        return self._finish(flow, appearance, alpha, scale, chroma_e, allowed)

    @staticmethod
    def _saturation_ratio(lab_e: np.ndarray, lab_r: np.ndarray, sigma: float) -> np.ndarray:
        """Local ratio of the renders' chroma magnitudes (E over warped R), in [0, 1.25]."""
        import cv2

        def chroma(lab: np.ndarray) -> np.ndarray:
            return cv2.GaussianBlur(np.sqrt(lab[..., 1] ** 2 + lab[..., 2] ** 2), (0, 0), sigma)

        return np.clip((chroma(lab_e) + 1.0) / (chroma(lab_r) + 1.0), 0.0, 1.25)

    # -- at the original's resolution -------------------------------------------------------------------

    def _finish(self, flow: np.ndarray, appearance: np.ndarray, alpha: np.ndarray, saturation: np.ndarray | None,
                chroma_e: np.ndarray, allowed: np.ndarray) -> TransferResult:
        import cv2

        s, n = self.s, self.n
        o = self.original
        h, w = o.shape[:2]
        flow_o = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR) * np.array([w / n, h / n], np.float32)
        moved = np.abs(flow_o).max(axis=2) > 0
        warped = o.copy()
        if moved.any():
            interp = {"lanczos": cv2.INTER_LANCZOS4, "cubic": cv2.INTER_CUBIC, "linear": cv2.INTER_LINEAR}
            remapped = px.remap(o, flow_o, interp[s.interpolation])
            np.copyto(warped, remapped, where=moved[..., None])
        base = warped.astype(np.float32) / 255.0
        lab_o = px.to_lab(base)

        gain = cv2.resize(appearance, (w, h), interpolation=cv2.INTER_LINEAR)
        if np.abs(gain).max() > 1e-3:
            guide = lab_o[..., 0] / 100.0
            radius = max(1, int(round(s.guided_radius * max(h, w))))
            gain = px.guided_filter(guide, gain, radius, s.guided_eps)
        if saturation is not None:  # a change of saturation, as a change of the photo's own chroma
            scale_o = cv2.resize(saturation.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
            gain[..., 1:] += (scale_o - 1.0)[..., None] * lab_o[..., 1:]
        bound = self._chroma_bound(lab_o, saturation, chroma_e, allowed)
        gain = px.limit_chroma(lab_o, gain, *bound)
        changed = np.abs(gain).max(axis=2) > 1e-3
        out = warped.copy()
        if changed.any():
            rgb = px.to_rgb(lab_o + gain)
            np.copyto(out, px.to_uint8(rgb), where=changed[..., None])
        gain *= changed[..., None]

        alpha_o = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_LINEAR)
        alpha_o = np.clip(alpha_o, 0.0, 1.0)
        alpha_o[alpha_o < 1e-3] = 0.0
        content = None
        if alpha_o.any():
            content = self._new_content(lab_o, (w, h), bound)
            out = blend(content, out, alpha=alpha_o)
        return TransferResult(out, flow_o.astype(np.float32), gain.astype(np.float32), alpha_o.astype(np.float32),
                              content, self.notes)

    def _chroma_bound(self, lab_o: np.ndarray, saturation: np.ndarray | None, chroma_e: np.ndarray,
                      allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The largest chroma the result may have, per pixel of the original, and ``allowed`` at that size.

        Where the policy lets the edit change colour (``allowed``, a soft mask), the photo's chroma or the edited
        render's (``chroma_e``, low-frequency), whichever is larger; elsewhere the photo's own chroma, times the
        saturation change where only that may change: the render's hue is not trusted there.  Plus
        ``chroma_margin``.  (Without it, a dark parting between blond strands turned saturated blue under the
        "grey hair" edit, whose 64 px render paints bluish-grey hair.)"""
        import cv2

        h, w = lab_o.shape[:2]

        def up(x: np.ndarray) -> np.ndarray:
            return cv2.resize(np.asarray(x, np.float32), (w, h), interpolation=cv2.INTER_LINEAR)

        photo = np.hypot(lab_o[..., 1], lab_o[..., 2])
        own = photo * up(saturation) if saturation is not None else photo
        allowed = up(allowed)
        bound = own * (1.0 - allowed) + np.maximum(photo, up(chroma_e)) * allowed
        return bound + self.s.chroma_margin, allowed

    def _new_content(self, lab_o: np.ndarray, size: tuple[int, int],
                     bound: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """The edited render at the original's size, colour-matched to the photo, with its grain, held to the
        colour ``bound`` of :meth:`_chroma_bound` like the gain (new content may not bring another colour either)."""
        import cv2

        s = self.s
        w, h = size
        e = cv2.resize(self.E, (w, h), interpolation=cv2.INTER_CUBIC)
        r = cv2.resize(self.R, (w, h), interpolation=cv2.INTER_CUBIC)
        sigma = s.colour_sigma * max(h, w)
        lab_e = px.to_lab(np.clip(e, 0, 1))
        correction = cv2.GaussianBlur(lab_o - px.to_lab(np.clip(r, 0, 1)), (0, 0), sigma)
        cl, cab = s.colour_max
        correction[..., 0] = np.clip(correction[..., 0], -cl, cl)
        correction[..., 1:] = np.clip(correction[..., 1:], -cab, cab)
        content = lab_e + correction
        if s.grain:
            content[..., 0] += px.matched_grain(lab_o[..., 0], self._skin_mask((h, w)))
        content = lab_o + px.limit_chroma(lab_o, content - lab_o, *bound)
        return px.to_uint8(px.to_rgb(content))

    def _skin_mask(self, shape: tuple[int, int]) -> np.ndarray | None:
        from .blending import resize_nearest

        if self.labels is None:
            return None
        return resize_nearest(self.labels, shape) == 1


# ---------------------------------------------------------------------------------------------------
# pictures of the maps (editor overlays, benchmark figures)

MAP_KINDS = ("flow", "gain", "alpha")


def map_picture(result: TransferResult, kind: str) -> np.ndarray:
    """RGB uint8 picture of a transfer map (see :meth:`TransferResult.overlay`)."""
    import cv2

    if kind not in MAP_KINDS:
        raise InvalidInput(f"map kind must be one of {', '.join(MAP_KINDS)}; got {kind!r}")
    h, w = result.alpha.shape
    if kind == "flow":
        f = result.flow
        length = np.sqrt((f**2).sum(axis=2))
        top = max(float(length.max()), 1e-6)
        hsv = np.zeros((h, w, 3), np.uint8)
        hsv[..., 0] = ((np.degrees(np.arctan2(f[..., 1], f[..., 0])) % 360) / 2).astype(np.uint8)
        hsv[..., 1] = 255
        hsv[..., 2] = np.clip(length / top * 255, 0, 255).astype(np.uint8)
        return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)
    if kind == "gain":
        g = result.gain
        top = max(float(np.abs(g).max()), 1e-6)
        return np.clip(127.5 + g / top * 127.5, 0, 255).astype(np.uint8)[..., [0, 1, 2]]
    tint = result.image.astype(np.float32)
    a = result.alpha[..., None]
    tint = tint * (1 - 0.6 * a) + np.array([255, 0, 0], np.float32) * 0.6 * a
    return np.clip(tint, 0, 255).astype(np.uint8)

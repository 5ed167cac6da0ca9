"""Projection: find the W+ code that makes a generator reproduce a face image.

An encoder guess (or the mean W) is refined by optimisation over W+ (or W, or W+ with a penalty pulling
the rows together) with Adam or L-BFGS.  The loss per image is

    mse_weight * pixel MSE + perceptual_weight * perceptual distance
    + encoder_weight * |E(G(w)) - w|^2   (in-domain regulariser: stay where the encoder can reach)
    + wplus_penalty * spread of the W+ rows + noise_weight * noise-map autocorrelation (if optimised)

where the perceptual distance is LPIPS when its weights are available, otherwise the features of the
model's discriminator.  ``anycost_weight`` > 0 adds the same loss for a random anycost sub-generator
(channel ratio / resolution) per step, so that previews of the projected face agree with the full render.
A batch stops early when its loss stops improving.

:func:`project` is the one-call API; :class:`Projector` holds the models and settings for many calls;
:func:`project_files` (in :mod:`faceedit.projection.batch`, importable from here) is the batch run behind
``faceedit project`` (outputs, cache, metrics, failures).
"""
from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..errors import CheckpointError, ConfigError, FaceEditError, InvalidInput, ModelMismatch, WeightsNotAvailable
from ..images import check_image, to_image, to_tensor
from ..types import Face, Latent

SPACES = ("w", "w+")
OPTIMIZERS = ("adam", "lbfgs")
PERCEPTUAL = ("auto", "lpips", "discriminator", "none")
INITS = ("encoder", "mean")


@dataclass
class ProjectionSettings:
    """Every knob of the projection; the presets are named sets of these (see :data:`PRESETS`)."""

    init: str = "encoder"  # "encoder" (the mean W when there is no encoder) | "mean"
    steps: int = 60  # optimisation steps; 0 = the initial guess only
    space: str = "w+"  # "w+" (one row per layer) | "w" (one vector for all layers)
    optimizer: str = "adam"  # "adam" | "lbfgs"
    lr: float = 0.1  # Adam step in units of the per-element std of W (L-BFGS: 10 x lr, then line search)
    mse_weight: float = 1.0
    perceptual: str = "auto"  # "auto" (LPIPS if available, else discriminator, else none) | ...
    perceptual_weight: float = 0.3
    lpips_net: str = "vgg"
    lpips_trunk: str = ""  # paths of LPIPS weights (else the weights registry / lpips package)
    lpips_heads: str = ""
    encoder_weight: float = 0.0  # in-domain regulariser |E(G(w)) - w|^2 (needs an encoder)
    wplus_penalty: float = 0.0  # pulls the W+ rows towards their mean (units: W std)
    noise: bool = False  # also optimise the per-layer noise maps
    noise_weight: float = 1e3  # their autocorrelation regulariser
    anycost_weight: float = 0.0  # loss of a random sub-generator per step
    plateau_patience: int = 15  # stop when the loss fell by less than plateau_tol (relative) ...
    plateau_tol: float = 2e-3  # ... over the last plateau_patience steps
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("space", SPACES), ("optimizer", OPTIMIZERS), ("perceptual", PERCEPTUAL),
                              ("init", INITS)):
            if getattr(self, name) not in allowed:
                raise InvalidInput(f"projection setting {name}={getattr(self, name)!r}: expected one of {allowed}")
        if self.steps < 0 or self.batch_size < 1 or self.lr <= 0 or self.plateau_patience < 1:
            raise InvalidInput("projection settings: steps >= 0, batch_size >= 1, lr > 0, plateau_patience >= 1")
        if self.optimizer == "lbfgs" and self.anycost_weight > 0:
            raise InvalidInput("anycost_weight needs optimizer='adam' (L-BFGS needs a fixed objective)")

    @classmethod
    def from_preset(cls, preset: str = "balanced", **overrides: Any) -> "ProjectionSettings":
        """A preset (``fast``, ``balanced``, ``faithful``) with some knobs overridden."""
        if preset not in PRESETS:
            raise InvalidInput(f"unknown projection preset {preset!r}; choose one of {sorted(PRESETS)}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise ConfigError(f"unknown projection setting(s) {unknown}; known: {sorted(known)}")
        values = {**PRESETS[preset], **overrides}
        defaults = cls()
        for name, value in values.items():  # coerce "1" → 1 etc. from CLI/TOML overrides
            kind = type(getattr(defaults, name))
            try:
                values[name] = _coerce(value, kind)
            except (TypeError, ValueError):
                raise ConfigError(f"projection setting {name}={value!r}: expected {kind.__name__}") from None
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a plain dict (for metrics.json and the cache key)."""
        return dataclasses.asdict(self)


def _coerce(value: Any, kind: type) -> Any:
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(value)
        return value.lower() in ("true", "1", "yes")
    return kind(value)


PRESETS: dict[str, dict[str, Any]] = {
    # the encoder's guess only (the mean W without an encoder)
    "fast": {"steps": 0},
    # a short Adam refinement in W+, rows pulled slightly together: the editing default
    "balanced": {"steps": 60, "lr": 0.1, "wplus_penalty": 0.01},
    # long refinement, no row penalty: best reconstruction, less editable
    "faithful": {"steps": 300, "lr": 0.05, "plateau_patience": 40, "plateau_tol": 5e-4},
}
"""Named settings; every knob can be overridden (``ProjectionSettings.from_preset(name, **overrides)``)."""


@dataclass
class ProjectionResult:
    """One projected image: the latent, the reconstruction (RGB uint8 at the generator's resolution),
    per-image metrics (psnr, ssim, lpips when available, loss curve, steps, seconds) and, when noise maps
    were optimised, those maps (the reconstruction uses them; the latent alone renders with const noise)."""

    latent: Latent
    image: np.ndarray
    metrics: dict[str, Any]
    noise: list[np.ndarray] | None = None


# ------------------------------------------------------------------------------------- perceptual losses
class _Perceptual:
    """A perceptual distance with reusable target features: ``features(x)``, ``distance(fx, fy) -> (N,)``."""

    name = "none"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        raise NotImplementedError

    def distance(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError


class _LpipsPerceptual(_Perceptual):
    def __init__(self, model: nn.Module) -> None:
        self.model, self.name = model, f"lpips-{model.net}"

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] < 64:  # VGG/AlexNet need some pixels for their deep taps
            x = nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
        return self.model.trunk_features(x)

    def distance(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        return self.model.distance(fx, fy)


class _DiscriminatorPerceptual(_Perceptual):
    """Mean squared difference of unit-normalised discriminator feature maps, averaged over layers."""

    name = "discriminator"

    def __init__(self, discriminator: nn.Module) -> None:
        self.model = discriminator.eval()

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        from ..models.encoder import resize_input

        return self.model.features(resize_input(x, self.model.resolution))

    def distance(self, fx: list[torch.Tensor], fy: list[torch.Tensor]) -> torch.Tensor:
        from ..models.lpips import unit_normalize

        per_layer = [(unit_normalize(a) - unit_normalize(b)).pow(2).sum(1).mean((1, 2)) for a, b in zip(fx, fy)]
        return torch.stack(per_layer).mean(0)


def _load_perceptual(settings: ProjectionSettings, discriminator: nn.Module | None,
                     lpips: nn.Module | None) -> tuple[_Perceptual | None, nn.Module | None]:
    """The perceptual loss the settings ask for (none without optimisation steps), and the LPIPS model for
    metrics (either may be None)."""
    from ..models.lpips import load_lpips

    if lpips is None and settings.perceptual in ("auto", "lpips"):
        try:
            lpips = load_lpips(settings.lpips_net, settings.lpips_trunk or None, settings.lpips_heads or None)
        except WeightsNotAvailable:
            if settings.perceptual == "lpips":
                raise
    if settings.perceptual == "none" or settings.perceptual_weight == 0 or settings.steps == 0:
        return None, lpips
    if settings.perceptual in ("auto", "lpips") and lpips is not None:
        return _LpipsPerceptual(lpips), lpips
    if discriminator is None:
        try:
            from ..models.checkpoints import load_discriminator

            discriminator = load_discriminator()
        except (ImportError, FaceEditError):
            if settings.perceptual == "discriminator":
                raise CheckpointError("perceptual='discriminator' but no discriminator is available: pass "
                                      "one, or install the default model suite") from None
            return None, lpips
    return _DiscriminatorPerceptual(discriminator), lpips


# ------------------------------------------------------------------------------------------- noise maps
class _NoiseMaps(nn.Module):
    """Stand-in for a generator's ``noises`` module with per-image maps ``noise_i`` (N, 1, r, r)."""

    def __init__(self, maps: list[torch.Tensor]) -> None:
        super().__init__()
        self.maps = maps
        for i, m in enumerate(maps):
            object.__setattr__(self, f"noise_{i}", m)


def _with_noise(generator: nn.Module, maps: list[torch.Tensor]) -> nn.Module:
    """A shallow view of ``generator`` whose const noise buffers are ``maps`` (the original is untouched)."""
    import copy

    view = copy.copy(generator)
    view._modules = dict(generator._modules)
    view._modules["noises"] = _NoiseMaps(maps)
    return view


def _noise_regularizer(maps: list[torch.Tensor]) -> torch.Tensor:
    """StyleGAN2's multi-scale autocorrelation penalty of noise maps, per image ``(N,)``."""
    total = maps[0].new_zeros(maps[0].shape[0])
    for m in maps:
        while True:
            total = total + (m * m.roll(1, dims=3)).mean((1, 2, 3)) ** 2 + (m * m.roll(1, dims=2)).mean((1, 2, 3)) ** 2
            if m.shape[-1] <= 8:
                break
            m = nn.functional.avg_pool2d(m, 2)
    return total


def _normalize_noise_(maps: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for m in maps:
            m.sub_(m.mean((1, 2, 3), keepdim=True)).div_(m.std((1, 2, 3), keepdim=True) + 1e-8)


# ------------------------------------------------------------------------------------------- projector
class Projector:
    """Projects face images into a generator's W+ with fixed settings (see :class:`ProjectionSettings`).

    ``encoder`` gives the initial guess (and the in-domain regulariser); ``discriminator`` and ``lpips``
    may be passed to choose the perceptual loss explicitly (otherwise they are loaded as the settings
    say).  The models are put in eval mode (and on ``device``); their parameters are never changed and
    get no gradients, so the same generator can serve other threads meanwhile.
    """

    def __init__(self, generator: nn.Module, encoder: nn.Module | None = None,
                 settings: ProjectionSettings | None = None, discriminator: nn.Module | None = None,
                 lpips: nn.Module | None = None, device: str | torch.device = "cpu",
                 progress: bool = False) -> None:
        self.settings = settings or ProjectionSettings.from_preset("balanced")
        self.device = torch.device(device)
        self.generator = generator.eval().to(self.device)
        self.encoder = encoder.eval().to(self.device) if encoder is not None else None
        if self.encoder is not None:
            check_encoder_pairing(self.encoder, generator)
        perceptual, self.lpips = _load_perceptual(self.settings, discriminator, lpips)
        self.perceptual = perceptual
        for m in (getattr(perceptual, "model", None), self.lpips):
            if m is not None:
                m.to(self.device)
        self.progress = progress
        self._w_mean: torch.Tensor | None = None
        self._w_std: float | None = None

    @property
    def perceptual_name(self) -> str:
        """``lpips-vgg``, ``lpips-alex``, ``discriminator`` or ``none``."""
        return self.perceptual.name if self.perceptual is not None else "none"

    def _w_stats(self) -> tuple[torch.Tensor, float]:
        if self._w_mean is None:
            with torch.no_grad():
                from ..models.stylegan2 import seeded_z

                z = seeded_z(2000, self.generator.style_dim, 0).to(self.device)
                w = self.generator.mapping(z)
            self._w_mean = w.mean(0, keepdim=True)
            self._w_std = float(w.std(0).pow(2).mean().sqrt())
        return self._w_mean, self._w_std

    # --------------------------------------------------------------------------------------------- API
    def project(self, images: np.ndarray | Face | Sequence[np.ndarray | Face],
                init: Sequence[Latent] | None = None,
                on_step: Callable[[int, int], None] | None = None) -> list[ProjectionResult]:
        """Project RGB uint8 face images (aligned; any size, resized to the generator's resolution) or
        :class:`Face` objects.  ``init`` optionally gives starting latents (checked against the model).

        ``on_step(done, total)`` is called after every optimisation step of a batch (for progress bars);
        an exception it raises (e.g. a cancellation) stops the projection there and propagates."""
        arrays = _as_arrays(images)
        if init is not None:
            if len(init) != len(arrays):
                raise InvalidInput(f"{len(init)} initial latents for {len(arrays)} images")
            for lat in init:
                lat.check_model(self.generator.model_id)
        bs = self.settings.batch_size
        results: list[ProjectionResult] = []
        for i in range(0, len(arrays), bs):
            results += self.project_batch(arrays[i:i + bs], None if init is None else init[i:i + bs], on_step)
        return results

    def project_batch(self, images: Sequence[np.ndarray], init: Sequence[Latent] | None = None,
                      on_step: Callable[[int, int], None] | None = None) -> list[ProjectionResult]:
        """Project one batch together (one optimisation over all of it); ``on_step`` as in :meth:`project`."""
        s, G = self.settings, self.generator
        start = time.perf_counter()
        target = to_tensor(images, size=G.resolution).to(self.device)
        n = target.shape[0]
        w0 = self._initial_w(target, init)
        w_var = w0.mean(1, keepdim=True).clone() if s.space == "w" else w0.clone()
        w_var.requires_grad_(True)
        maps = self._initial_noise(n) if s.noise else None
        curves: list[list[float]] = [[] for _ in range(n)]
        steps_run = 0
        if s.steps > 0:
            steps_run = self._optimise(target, w_var, maps, curves, on_step)
        w_final = w_var.detach().expand(-1, G.n_latent, -1) if s.space == "w" else w_var.detach()
        with torch.no_grad():
            render = (_with_noise(G, maps) if maps is not None else G).synthesis(w_final, noise_mode="const")
        seconds = (time.perf_counter() - start) / n
        recon = to_image(render)
        originals = to_image(target)
        lpips_values = None
        if self.lpips is not None:
            with torch.no_grad():
                saved = to_tensor(recon).to(self.device)  # the reconstruction as saved (clipped, 8-bit)
                lpips_values = self.lpips(_lpips_size(saved), _lpips_size(target)).cpu().numpy()
        from ..measure.metrics import psnr, ssim

        results = []
        for i in range(n):
            metrics = {"psnr": round(min(psnr(originals[i], recon[i]), 100.0), 4),
                       "ssim": round(ssim(originals[i], recon[i]), 5),
                       "steps": steps_run, "seconds": round(seconds, 4),
                       "loss_curve": [round(v, 6) for v in curves[i]]}
            if lpips_values is not None:
                metrics["lpips"] = round(float(lpips_values[i]), 5)
            noise = [m[i].detach().cpu().numpy() for m in maps] if maps is not None else None
            results.append(ProjectionResult(Latent(w_final[i].cpu().numpy(), G.model_id), recon[i], metrics, noise))
        return results

    # ------------------------------------------------------------------------------------------ internals
    def _initial_w(self, target: torch.Tensor, init: Sequence[Latent] | None) -> torch.Tensor:
        G = self.generator
        if init is not None:
            w = torch.from_numpy(np.stack([lat.w for lat in init])).to(self.device)
            if tuple(w.shape[1:]) != (G.n_latent, G.style_dim):
                raise ModelMismatch(f"initial latents are {tuple(w.shape[1:])}, the generator needs "
                                    f"({G.n_latent}, {G.style_dim})")
            return w
        if self.settings.init == "encoder" and self.encoder is not None:
            with torch.no_grad():
                return self.encoder(target)
        w_mean, _ = self._w_stats()
        return w_mean[:, None].expand(target.shape[0], G.n_latent, -1).clone()

    def _initial_noise(self, n: int) -> list[torch.Tensor]:
        G = self.generator
        maps = [getattr(G.noises, f"noise_{i}").detach().expand(n, -1, -1, -1).clone().requires_grad_(True)
                for i in range(G.num_layers)]
        return maps

    def _losses(self, w_var: torch.Tensor, maps: list[torch.Tensor] | None, target: torch.Tensor,
                target_feats: list[torch.Tensor] | None, sub: tuple[float, int] | None) -> torch.Tensor:
        """Per-image loss ``(N,)``."""
        s, G = self.settings, self.generator
        w = w_var.expand(-1, G.n_latent, -1) if s.space == "w" else w_var
        gen = _with_noise(G, maps) if maps is not None else G
        img = gen.synthesis(w, noise_mode="const")
        loss = self._image_loss(img, target, target_feats)
        if sub is not None:
            ratio, res = sub
            small = gen.synthesis(w, noise_mode="const", channel_ratio=ratio, resolution=res)
            from ..models.encoder import resize_input

            t_small = resize_input(target, res)
            feats = self.perceptual.features(t_small) if self.perceptual is not None else None
            loss = loss + s.anycost_weight * self._image_loss(small, t_small, feats)
        _, w_std = self._w_stats()
        if s.encoder_weight > 0 and self.encoder is not None:
            loss = loss + s.encoder_weight * ((self.encoder(img) - w) / w_std).pow(2).mean((1, 2))
        if s.wplus_penalty > 0 and s.space == "w+":
            loss = loss + s.wplus_penalty * ((w - w.mean(1, keepdim=True)) / w_std).pow(2).mean((1, 2))
        if maps is not None:
            loss = loss + s.noise_weight * _noise_regularizer(maps)
        return loss

    def _image_loss(self, img: torch.Tensor, target: torch.Tensor,
                    target_feats: list[torch.Tensor] | None) -> torch.Tensor:
        s = self.settings
        loss = s.mse_weight * _saturation_aware_diff(img, target).pow(2).mean((1, 2, 3))
        if self.perceptual is not None and target_feats is not None:
            loss = loss + s.perceptual_weight * self.perceptual.distance(self.perceptual.features(img), target_feats)
        return loss

    def _optimise(self, target: torch.Tensor, w_var: torch.Tensor, maps: list[torch.Tensor] | None,
                  curves: list[list[float]], on_step: Callable[[int, int], None] | None = None) -> int:
        """Run the optimisation in place on ``w_var`` (and ``maps``); returns the number of steps run."""
        s, G = self.settings, self.generator
        _, w_std = self._w_stats()
        with torch.no_grad():
            target_feats = self.perceptual.features(target) if self.perceptual is not None else None
        variables = [w_var] + (maps or [])
        params = [{"params": [w_var], "lr": s.lr * w_std}]
        if maps is not None:
            params.append({"params": maps, "lr": s.lr})
        if s.optimizer == "adam":
            opt: torch.optim.Optimizer = torch.optim.Adam(params, betas=(0.9, 0.999))
        else:
            opt = torch.optim.LBFGS(variables, lr=s.lr * 10, max_iter=1, history_size=10,
                                    line_search_fn="strong_wolfe")
        rng = np.random.default_rng(s.seed)
        sub_sizes = [r for r in (G.resolution // 2, G.resolution) if r >= 8]
        best = math.inf
        history: list[float] = []
        from tqdm.auto import tqdm

        bar = tqdm(range(s.steps), desc="optimise", leave=False, disable=not self.progress, unit="step")
        step = 0
        for step in bar:
            if s.optimizer == "adam":
                for group in opt.param_groups:  # rampdown over the last quarter (as in StyleGAN2's projector)
                    group.setdefault("base_lr", group["lr"])
                    t = step / max(1, s.steps)
                    group["lr"] = group["base_lr"] * min(1.0, (1 - t) / 0.25) * min(1.0, t / 0.05 + 0.05)
            sub = None
            if s.anycost_weight > 0:
                sub = (float(rng.choice([0.25, 0.5, 0.75, 1.0])), int(rng.choice(sub_sizes)))
            per_image: list[torch.Tensor] = []

            def closure() -> torch.Tensor:
                loss = self._losses(w_var, maps, target, target_feats, sub)
                per_image[:] = [loss.detach()]
                total = loss.sum()
                # gradients of the variables only: the models' parameters get no .grad and stay untouched
                for var, grad in zip(variables, torch.autograd.grad(total, variables)):
                    var.grad = grad
                return total.detach()

            opt.step(closure)
            if maps is not None:
                _normalize_noise_(maps)
            values = per_image[0].cpu().tolist()
            for curve, v in zip(curves, values):
                curve.append(v)
            total = float(sum(values))
            history.append(total)
            best = min(best, total)
            bar.set_postfix(loss=f"{total / len(values):.4f}")
            if on_step is not None:
                on_step(step + 1, s.steps)
            if len(history) > s.plateau_patience:
                past = history[-1 - s.plateau_patience]
                if past - min(history[-s.plateau_patience:]) < s.plateau_tol * abs(past):
                    break
        bar.close()
        return step + 1


def _saturation_aware_diff(img: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``img - target``, but zero where the target is saturated (at -1 or 1, e.g. a clipped render) and the
    generator goes beyond it: such pixels already match after clipping to the image range."""
    diff = img - target
    beyond = ((target >= 1 - 1e-3) & (diff > 0)) | ((target <= -1 + 1e-3) & (diff < 0))
    return diff.masked_fill(beyond, 0.0)


def _lpips_size(x: torch.Tensor) -> torch.Tensor:
    if x.shape[-1] >= 64:
        return x
    return nn.functional.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)


def _as_arrays(images: np.ndarray | Face | Sequence[np.ndarray | Face]) -> list[np.ndarray]:
    if isinstance(images, Face) or (isinstance(images, np.ndarray) and images.ndim == 3):
        images = [images]
    arrays = [check_image(im.image if isinstance(im, Face) else im, f"image {i}") for i, im in enumerate(images)]
    if not arrays:
        raise InvalidInput("no images to project")
    return arrays


def check_encoder_pairing(encoder: nn.Module, generator: nn.Module) -> None:
    """Refuse an encoder trained for another generator (shapes, or the ``generator_model_id`` it records)."""
    if (encoder.n_latent, encoder.style_dim) != (generator.n_latent, generator.style_dim):
        raise ModelMismatch(f"the encoder predicts ({encoder.n_latent}, {encoder.style_dim}) latents, the "
                            f"generator {generator.model_id!r} needs ({generator.n_latent}, {generator.style_dim})")
    expected = getattr(encoder, "meta", {}).get("generator_model_id")
    if expected and expected != generator.model_id:
        raise ModelMismatch(f"the encoder was trained for generator {expected!r}, not {generator.model_id!r}")


def paired_encoder(generator: nn.Module) -> nn.Module | None:
    """The built-in encoder when it was trained for ``generator`` (shapes and recorded model id), else None."""
    from ..models.encoder import load_encoder

    try:
        encoder = load_encoder(None)
        check_encoder_pairing(encoder, generator)
    except FaceEditError:
        return None
    return encoder


def resolve_encoder(encoder: Any, generator: nn.Module) -> nn.Module | None:
    """The encoder to use for ``generator``: a model or None as given, ``"auto"`` (:func:`paired_encoder`), or a
    file path loaded and checked (an encoder made for another generator raises
    :class:`~faceedit.errors.ModelMismatch`)."""
    if encoder is None or hasattr(encoder, "forward"):
        return encoder
    if encoder == "auto":
        return paired_encoder(generator)
    from ..models.encoder import load_encoder

    loaded = load_encoder(encoder)
    check_encoder_pairing(loaded, generator)
    return loaded


def project(generator: nn.Module, images: np.ndarray | Face | Sequence[np.ndarray | Face],
            preset: str = "balanced", encoder: nn.Module | str | None = "auto", **overrides: Any) -> list[Latent]:
    """Project face image(s) into ``generator``'s W+ with a preset (``fast``, ``balanced``, ``faithful``)
    and optional overrides of any :class:`ProjectionSettings` knob; returns one :class:`Latent` per image.

    ``encoder``: a model, ``"auto"`` (default: the built-in encoder when it belongs to ``generator``, see
    :func:`paired_encoder`) or None (start from the mean W; ``fast`` then returns the mean face)."""
    if isinstance(encoder, str):
        if encoder != "auto":
            raise InvalidInput(f"encoder must be a model, 'auto' or None; got {encoder!r}")
        encoder = paired_encoder(generator)
    settings = ProjectionSettings.from_preset(preset, **overrides)
    return [r.latent for r in Projector(generator, encoder, settings).project(images)]


# the batch runs behind `faceedit project` live in their own module; their names stay importable from here
from .batch import RunSummary, cache_key, project_files

__all__ = ["INITS", "OPTIMIZERS", "PERCEPTUAL", "PRESETS", "SPACES", "ProjectionResult", "ProjectionSettings",
           "Projector", "RunSummary", "cache_key", "check_encoder_pairing", "paired_encoder", "project",
           "project_files", "resolve_encoder"]

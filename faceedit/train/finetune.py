"""``faceedit train finetune``: sharpen a trained generator adversarially on the CPU, keeping its encoder.

The default generator starts as the decoder of an autoencoder (``faceedit train encoder --set
train.mode="joint"``): face-shaped but blurry.  This stage fine-tunes it against a *projected*
discriminator (after Sauer et al. 2021): the frozen trunk of the project's own attribute predictor gives
features at several scales, each is mixed by a fixed random 1x1 projection (a buffer, never trained) and
judged by a small trainable head; a small patch discriminator judges the pixels (``disc.patch_channels = 0``
turns it off).  Frozen, pre-trained
features let a tiny discriminator give useful gradients from the first steps, which is what a CPU budget
needs.  Losses: non-saturating logistic, lazy R1 on the heads' input gradients, DiffAugment on
everything the discriminator sees, an EMA copy of the generator.  To keep inversion good, the encoder is
trained along and an encoder-path reconstruction term (pixel MSE + distance of the frozen features),
whose weight halves every ``rec_halflife_kimg``, ties ``G(E(x))`` to the photo.  ``train.texture_weight`` adds a
texture term on that path (:func:`gram_distance`), ``train.adv_weight = 0`` drops the adversary (no
discriminator step): the texture-only leg of the model card, which gave the same universal dither.

Checkpoints hold every network, optimiser, the data order and the RNG states (``--resume`` is exact);
``--minutes`` stops, checkpoints and exports.  Outputs: ``generator.safetensors`` (EMA) and
``encoder.safetensors`` with a new model id (``train.model_id``), sample grids, ``log.csv``/``.jsonl``.
"""
from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..config import save_config
from ..errors import ConfigError, DataError
from ..images import image_grid, save_image, to_image, to_tensor
from .augment import diff_augment, random_flip
from .data import FaceData
from .ddp import current_world
from .gan import sample_w_plus
from .loop import (
    CHECKPOINT_NAME,
    after_step,
    deadline_for,
    ema_update,
    requires_grad,
    resume_or_seed,
    write_checkpoint,
)

DEFAULTS: dict[str, Any] = {
    "disc": {"stages": 3, "proj_channels": 32, "head_channels": 32, "patch_channels": 16, "seed": 1234,
             "feature_lowpass": 0},
    "train": {"steps": 20000, "batch": 16, "g_lr": 2e-4, "d_lr": 2e-4, "e_lr": 1e-4, "r1_gamma": 0.1, "r1_every": 16,
              "mixing_prob": 0.5, "ema_kimg": 2.0, "augment": ["color", "translation", "cutout"],
              "rec_weight": 1.0, "feature_weight": 0.1, "rec_halflife_kimg": 20.0, "d_warmup": 0,
              "adv_weight": 1.0, "texture_weight": 0.0,
              "generator": "", "encoder": "", "features": "", "model_id": "faceedit-celeba64-ft",
              "sources": ["celeba"], "seed": 0, "stop_at": 0, "max_minutes": 0.0, "budget_clock": "wall",
              "log_every": 25, "sample_every": 250, "checkpoint_every": 250, "n_samples": 32},
}


# ---------------------------------------------------------------------------------------------------
# the projected discriminator


class FrozenFeatures(nn.Module):
    """The stem and the first ``stages`` stages of a :class:`~faceedit.models.resnet.CompactResNet` trunk
    (e.g. the attribute predictor's), frozen and in eval mode; ``forward`` returns one map per stage."""

    def __init__(self, trunk: nn.Module, stages: int, input_size: int, lowpass: int = 0) -> None:
        super().__init__()
        self.lowpass = int(lowpass)  # average the input over lowpass x lowpass pixels first (0/1: off)
        if stages < 1 or stages > len(trunk.stages):
            raise ConfigError(f"disc.stages must be 1..{len(trunk.stages)}; got {stages}")
        self.trunk = copy.deepcopy(trunk).eval()
        self.stages = stages
        self.input_size = input_size
        requires_grad(self.trunk, False)
        self.channels = [self.trunk.stages[i][-1].conv2.out_channels for i in range(stages)]

    def train(self, mode: bool = True) -> "FrozenFeatures":
        """Always eval: the batch-norm statistics of the frozen trunk never move."""
        super().train(mode)
        self.trunk.eval()
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        from ..models.encoder import resize_input

        t = self.trunk
        if self.lowpass > 1:  # the frozen features see no per-pixel pattern (the patch D judges those)
            size = x.shape[-2:]
            x = F.interpolate(F.avg_pool2d(x, self.lowpass), size=size, mode="bilinear", align_corners=False)
        h = t.relu(t.bn1(t.conv1(resize_input(x, self.input_size))))
        maps = []
        for i in range(self.stages):
            h = t.stages[i](h)
            maps.append(h)
        return maps


class ProjectedDiscriminator(nn.Module):
    """Small trainable heads on fixed random projections of frozen multi-scale features, plus a small
    patch discriminator on the pixels; ``forward`` returns all patch logits ``(N, K)``."""

    def __init__(self, features: FrozenFeatures, proj_channels: int = 32, head_channels: int = 32,
                 patch_channels: int = 16, seed: int = 1234) -> None:
        super().__init__()
        self.features = features
        g = torch.Generator().manual_seed(seed)
        self.heads = nn.ModuleList()
        for i, c in enumerate(features.channels):
            proj = torch.linalg.qr(torch.randn(max(c, proj_channels), max(c, proj_channels), generator=g))[0]
            self.register_buffer(f"proj{i}", proj[:proj_channels, :c].contiguous())
            self.heads.append(nn.Sequential(
                nn.Conv2d(proj_channels, head_channels, 3, padding=1), nn.LeakyReLU(0.2),
                nn.Conv2d(head_channels, 1, 1)))
        p = patch_channels
        self.patch = None if p <= 0 else nn.Sequential(
            nn.Conv2d(3, p, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(p, 2 * p, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * p, 4 * p, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(4 * p, 1, 3, padding=1))

    def trainable(self) -> list[nn.Parameter]:
        """The parameters the discriminator's optimiser updates (heads and patch discriminator)."""
        return [*self.heads.parameters(), *(self.patch.parameters() if self.patch is not None else [])]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = [] if self.patch is None else [self.patch(x).flatten(1)]
        for i, (f, head) in enumerate(zip(self.features(x), self.heads)):
            projected = torch.einsum("oc,nchw->nohw", getattr(self, f"proj{i}"), f)
            logits.append(head(projected).flatten(1))
        return torch.cat(logits, dim=1)


def feature_distance(features: FrozenFeatures, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Mean squared difference of channel-normalised frozen features, summed over the stages."""
    total = a.new_zeros(())
    for fa, fb in zip(features(a), features(b)):
        fa = fa / (fa.pow(2).mean(1, keepdim=True).sqrt() + 1e-6)
        fb = fb / (fb.pow(2).mean(1, keepdim=True).sqrt() + 1e-6)
        total = total + (fa - fb).pow(2).mean()
    return total


def gram_distance(features: FrozenFeatures, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Texture distance (Gatys et al.): mean squared difference of the per-image Gram matrices of the frozen
    features of ``a`` and ``b`` (channel correlations, position-free), each stage scaled by ``b``'s Gram energy."""
    total = a.new_zeros(())
    for fa, fb in zip(features(a), features(b)):
        ga = torch.bmm(fa.flatten(2), fa.flatten(2).transpose(1, 2)) / fa[0].numel()
        gb = torch.bmm(fb.flatten(2), fb.flatten(2).transpose(1, 2)) / fb[0].numel()
        total = total + (ga - gb).pow(2).mean() / (gb.pow(2).mean().detach() + 1e-8)
    return total


def build_discriminator(cfg: dict, trunk: nn.Module, input_size: int) -> ProjectedDiscriminator:
    """The projected discriminator of ``cfg["disc"]`` on a frozen copy of ``trunk``."""
    dc = cfg["disc"]
    features = FrozenFeatures(trunk, int(dc["stages"]), input_size, int(dc.get("feature_lowpass", 0)))
    return ProjectedDiscriminator(features, dc["proj_channels"], dc["head_channels"], dc["patch_channels"],
                                  dc["seed"])


def _r1_penalty(D: ProjectedDiscriminator, real: torch.Tensor, policy: list[str]) -> torch.Tensor:
    real = real.detach().requires_grad_(True)
    (grad,) = torch.autograd.grad(D(diff_augment(real, policy)).sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()


def rec_weight(tc: dict, kimg: float) -> float:
    """The encoder-path reconstruction weight after ``kimg`` thousand images (halves every half-life)."""
    half = float(tc["rec_halflife_kimg"])
    return float(tc["rec_weight"]) * (0.5 ** (kimg / half) if half > 0 else 1.0)


# ---------------------------------------------------------------------------------------------------
# the loop


def _load_models(cfg: dict, device: torch.device) -> tuple[nn.Module, nn.Module, nn.Module, int]:
    """(generator, encoder, attribute-predictor trunk, its input size) from the config (default: the
    built-in suite)."""
    from ..models.attributes import load_attribute_predictor
    from ..models.checkpoints import load_generator
    from ..models.encoder import load_encoder

    tc = cfg["train"]
    G = load_generator(tc["generator"] or None).to(device).train()
    E = load_encoder(tc["encoder"] or None).to(device).train()
    if E.n_latent != G.n_latent or E.style_dim != G.style_dim:
        raise ConfigError(f"the encoder makes ({E.n_latent}, {E.style_dim}) codes, the generator needs "
                          f"({G.n_latent}, {G.style_dim})")
    P = load_attribute_predictor(tc["features"] or None)
    if not hasattr(P, "trunk"):
        raise ConfigError("train.features must be a compact attribute predictor (CompactResNet trunk)")
    return G, E, P.trunk.to(device), int(P.input_size)


def train_finetune(data: FaceData, out_dir: str | Path, cfg: dict, device: torch.device, resume: bool = False,
                   models: tuple[nn.Module, nn.Module, nn.Module, int] | None = None) -> dict[str, float]:
    """Fine-tune (or resume) generator + encoder against the projected discriminator on the training crops
    of ``data`` (``train.sources``); ``models`` replaces :func:`_load_models` (tests pass tiny ones).
    Returns the last logged losses."""
    from tqdm import tqdm

    from ..models.checkpoints import save_model
    from ..models.encoder import save_encoder
    from ..models.stylegan2 import seeded_z

    out_dir = Path(out_dir)
    world = current_world()
    if world.main:
        (out_dir / "samples").mkdir(parents=True, exist_ok=True)
    tc = cfg["train"]
    torch.manual_seed(tc["seed"])
    G, E, trunk, size = models if models is not None else _load_models(cfg, device)
    if data.resolution != G.resolution:
        raise DataError(f"the data cache holds {data.resolution}-px crops, the generator makes {G.resolution} px")
    keep = np.isin(data.source, list(tc["sources"])) & ~data.val
    train_images = data.images[keep]
    if not len(train_images):
        raise DataError(f"no training crops from sources {list(tc['sources'])}")
    D = build_discriminator(cfg, trunk, size).to(device)
    G_ema = copy.deepcopy(G).eval()
    requires_grad(G_ema, False)
    c = tc["r1_every"] / (tc["r1_every"] + 1)
    opt_g = torch.optim.Adam([p for n, p in G.named_parameters()], lr=tc["g_lr"], betas=(0.0, 0.99))
    opt_e = torch.optim.Adam(E.parameters(), lr=tc["e_lr"], betas=(0.9, 0.99))
    opt_d = torch.optim.Adam(D.trainable(), lr=tc["d_lr"] * c, betas=(0.0, 0.99 ** c))
    batches = world.batches(len(train_images), tc["batch"], tc["seed"])
    objects = dict(G=G, E=E, D=D, G_ema=G_ema, opt_g=opt_g, opt_e=opt_e, opt_d=opt_d)
    world.distribute(objects)
    fixed_z = seeded_z(tc["n_samples"], G.style_dim, tc["seed"] + 1)
    if world.main:
        save_config(cfg, out_dir / "config.toml")
    # under torchrun each rank its own fakes and augmentations (a single process keeps its stream)
    step, log = resume_or_seed(out_dir, resume, world, tc["seed"], False, batches=batches, **objects)
    policy = list(tc["augment"])

    def checkpoint() -> None:
        write_checkpoint(out_dir / CHECKPOINT_NAME, step, cfg, batches=batches, **objects)

    def samples() -> None:
        if not world.main:
            return
        with torch.no_grad():
            w = G_ema.mapping(fixed_z.to(device))
            imgs = G_ema.synthesis(w[:, None].repeat(1, G_ema.n_latent, 1), noise_mode="const")
        save_image(out_dir / "samples" / f"step{step:07d}.png", image_grid(to_image(imgs.float().cpu()), ncol=8))

    steps, last = tc["steps"], {"r1": float("nan")}
    end = min(steps, tc["stop_at"] or steps)
    deadline = deadline_for(tc)
    t0, seen = time.time(), 0
    bar = tqdm(total=steps, initial=step, desc="finetune", unit="step", disable=not world.main)
    while step < end:
        real = random_flip(to_tensor(train_images[next(batches)]).to(device))
        n = real.shape[0] * world.size  # the global batch
        last.update(_step(G, E, D, real, tc, policy, step, opt_g, opt_e, opt_d, device))
        ema_nimg = min(tc["ema_kimg"] * 1000, (step + 1) * n * 0.05)
        ema_update(G_ema, G, 0.5 ** (n / max(ema_nimg, 1e-8)))
        step += 1
        seen += n
        out_of_time = world.agree(deadline.passed())
        bar.update(1)
        if log is not None and (step % tc["log_every"] == 0 or step == end):
            ips = seen / max(time.time() - t0, 1e-9)
            bar.set_postfix(d=f"{last['d_loss']:.3f}", g=f"{last['g_adv']:.3f}", img_s=f"{ips:.1f}")
            log.write({"step": step, "kimg": step * n / 1000, **last, "images_per_s": ips})
        if after_step(step, end, out_of_time, tc, samples, checkpoint):
            break
    bar.close()
    if not world.main:
        return last
    meta = {"trained_steps": step, "trained_kimg": step * tc["batch"] * world.size / 1000,
            "train_images": len(train_images), "stage": "finetune", "processes": world.size, "config": cfg}
    G_out = G_ema.cpu().eval()
    G_out.model_id = tc["model_id"] or G_out.model_id
    with torch.no_grad():
        G_out.w_avg = G_out.mean_latent(4096)
    save_model(G_out, out_dir / "generator.safetensors", model_id=G_out.model_id, meta=meta)
    save_encoder(E.cpu().eval(), out_dir / "encoder.safetensors", meta={**meta, "generator_model_id": G_out.model_id})
    return last


def _step(G, E, D, real, tc, policy, step, opt_g, opt_e, opt_d, device) -> dict[str, float]:
    """One discriminator step (+ lazy R1) and one generator + encoder step; returns the losses."""
    n = real.shape[0]
    out: dict[str, float] = {}
    if tc.get("adv_weight", 1.0) <= 0:  # no adversary: the encoder-path losses alone (e.g. a texture leg)
        return _reconstruction_step(G, E, D, real, tc, step, opt_g, opt_e, out)
    requires_grad(G, False)
    requires_grad(D.heads, True)
    if D.patch is not None:
        requires_grad(D.patch, True)
    with torch.no_grad():
        fake = G.synthesis(sample_w_plus(G, n, tc["mixing_prob"], device), noise_mode="random")
    d_fake, d_real = D(diff_augment(fake, policy)), D(diff_augment(real, policy))
    d_loss = F.softplus(d_fake).mean() + F.softplus(-d_real).mean()
    opt_d.zero_grad(set_to_none=True)
    d_loss.backward()
    opt_d.step()
    if step % tc["r1_every"] == 0 and tc["r1_gamma"] > 0:
        r1 = _r1_penalty(D, real, policy)
        opt_d.zero_grad(set_to_none=True)
        (tc["r1_gamma"] / 2 * r1 * tc["r1_every"]).backward()
        opt_d.step()
        out["r1"] = r1.item()
    if step < tc.get("d_warmup", 0):  # the discriminator learns first: no generator / encoder step yet
        out.update(d_loss=d_loss.item(), d_real=d_real.mean().item(), d_fake=d_fake.mean().item(),
                   g_adv=float("nan"), rec_mse=float("nan"), rec_feat=float("nan"), rec_weight=0.0)
        return out
    requires_grad(G, True)
    requires_grad(D.heads, False)
    if D.patch is not None:
        requires_grad(D.patch, False)
    fake = G.synthesis(sample_w_plus(G, n, tc["mixing_prob"], device), noise_mode="random")
    g_adv = F.softplus(-D(diff_augment(fake, policy))).mean()
    out.update(d_loss=d_loss.item(), d_real=d_real.mean().item(), d_fake=d_fake.mean().item(), g_adv=g_adv.item())
    return _reconstruction_step(G, E, D, real, tc, step, opt_g, opt_e, out, tc.get("adv_weight", 1.0) * g_adv)


def _reconstruction_step(G, E, D, real, tc, step, opt_g, opt_e, out, adversarial=None) -> dict[str, float]:
    """The generator + encoder step: ``adversarial`` (the generator's adversarial loss, or None) plus the
    decaying encoder-path reconstruction (pixel MSE, frozen-feature distance, texture distance)."""
    requires_grad(G, True)
    weight = rec_weight(tc, step * real.shape[0] * current_world().size / 1000)  # kimg of the global batch
    rec = G.synthesis(E(real), noise_mode="const")
    rec_mse = F.mse_loss(rec, real)
    rec_feat = feature_distance(D.features, rec, real)
    loss = weight * (rec_mse + tc["feature_weight"] * rec_feat)
    if tc.get("texture_weight", 0.0) > 0:
        texture = gram_distance(D.features, rec, real)
        loss = loss + weight * tc["texture_weight"] * texture
        out["rec_texture"] = texture.item()
    if adversarial is not None:
        loss = loss + adversarial
    opt_g.zero_grad(set_to_none=True)
    opt_e.zero_grad(set_to_none=True)
    loss.backward()
    opt_g.step()
    opt_e.step()
    out.setdefault("d_loss", float("nan"))
    out.setdefault("g_adv", float("nan"))
    out.update(rec_mse=rec_mse.item(), rec_feat=rec_feat.item(), rec_weight=weight)
    return out

"""``faceedit train map-encoder``: the tiny differentiable parser, then the map encoder (map → W+), one run.

Data: the map pairs of :mod:`faceedit.maps.pairs` (``--pairs``; made with ``--build-pairs`` if missing):
parsed training photos with their built-in-encoder W+, parsed renders of those W+ and of sampled W+.  Held-out
identities are only used for the evaluation.

1. ``train.parser_steps`` steps: :class:`~faceedit.models.map_encoder.TinyParser` learns the project parser's
   labels (``landmarks`` backend) on photos and renders alike (class-balanced cross-entropy, flips with the
   left/right classes swapped).
2. ``train.steps`` steps: :class:`~faceedit.models.map_encoder.MapEncoder` with a latent loss (W+ of the pair),
   an image loss (the render of the predicted W+ against the photo / render of the pair) and a *map loss* (the
   frozen tiny parser's reading of that render against the input map); the first ``train.latent_only_steps``
   steps use the latent loss alone (cheap: no render).

One checkpoint holds both networks, their optimisers, the batch orders and the RNGs (exact ``--resume``);
``--minutes`` stops, checkpoints and exports.  Logs: ``parser_log`` and ``log`` (``.csv``/``.jsonl``),
``eval.jsonl`` (held-out maps: IoU per class group of the learned parser's reading of the face made from the
map; and the parser's own IoU on held-out photos).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..config import save_config
from ..errors import DataError
from .ddp import current_world
from .loop import (
    CHECKPOINT_NAME,
    MetricLog,
    load_checkpoint,
    requires_grad,
    restore_training_state,
    run_steps,
    write_checkpoint,
)

DEFAULTS: dict[str, Any] = {
    "encoder": {"width": 16, "blocks": [1, 1, 2, 2], "head_channels": 32},
    "parser": {"width": 16},
    # the built-in encoder's recipe: map_weight 0.3 answered map edits better than 0.1 (calibration error on training
    # maps 0.143 vs 0.184 at the chosen gain; see the model card)
    "train": {"parser_steps": 500, "steps": 2000, "latent_only_steps": 600, "batch": 16, "lr": 1e-3,
              "parser_lr": 2e-3, "latent_weight": 1.0, "image_weight": 1.0, "map_weight": 0.3, "seed": 0,
              "max_minutes": 0.0, "log_every": 25, "checkpoint_every": 100, "eval_maps": 64, "gain_maps": 120,
              "kinds": ["real", "recon", "sample"]},
}


def _pairs(folder: str | Path, kinds: list[str]) -> dict[str, np.ndarray]:
    """The cached training pairs of ``kinds``, concatenated (``maps``, ``images``, ``w``)."""
    from ..maps.pairs import load_pairs

    parts = [load_pairs(folder, k) for k in kinds]
    return {k: np.concatenate([p[k] for p in parts]) for k in ("maps", "images", "w")}


def class_weights(maps: np.ndarray, n_classes: int = 19) -> torch.Tensor:
    """Cross-entropy weights ∝ frequency^-1/2 (small parts count), mean 1 over the pixels."""
    freq = np.bincount(maps.ravel(), minlength=n_classes).astype(np.float64) / maps.size
    w = np.where(freq > 0, (freq + 1e-4) ** -0.5, 0.0)
    w /= (w * freq).sum()
    return torch.tensor(w, dtype=torch.float32)


def _batch(p: dict[str, np.ndarray], idx: np.ndarray, flip: np.ndarray, table: np.ndarray,
           device: torch.device | str = "cpu"):
    """(maps (N,S,S) long, images NCHW [-1, 1], w) of the rows ``idx``, the rows of ``flip`` mirrored."""
    from ..images import to_tensor

    maps, images = p["maps"][idx].copy(), p["images"][idx].copy()
    maps[flip] = table[maps[flip][:, :, ::-1]]
    images[flip] = images[flip][:, :, ::-1]
    return (torch.from_numpy(maps).long().to(device), to_tensor(images).to(device),
            torch.from_numpy(p["w"][idx].astype(np.float32)).to(device))


@torch.no_grad()
def evaluate(E, P, G, val: dict[str, np.ndarray], n: int) -> dict[str, float]:
    """Held-out maps → E → G → P: mean IoU per class group against the input map; and P on the photos."""
    from ..images import to_tensor
    from ..maps.measure import GROUPS, group_iou

    maps, photos = val["maps"][:n], val["images"][:n]
    device = next(E.parameters()).device
    made = P(G.synthesis(E(torch.from_numpy(maps).long().to(device)), noise_mode="const")).argmax(1).cpu().numpy()
    direct = P(to_tensor(photos).to(device)).argmax(1).cpu().numpy()
    out = {}
    for name, pred in (("from_map", made), ("parser", direct)):
        ious = [group_iou(a, b) for a, b in zip(pred, maps)]
        for g in GROUPS:
            out[f"{name}_{g}"] = float(np.nanmean([r[g] for r in ious]))
    return out


def train_map_encoder(pairs: str | Path, out_dir: str | Path, cfg: dict, resume: bool = False,
                      generator: Any = None, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Train (or resume) the tiny parser and the map encoder (module docstring); writes ``map_encoder`` and
    ``tiny_parser`` (``.safetensors`` + ``.json``) into ``out_dir``; returns the last evaluation.  ``generator``:
    a generator, its file, or None for the built-in one.  Under ``torchrun`` each rank trains on its slice of
    every batch (:mod:`faceedit.train.ddp`); rank 0 alone writes."""
    from ..maps.measure import flip_table
    from ..maps.pairs import load_pairs
    from ..models.checkpoints import load_generator
    from ..models.map_encoder import MapEncoder, TinyParser, save_map_model

    tc = cfg["train"]
    out_dir = Path(out_dir)
    world = current_world()
    if world.main:
        out_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, out_dir / "config.toml")
    train = _pairs(pairs, list(tc["kinds"]))
    val = load_pairs(pairs, "val")
    if not len(train["maps"]):
        raise DataError(f"{pairs}: no parsed training pairs")
    torch.manual_seed(tc["seed"])
    G = (generator if isinstance(generator, torch.nn.Module) else load_generator(generator)).eval().to(device)
    requires_grad(G, False)
    E = MapEncoder(G.n_latent, G.style_dim, size=train["maps"].shape[1], width=cfg["encoder"]["width"],
                   blocks=tuple(cfg["encoder"]["blocks"]), head_channels=cfg["encoder"]["head_channels"])
    with torch.no_grad():
        E.mean_latent.copy_(torch.from_numpy(train["w"].mean((0, 1))))
    E, P = E.to(device), TinyParser(cfg["parser"]["width"]).to(device)
    opt_e = torch.optim.Adam(E.parameters(), lr=tc["lr"], betas=(0.9, 0.99))
    opt_p = torch.optim.Adam(P.parameters(), lr=tc["parser_lr"], betas=(0.9, 0.99))
    batches = world.batches(len(train["maps"]), tc["batch"], tc["seed"])
    objects = {"E": E, "P": P, "opt_e": opt_e, "opt_p": opt_p, "batches": batches}
    world.distribute(objects)
    step = 0
    if resume:
        ckpt = load_checkpoint(out_dir / CHECKPOINT_NAME)
        step = restore_training_state(ckpt, **objects)
    logs = {name: MetricLog(out_dir, step if resume else None, file) if world.main else None
            for name, file in (("parser", "parser_log"), ("encoder", "log"), ("eval", "eval"))}
    weights = class_weights(train["maps"]).to(device)
    table = flip_table()
    n_p, end = tc["parser_steps"], tc["parser_steps"] + tc["steps"]

    def flip_rng(at: int) -> np.random.Generator:  # reseeded at each checkpoint: exact resume; one stream a rank
        return np.random.default_rng([tc["seed"] + 1, at] + ([world.rank] if world.distributed else []))

    rng = {"flips": flip_rng(step)}

    def batch() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        idx = next(batches)
        return _batch(train, idx, rng["flips"].random(len(idx)) < 0.5, table, device)

    def parser_step(_step: int) -> dict[str, float]:
        maps, images, _ = batch()
        P.train()
        loss = F.cross_entropy(P(images), maps, weight=weights)
        opt_p.zero_grad(set_to_none=True)
        loss.backward()
        opt_p.step()
        return {"ce": float(loss.detach())}

    def encoder_step(step: int) -> dict[str, float]:
        maps, images, w = batch()
        P.eval()
        requires_grad(P, False)
        E.train()
        pred = E(maps)
        losses = {"latent": tc["latent_weight"] * F.mse_loss(pred, w)}
        if step - n_p >= tc["latent_only_steps"]:  # then through the generator and the frozen tiny parser
            render = G.synthesis(pred, noise_mode="const")
            losses["image"] = tc["image_weight"] * F.mse_loss(render, images)
            losses["map"] = tc["map_weight"] * F.cross_entropy(P(render), maps, weight=weights)
        loss = sum(losses.values())
        opt_e.zero_grad(set_to_none=True)
        loss.backward()
        opt_e.step()
        return {k: float(losses[k].detach()) if k in losses else 0.0 for k in ("latent", "image", "map")}

    def checkpoint(done: int) -> None:
        write_checkpoint(out_dir / CHECKPOINT_NAME, done, cfg, **objects)
        rng["flips"] = flip_rng(done)
        if world.main and done > n_p:
            logs["eval"].write({"step": done, **evaluate(E.eval(), P.eval(), G, val, tc["eval_maps"])})

    t0, out_of_time = time.time(), False
    common = {"log_every": tc["log_every"], "checkpoint_every": tc["checkpoint_every"]}
    if step < n_p:
        step, out_of_time = run_steps(step, n_p, parser_step, logs["parser"], checkpoint, tc["max_minutes"],
                                      desc="tiny parser", **common)
    left = tc["max_minutes"] - (time.time() - t0) / 60 if tc["max_minutes"] else 0.0
    if not out_of_time and step < end and (not tc["max_minutes"] or left > 0):
        step, _ = run_steps(step, end, encoder_step, logs["encoder"], checkpoint, left, desc="map encoder", **common)
    if not world.main:
        return {}
    E.eval()
    P.eval()
    E, P = E.cpu(), P.cpu()
    result = evaluate(E, P, G.cpu(), val, tc["eval_maps"]) if step > n_p else {}
    made = {"pairs": str(pairs), "kinds": list(tc["kinds"]), "train_pairs": int(len(train["maps"])),
            "labels": "faceedit.faces.parsing landmarks backend on aligned faces at 128 px, block majority to 64 px",
            "trained_steps": step, "parser_steps": min(step, n_p), "encoder_steps": max(0, step - n_p),
            "generator_model_id": getattr(G, "model_id", "unnamed"), "val_eval": result,
            "val_eval_note": "IoU read by this tiny parser (it shaped the loss): not an independent measure"}
    save_map_model(P, out_dir / "tiny_parser.safetensors", {**made, "role": "differentiable parser of the map loss"},
                   half=True)
    if step > n_p:
        path = save_map_model(E, out_dir / "map_encoder.safetensors", {**made, "role": "map -> W+"}, half=True)
        # with the files as saved (float16), so that `faceedit train map-edit-gain` reproduces it
        calibrate_edit_gain(path, train["maps"], tc["gain_maps"], G=G.cpu(), parser=out_dir / "tiny_parser.safetensors")
    return result


def calibrate_edit_gain(encoder_file: str | Path, maps: np.ndarray, n: int = 120, G: Any = None, parser: Any = None,
                        seed: int = 0) -> Any:
    """Choose the map encoder's edit gain (:func:`faceedit.maps.edit.calibrate_gain`) on ``n`` of the training
    ``maps``, read by the tiny parser (a model, a file, or None: the built-in one), and write it into the encoder's
    sidecar; returns the calibration."""
    from ..maps.edit import calibrate_gain, save_gain, tiny_parser_reader
    from ..maps.generate import MapModels

    pick = np.random.default_rng(seed).choice(len(maps), min(n, len(maps)), replace=False)
    models = MapModels.load(G, encoder_file, parser)
    calibration = calibrate_gain(models, maps[np.sort(pick)], tiny_parser_reader(models))
    save_gain(encoder_file, calibration)
    return calibration


MIN_PARSE_SIZE = 32  # smaller faces are too small for the landmarks parser that labels the pairs


def rebuild_stage(out: Path, G: Any, cache: str, latents_file: Path, minutes: float,
                  log: Any = print, reuse: str | None = None) -> Path | None:
    """The ``map_encoder`` stage of ``faceedit train rebuild-suite``: parse the pairs (``out/map_pairs``, kept
    across runs; the photos' parses taken from ``reuse`` where it has them), train for ``minutes``
    (``out/map_encoder_run``, resumed if there), copy ``map_encoder`` and ``tiny_parser`` (+ sidecars) into
    ``out``.  Returns the map encoder's path (None when ``G`` is too small)."""
    import shutil

    from ..config import load_config
    from ..maps.pairs import PairSettings, build_pairs

    if G.resolution < MIN_PARSE_SIZE:
        log(f"map encoder skipped: {G.resolution} px faces are too small for the landmarks parser")
        return None
    pairs, run = out / "map_pairs", out / "map_encoder_run"
    build_pairs(PairSettings(cache=str(cache), latents=str(latents_file), out=str(pairs), reuse=reuse), G=G, log=log)
    cfg = load_config(DEFAULTS)
    cfg["train"]["max_minutes"] = float(minutes)
    train_map_encoder(pairs, run, cfg, resume=(run / CHECKPOINT_NAME).is_file(), generator=G)
    for name in ("tiny_parser", "map_encoder"):  # sidecars first: a model file never lacks its JSON
        shutil.copyfile(run / f"{name}.json", out / f"{name}.json")
        shutil.copyfile(run / f"{name}.safetensors", out / f"{name}.safetensors")
    return out / "map_encoder.safetensors"

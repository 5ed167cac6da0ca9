"""Data-parallel training (issue 24, item 2): the gradient all-reduce and synchronised batch norm give the step of
one process on the whole batch; ``torchrun`` with 2 gloo processes trains the tiny VAE (loss decreases, only rank 0
writes, resume exact for the same world size); the loss curve matches 1 process with the doubled batch."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from faceedit.train.ddp import RankBatches, World

pytestmark = pytest.mark.usefixtures("one_thread")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


def _batch() -> torch.Tensor:
    return torch.randn(16, 3, 8, 8, generator=torch.Generator().manual_seed(1))


def _one_step(net: nn.Module, x: torch.Tensor, world: World) -> None:
    opt = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    world.distribute({"net": net, "opt": opt})
    loss = (net(x) - 1).pow(2).mean()
    opt.zero_grad()
    loss.backward()
    opt.step()


def _rank_step(rank: int, size: int, port: int, out: str) -> None:
    import torch.distributed as dist

    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=size)
    try:
        net = _net()
        if rank:  # different starting weights on rank 1: same_start must overwrite them with rank 0's
            with torch.no_grad():
                for p in net.parameters():
                    p.add_(1.0)
        _one_step(net, _batch()[rank * 8:(rank + 1) * 8], World(rank, size))
        torch.save(net.state_dict(), f"{out}.{rank}")
    finally:
        dist.destroy_process_group()


def test_two_ranks_take_the_step_of_one_process_on_the_whole_batch(tmp_path):
    import torch.multiprocessing as mp

    mp.spawn(_rank_step, args=(2, _free_port(), str(tmp_path / "net")), nprocs=2, join=True)
    ref = _net()
    _one_step(ref, _batch(), World())
    got = [torch.load(tmp_path / f"net.{r}") for r in (0, 1)]
    for name, want in ref.state_dict().items():
        for state in got:
            assert torch.allclose(state[name].float(), want.float(), atol=1e-5), name
    # a plain BatchNorm would normalise each half with its own statistics: the result would differ
    local = _net()
    opt = torch.optim.SGD(local.parameters(), lr=0.1)
    (local(_batch()[:8]) - 1).pow(2).mean().backward()
    opt.step()
    assert not torch.allclose(local.state_dict()["1.running_mean"], ref.state_dict()["1.running_mean"], atol=1e-3)


def test_rank_batches_split_the_global_batch():
    one = RankBatches(50, 16, seed=3)
    halves = [RankBatches(50, 8, seed=3, rank=r, size=2) for r in (0, 1)]
    for _ in range(7):  # across epochs too
        assert np.array_equal(next(one), np.concatenate([next(h) for h in halves]))
    from faceedit.train.data import Batches

    single, plain = World().batches(50, 16, 3), Batches(50, 16, 3)  # one process: today's batches and state
    assert all(np.array_equal(next(single), next(plain)) for _ in range(5))
    assert single.state_dict().keys() == plain.state_dict().keys()


# ------------------------------------------------------------------------------------- torchrun, end to end
TINY_VAE = """
[model]
resolution = 16
latent_dim = 6
channels = 4
[train]
batch = {batch}
log_every = 1
sample_every = 4
checkpoint_every = 4
n_samples = 8
lr = 0.01
[eval]
every = 0
"""


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory) -> Path:
    from faceedit.testing import synthetic_label_cache

    path = tmp_path_factory.mktemp("ddp") / "tiny.npz"
    synthetic_label_cache(path, n=96, size=16)
    return path


TINY_GAN = """
[generator]
resolution = 16
style_dim = 32
n_mlp = 2
channel_multiplier = 0.0078125
channel_max = 16
[discriminator]
resolution = 16
channel_multiplier = 0.0078125
channel_max = 16
[train]
batch = {batch}
r1_every = 2
log_every = 1
sample_every = 2
checkpoint_every = 2
n_samples = 4
[eval]
every = 0
"""


def _train(tmp: Path, cache: Path, out: Path, nproc: int, batch: int, steps: int, *extra: str,
           family: str = "vae") -> None:
    config = tmp / f"{family}_b{batch}.toml"
    config.write_text((TINY_GAN if family == "gan" else TINY_VAE).format(batch=batch))
    args = ["-m", "faceedit", "train", family, "--cache", str(cache), "--out", str(out), "--config", str(config),
            "--steps", str(steps), "--threads", "1", *extra]
    if nproc > 1:
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc), "--master-addr",
               "127.0.0.1", "--master-port", str(_free_port()), *args]
    else:
        cmd = [sys.executable, *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


def _weights(out: Path, name: str = "vae") -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(out / f"{name}.safetensors")


def test_torchrun_two_processes_train_resume_exactly_and_only_rank0_writes(tmp_path, tiny_cache):
    straight, paused = tmp_path / "straight", tmp_path / "paused"
    _train(tmp_path, tiny_cache, straight, 2, 8, 12)
    rows = _log(straight)
    assert [r["step"] for r in rows] == list(range(1, 13))  # one writer: no duplicated rows
    assert rows[-1]["kimg"] == pytest.approx(12 * 16 / 1000)  # both ranks' images counted
    assert np.mean([r["loss"] for r in rows[-3:]]) < 0.95 * np.mean([r["loss"] for r in rows[:3]])
    assert sorted(p.name for p in (straight / "samples").iterdir()) == [f"step{s:07d}.png" for s in (4, 8, 12)]
    ckpt = torch.load(straight / "checkpoint.pt", weights_only=False)
    assert len(ckpt["rng_ranks"]) == 2
    _train(tmp_path, tiny_cache, paused, 2, 8, 12, "--set", "train.stop_at=8")
    assert [r["step"] for r in _log(paused)] == list(range(1, 9))
    _train(tmp_path, tiny_cache, paused, 2, 8, 12, "--resume")
    assert [r["step"] for r in _log(paused)] == list(range(1, 13))
    a, b = _weights(straight), _weights(paused)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_torchrun_stylegan2_with_lazy_r1_and_ema_resumes_exactly(tmp_path, tiny_cache):
    straight, paused = tmp_path / "straight", tmp_path / "paused"
    _train(tmp_path, tiny_cache, straight, 2, 4, 4, family="gan")
    _train(tmp_path, tiny_cache, paused, 2, 4, 4, "--set", "train.stop_at=2", family="gan")
    _train(tmp_path, tiny_cache, paused, 2, 4, 4, "--resume", family="gan")
    assert [r["step"] for r in _log(paused)] == [1, 2, 3, 4]
    for name in ("generator", "discriminator"):
        a, b = _weights(straight, name), _weights(paused, name)
        assert all(torch.equal(a[k], b[k]) for k in a), name
    assert json.loads((straight / "generator.json").read_text())["meta"]["processes"] == 2


def test_two_processes_follow_the_loss_curve_of_one_with_the_doubled_batch(tmp_path, tiny_cache):
    two, one = tmp_path / "two", tmp_path / "one"
    _train(tmp_path, tiny_cache, two, 2, 8, 24)
    _train(tmp_path, tiny_cache, one, 1, 16, 24)
    a = np.array([r["rec"] for r in _log(two)])
    b = np.array([r["rec"] for r in _log(one)])
    assert a[-4:].mean() < 0.9 * a[:4].mean() and b[-4:].mean() < 0.9 * b[:4].mean()  # both learn
    # the same crops each step, other sampling noise: the curves agree within a few per cent late in training
    assert abs(a[-8:].mean() - b[-8:].mean()) < 0.1 * b[-8:].mean()


def _torchrun(args: list[str]) -> None:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2", "--master-addr", "127.0.0.1",
           "--master-port", str(_free_port()), "-m", "faceedit", *args, "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]


def test_torchrun_map_encoder_resumes_exactly_with_one_writer(tmp_path):
    """The trainers on the shared ``loop.run_steps`` (map encoder here) under torchrun as well."""
    test_maps = pytest.importorskip("test_maps")  # its tiny cartoon-map pairs
    test_maps._tiny_pairs(tmp_path / "pairs")
    sets = ["train.parser_steps=2", "train.latent_only_steps=1", "train.batch=2", "train.checkpoint_every=2",
            "train.log_every=1", "train.eval_maps=4", 'train.kinds=["real"]', "encoder.width=8", "parser.width=8"]
    common = ["train", "map-encoder", "--pairs", str(tmp_path / "pairs")] + [a for s in sets for a in ("--set", s)]
    _torchrun(common + ["--out", str(tmp_path / "a"), "--steps", "4"])
    _torchrun(common + ["--out", str(tmp_path / "b"), "--steps", "2"])
    _torchrun(common + ["--out", str(tmp_path / "b"), "--steps", "4", "--resume"])
    a = torch.load(tmp_path / "a" / "checkpoint.pt", weights_only=False)
    b = torch.load(tmp_path / "b" / "checkpoint.pt", weights_only=False)
    assert a["step"] == b["step"] == 6 and len(a["rng_ranks"]) == 2
    assert all(torch.equal(a["E"][k], b["E"][k]) for k in a["E"])
    assert [r["step"] for r in _log(tmp_path / "a")] == [3, 4, 5, 6]  # encoder phase rows, written once


def test_torchrun_embedding_mapper_equals_one_process_with_the_whole_batch(tmp_path):
    """Without dropout the 2 ranks' averaged gradients are the whole batch's: the weights match 1 process's."""
    from safetensors.torch import load_file

    from faceedit.train.embedding_mapper import MapperSettings, train_embedding_mapper

    test_embedding = pytest.importorskip("test_embedding")  # its tiny pairs
    pairs = tmp_path / "pairs"
    test_embedding._tiny_pairs(pairs)
    (pairs / "pairs.json").write_text("{}")  # finished pairs: torchrun does not make pairs
    opts = dict(steps=10, hidden=32, depth=2, lr=0.01, dropout=0.0, log_every=5, checkpoint_every=5, half=False,
                spread_faces=0)
    one = train_embedding_mapper(MapperSettings(pairs=str(pairs), out=str(tmp_path / "one"), batch=16, **opts),
                                 progress=False)
    _torchrun(["train", "embedding-mapper", "--pairs", str(pairs), "--out", str(tmp_path / "two"), "--steps", "10",
               "--batch", "8", "--hidden", "32", "--depth", "2", "--lr", "0.01", "--dropout", "0",
               "--spread-faces", "0"])
    a, b = load_file(one), load_file(tmp_path / "two" / "embedding_mapper.safetensors")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k].float(), b[k].float(), atol=2e-3), k  # b is saved in float16
    assert [r["step"] for r in _log(tmp_path / "two")] == [10]  # one writer: one row

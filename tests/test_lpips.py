"""LPIPS: torchvision/lpips key layout, and the metric's properties on seeded weights."""
from __future__ import annotations

import pytest
import torch

from faceedit.errors import WeightsNotAvailable
from faceedit.models.lpips import LPIPS, load_lpips
from faceedit.testing import seeded_tensor

TV_CONV_INDICES = {"vgg": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28], "alex": [0, 3, 6, 8, 10]}
HEAD_CHANNELS = {"vgg": [64, 128, 256, 512, 512], "alex": [64, 192, 384, 256, 256]}


pytestmark = pytest.mark.usefixtures("one_thread")


def _seeded(net: str) -> LPIPS:
    model = LPIPS(net)
    # seeded weights with a He gain (x1.5) so that activations neither vanish (slow denormals) nor explode
    state = {k: seeded_tensor(k, tuple(v.shape), i) * (1.5 if k.endswith("weight") else 1.0)
             for i, (k, v) in enumerate(model.state_dict().items())}
    heads = {k: v.abs() for k, v in state.items() if k.startswith("lin")}  # official heads are >= 0
    return model.load_weights(state, heads)


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_key_layout(net):
    keys = LPIPS(net).state_dict()
    expected = {f"features.{i}.{p}" for i in TV_CONV_INDICES[net] for p in ("weight", "bias")}
    expected |= {f"lin{i}.model.1.weight" for i in range(5)}
    assert set(keys) == expected
    assert [keys[f"lin{i}.model.1.weight"].shape[1] for i in range(5)] == HEAD_CHANNELS[net]


@pytest.mark.parametrize("net", ["vgg", "alex"])
def test_metric_properties(net):
    model = _seeded(net)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 32, 32, generator=g) * 2 - 1
    noise = torch.randn(2, 3, 32, 32, generator=g)
    y = (x + 0.3 * noise).clamp(-1, 1)
    d_same = model(x, x)
    assert d_same.shape == (2,) and torch.all(d_same.abs() < 1e-6)
    torch.testing.assert_close(model(x, y), model(y, x))
    levels = (0.05, 0.2, 0.5)
    noisy = torch.cat([(x + s * noise).clamp(-1, 1) for s in levels])
    dists = model(x.repeat(len(levels), 1, 1, 1), noisy).view(len(levels), -1).mean(1).tolist()
    assert 0 < dists[0] < dists[1] < dists[2]
    # a trunk feature changes the metric: zeroing the heads makes every distance 0
    model.lin0.model[1].weight.data.zero_()
    assert model(x, y).mean() < dists[2]


def test_gradients_flow_to_the_input():
    model = _seeded("alex")
    x = torch.zeros(1, 3, 64, 64, requires_grad=True)
    y = torch.rand(1, 3, 64, 64) * 2 - 1
    model(x, y).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.parameters())


def test_load_from_files_and_missing_weights(tmp_path):
    ref = _seeded("alex")
    state = ref.state_dict()
    trunk = {k: v for k, v in state.items() if k.startswith("features.")}
    trunk["classifier.1.weight"] = torch.zeros(4, 4)  # torchvision files carry a classifier: ignored
    torch.save(trunk, tmp_path / "alexnet.pth")
    torch.save({k: v for k, v in state.items() if k.startswith("lin")}, tmp_path / "alex.pth")
    model = load_lpips("alex", tmp_path / "alexnet.pth", tmp_path / "alex.pth")
    x, y = torch.rand(2, 1, 3, 32, 32) * 2 - 1
    torch.testing.assert_close(model(x, y), ref(x, y))
    with pytest.raises(WeightsNotAvailable, match="vgg16-imagenet"):
        load_lpips("vgg")

"""ResNet trunks (18 and 50) in plain PyTorch with torchvision-compatible state-dict keys.

torchvision itself does not work with the CPU torch used here, so the few layers faceedit needs are
written out: ``conv1, bn1, layer1..layer4`` (blocks ``conv1/bn1/conv2/bn2[/conv3/bn3]`` and
``downsample.0/1``) and an optional ``fc``, exactly as torchvision names them, so that torchvision and
anycost-gan checkpoints load with ``load_state_dict(strict=True)``.
"""
from __future__ import annotations

import torch
from torch import nn


def conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution with padding 1 and no bias."""
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a residual connection (ResNet-18/34)."""

    expansion = 1

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = conv3x3(cin, width, stride)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class Bottleneck(nn.Module):
    """1x1 → 3x3 (strided, torchvision v1.5) → 1x1 bottleneck with a residual connection (ResNet-50)."""

    expansion = 4

    def __init__(self, cin: int, width: int, stride: int = 1) -> None:
        super().__init__()
        cout = width * self.expansion
        self.conv1 = nn.Conv2d(cin, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, cout, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = _downsample(cin, cout, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _downsample(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))


class ResNet(nn.Module):
    """A torchvision-layout ResNet; ``num_classes=None`` drops ``fc`` (the trunk alone).

    ``forward`` returns the logits (or pooled features without ``fc``); :meth:`features` returns the
    feature maps after each stage, for backbones (BiSeNet uses the 8x, 16x and 32x maps).
    """

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int], num_classes: int | None = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, (n, width) in enumerate(zip(layers, (64, 128, 256, 512)), start=1):
            blocks = []
            for j in range(n):
                blocks.append(block(cin, width, stride=2 if (j == 0 and i > 1) else 1))
                cin = width * block.expansion
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.out_channels = cin
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes) if num_classes else None

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Feature maps after layer1..layer4 (strides 4, 8, 16, 32)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        feats = []
        for i in range(1, 5):
            x = getattr(self, f"layer{i}")(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x)[-1]).flatten(1)
        return self.fc(x) if self.fc is not None else x


def resnet18(num_classes: int | None = 1000) -> ResNet:
    """ResNet-18 (torchvision layout)."""
    return ResNet(BasicBlock, [2, 2, 2, 2], num_classes)


def resnet50(num_classes: int | None = 1000) -> ResNet:
    """ResNet-50 (torchvision layout, stride on the 3x3 convolution)."""
    return ResNet(Bottleneck, [3, 4, 6, 3], num_classes)


class CompactResNet(nn.Module):
    """A small ResNet-18-style trunk for low-resolution (e.g. 64-px) faces, of configurable width.

    A 3x3 stem (stride 1, so small faces keep their detail) followed by ``len(blocks)`` stages of
    :class:`BasicBlock`, each halving the resolution and doubling the width (``width``, ``2*width``, ...).
    ``forward`` returns the last feature map ``(N, out_channels, H / 2**stages, W / 2**stages)``.
    Used by the default encoder and attribute predictor (not a torchvision layout).
    """

    def __init__(self, width: int = 32, blocks: tuple[int, ...] = (1, 2, 2, 2), in_channels: int = 3) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        cin = width
        stages = []
        for i, n in enumerate(blocks):
            cout = width * 2**i
            stages.append(nn.Sequential(*[BasicBlock(cin if j == 0 else cout, cout, 2 if j == 0 else 1) for j in range(n)]))
            cin = cout
        self.stages = nn.Sequential(*stages)
        self.out_channels = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.stages(self.relu(self.bn1(self.conv1(x))))

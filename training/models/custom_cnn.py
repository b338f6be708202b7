"""``custom_cnn``: a small CNN trained from scratch, with a spatial attention map you can read out.

About 0.53 M parameters: four conv blocks (24, 48, 96, 160 channels, two 3x3 convs with batch
norm each, then 2x2 max-pool), and a spatial attention gate on the last feature map.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from .base import BackboneParts

CHANNELS = (24, 48, 96, 160)


def conv_block(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    )


class SpatialAttention(nn.Module):
    """Gates each location of the feature map by a learned weight in (0, 1)."""

    def __init__(self, channels: int, hidden: int = 16):
        super().__init__()
        self.score = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, 1, 1))

    def attention_map(self, feature_map: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.score(feature_map))  # (B, 1, h, w)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        return feature_map * self.attention_map(feature_map)


class CustomCNNFeatures(nn.Module):
    def __init__(self):
        super().__init__()
        widths = (3, *CHANNELS)
        self.stages = nn.Sequential(*(conv_block(a, b) for a, b in itertools.pairwise(widths)))
        self.attention = SpatialAttention(CHANNELS[-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attention(self.stages(x))

    def attention_map(self, x: torch.Tensor) -> torch.Tensor:
        """The attention weights for a batch, at feature-map resolution (input size / 16)."""
        return self.attention.attention_map(self.stages(x))


def build_custom_cnn(pretrained: str) -> BackboneParts:
    features = CustomCNNFeatures()
    # Trained from scratch: there are no ImageNet statistics to match, so inputs are scaled to [-1, 1].
    return BackboneParts(features, CHANNELS[-1], [*features.stages, features.attention], (0.5,) * 3, (0.5,) * 3, False, stride=16)

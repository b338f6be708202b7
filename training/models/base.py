"""The surface every pneumo model shares: features -> head -> logits, plus what transfer needs.

Keeping the head as "global average pool -> dropout -> linear" on every architecture is a
deliberate constraint: with that head, the class activation map computed from the last feature
map and the linear weights equals Grad-CAM, so the torch-free runtime can draw heatmaps too.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class BackboneParts:
    """What an architecture builder hands to ``PneumoClassifier``."""

    features: nn.Module  # image batch -> last feature map (B, C, h, w)
    num_features: int  # C
    blocks: list[nn.Module]  # features' stages in input-to-output order, for partial unfreezing
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    pretrained: bool  # whether ``features`` carries pretrained (ImageNet) weights
    stride: int = 32  # input pixels per feature-map cell


class ClassifierHead(nn.Module):
    def __init__(self, num_features: int, num_classes: int, dropout: float):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_features, num_classes)

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.fc(self.dropout(torch.flatten(self.pool(feature_map), 1)))


class PneumoClassifier(nn.Module):
    """A pure tensor -> logits function; no preprocessing, no softmax, no state between calls."""

    def __init__(self, parts: BackboneParts, num_classes: int, dropout: float):
        super().__init__()
        self.backbone = parts.features
        self.classifier = ClassifierHead(parts.num_features, num_classes, dropout)
        # Plain attributes, not submodules: they are views into ``backbone``.
        object.__setattr__(self, "_blocks", list(parts.blocks))
        self.mean, self.std, self.is_pretrained = parts.mean, parts.std, parts.pretrained

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone(x)

    def head(self, feature_map: torch.Tensor) -> torch.Tensor:
        return self.classifier(feature_map)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))

    @property
    def blocks(self) -> list[nn.Module]:
        return self._blocks

    def gradcam_layer(self) -> nn.Module:
        """The layer whose output is the last feature map: Grad-CAM targets it."""
        return self.backbone

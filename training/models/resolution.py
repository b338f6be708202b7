"""A backbone that looks at the image at a fraction of its resolution.

Why: the Kermany test films differ from the training films in how they were acquired and
processed, and such differences live mostly in fine detail (sharpening, noise, re-encoding),
while pneumonia is a coarse opacity. A member that averages k x k pixel blocks before its
backbone cannot use the finest detail at all, and costs about 1/k^2 of the compute, so it is a
cheap, different member for a logit ensemble (models/ensemble.py).

Its feature map is brought back to the size a full-resolution backbone produces (bilinear), so
its members' maps can be stacked with full-resolution members' maps, and the class activation map
keeps one grid. The resize is part of the model during training too: nothing changes at export.
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from .base import BackboneParts


class ReducedResolution(nn.Module):
    """The grid is side / stride, rounded up: a full-resolution member's grid whenever the side is a
    multiple of the stride, as the contracts' 224 px is of every registered backbone's."""

    def __init__(self, features: nn.Module, factor: int, stride: int):
        super().__init__()
        self.features = features
        self.factor = factor
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        feature_map = self.features(F.avg_pool2d(x, self.factor))
        full_size = (-(-height // self.stride), -(-width // self.stride))
        return F.interpolate(feature_map, size=full_size, mode="bilinear", align_corners=False)


def at_reduced_resolution(parts: BackboneParts, factor: int) -> BackboneParts:
    """The same backbone behind a k x k average pool (factor 1: unchanged)."""
    if factor == 1:
        return parts
    return dataclasses.replace(parts, features=ReducedResolution(parts.features, factor, parts.stride))

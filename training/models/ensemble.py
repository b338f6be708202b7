"""A logit-averaging ensemble that is itself a plain ``PneumoClassifier``.

Members share the head shape "pool -> dropout -> linear", so the mean of their logits is

    mean_i(W_i · pool(F_i) + b_i) = [W_1/n | ... | W_n/n] · pool([F_1; ...; F_n]) + mean_i(b_i)

that is, one linear head over the channel-concatenated feature maps. Built that way, the ensemble
keeps every promise of a single model: one ONNX graph with one feature map, a CAM from the head
weights that still equals Grad-CAM, the input guard, INT8 export, and a torch twin for Captum.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import BackboneParts, PneumoClassifier
from .resolution import ReducedResolution


class ConcatFeatures(nn.Module):
    """The members' feature maps stacked along channels (their spatial sizes must agree)."""

    def __init__(self, backbones: list[nn.Module]):
        super().__init__()
        self.members = nn.ModuleList(backbones)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([member(x) for member in self.members], dim=1)


def ensemble_of(members: list[PneumoClassifier]) -> PneumoClassifier:
    """One classifier whose logits are the mean of the members' logits (members are not copied)."""
    first = members[0]
    if any((m.mean, m.std) != (first.mean, first.std) for m in members[1:]):
        raise ValueError("ensemble members normalise their input differently")
    heads = [m.classifier.fc for m in members]
    parts = BackboneParts(
        features=ConcatFeatures([m.backbone for m in members]),
        num_features=sum(h.in_features for h in heads),
        blocks=[block for m in members for block in m.blocks],
        mean=first.mean, std=first.std, pretrained=False,
    )
    ensemble = PneumoClassifier(parts, heads[0].out_features, first.classifier.dropout.p)
    with torch.no_grad():
        ensemble.classifier.fc.weight.copy_(torch.cat([h.weight for h in heads], dim=1) / len(heads))
        ensemble.classifier.fc.bias.copy_(torch.stack([h.bias for h in heads]).mean(dim=0))
    return ensemble.eval()


def member_count(model: nn.Module) -> int:
    """How many members a classifier averages: 1 for a single model."""
    backbone = getattr(model, "backbone", None)
    return len(backbone.members) if isinstance(backbone, ConcatFeatures) else 1


def member_resolutions(model: nn.Module) -> list[int]:
    """Each member's input downsampling factor (1: full resolution), in member order."""
    backbone = getattr(model, "backbone", None)
    members = backbone.members if isinstance(backbone, ConcatFeatures) else [backbone]
    return [m.factor if isinstance(m, ReducedResolution) else 1 for m in members]

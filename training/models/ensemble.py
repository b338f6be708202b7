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


def ensemble_of(models: list[PneumoClassifier]) -> PneumoClassifier:
    """One classifier whose logits are the mean over all members (models are not copied).

    A model that is itself an ensemble contributes its members, each weighted like any other
    member: the result of a two-member ensemble and one model is a flat three-member mean.
    """
    first = models[0]
    if any((m.mean, m.std) != (first.mean, first.std) for m in models[1:]):
        raise ValueError("ensemble members normalise their input differently")
    counts = [member_count(m) for m in models]
    heads = [m.classifier.fc for m in models]
    parts = BackboneParts(
        features=ConcatFeatures([backbone for m in models for backbone in member_backbones(m)]),
        num_features=sum(h.in_features for h in heads),
        blocks=[block for m in models for block in m.blocks],
        mean=first.mean, std=first.std, pretrained=False,
    )
    ensemble = PneumoClassifier(parts, heads[0].out_features, first.classifier.dropout.p)
    with torch.no_grad():  # an ensemble's head holds W_i / n per member: times its n gives back W_i
        total = sum(counts)
        ensemble.classifier.fc.weight.copy_(torch.cat([h.weight * n for h, n in zip(heads, counts, strict=True)], dim=1) / total)
        ensemble.classifier.fc.bias.copy_(sum(h.bias * n for h, n in zip(heads, counts, strict=True)) / total)
    return ensemble.eval()


def member_backbones(model: nn.Module) -> list[nn.Module]:
    backbone = model.backbone
    return list(backbone.members) if isinstance(backbone, ConcatFeatures) else [backbone]


def member_count(model: nn.Module) -> int:
    """How many members a classifier averages: 1 for a single model."""
    return len(member_backbones(model)) if hasattr(model, "backbone") else 1


def member_downsample_factors(model: nn.Module) -> list[int]:
    """Each member's input downsampling factor (1: full resolution), in member order."""
    return [m.factor if isinstance(m, ReducedResolution) else 1 for m in member_backbones(model)]

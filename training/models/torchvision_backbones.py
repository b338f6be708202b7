"""ResNet50, DenseNet121 and EfficientNet-B0 from torchvision, with ImageNet weights through
torchvision's own weights API (downloaded at run time, cached by torch.hub)."""

from __future__ import annotations

from collections.abc import Callable

import torchvision
from torch import nn

from .base import BackboneParts
from .pretrained import PretrainedWeightsError, load_local_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _torchvision_model(name: str, pretrained: str) -> nn.Module:
    """``pretrained``: "imagenet" downloads through torchvision, "none" is random, else a file."""
    if pretrained != "imagenet":
        model = torchvision.models.get_model(name, weights=None)
        if pretrained != "none":
            load_local_weights(model, pretrained, name)
        return model
    weights = torchvision.models.get_model_weights(name).DEFAULT
    try:
        return torchvision.models.get_model(name, weights=weights)
    except Exception as exc:  # URLError, timeout, HTTP error, a truncated cache file...
        raise PretrainedWeightsError(
            f"could not download ImageNet weights for {name} ({type(exc).__name__}); "
            f"connect to the internet once, or use --pretrained none (train from scratch) "
            f"or --pretrained PATH (a torchvision state_dict file)"
        ) from None


def build_resnet50(pretrained: str) -> BackboneParts:
    m = _torchvision_model("resnet50", pretrained)
    stem = nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool)
    features = nn.Sequential(stem, m.layer1, m.layer2, m.layer3, m.layer4)
    return BackboneParts(features, 2048, list(features), IMAGENET_MEAN, IMAGENET_STD, pretrained != "none")


def build_densenet121(pretrained: str) -> BackboneParts:
    f = _torchvision_model("densenet121", pretrained).features
    # torchvision applies ReLU functionally after ``features``; make it a module so the feature
    # map that Grad-CAM sees is the one the head pools.
    features = nn.Sequential(*f, nn.ReLU(inplace=False))
    blocks = [
        nn.Sequential(f.conv0, f.norm0, f.relu0, f.pool0),
        nn.Sequential(f.denseblock1, f.transition1),
        nn.Sequential(f.denseblock2, f.transition2),
        nn.Sequential(f.denseblock3, f.transition3),
        nn.Sequential(f.denseblock4, f.norm5),
    ]
    return BackboneParts(features, 1024, blocks, IMAGENET_MEAN, IMAGENET_STD, pretrained != "none")


def build_efficientnet_b0(pretrained: str) -> BackboneParts:
    features = _torchvision_model("efficientnet_b0", pretrained).features
    return BackboneParts(features, 1280, list(features), IMAGENET_MEAN, IMAGENET_STD, pretrained != "none")


BUILDERS: dict[str, Callable[[str], BackboneParts]] = {
    "resnet50": build_resnet50,
    "densenet121": build_densenet121,
    "efficientnet_b0": build_efficientnet_b0,
}

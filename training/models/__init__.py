"""``create_model(name, ...)``: one factory over a small registry of architectures."""

from __future__ import annotations

from collections.abc import Callable

from pneumo_runtime.errors import PneumoError

from .base import BackboneParts, PneumoClassifier
from .custom_cnn import build_custom_cnn
from .efficientnet_lite import BUILDERS as EFFICIENTNET_LITE_BUILDERS
from .pretrained import PretrainedWeightsError
from .resolution import at_reduced_resolution
from .torchvision_backbones import BUILDERS as TORCHVISION_BUILDERS

REGISTRY: dict[str, Callable[[str], BackboneParts]] = {
    "custom_cnn": build_custom_cnn,
    **EFFICIENTNET_LITE_BUILDERS,
    **TORCHVISION_BUILDERS,
}


class UnknownModelError(PneumoError, KeyError):
    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r}; choose one of {', '.join(sorted(REGISTRY))}"


def list_models() -> list[str]:
    return sorted(REGISTRY)


def create_model(name: str, num_classes: int = 2, pretrained: str = "none", dropout: float = 0.5,
                 input_downsample: int = 1) -> PneumoClassifier:
    """Build a registered model. ``pretrained``: "imagenet", "none", or a path to a weights file.
    ``input_downsample`` k > 1: the backbone sees k x k-averaged pixels (models/resolution.py)."""
    if name not in REGISTRY:
        raise UnknownModelError(name)
    if name == "custom_cnn":
        pretrained = "none"  # nothing to pretrain from; the config default must not fail here
    return PneumoClassifier(at_reduced_resolution(REGISTRY[name](pretrained), input_downsample), num_classes, dropout)


__all__ = ["PneumoClassifier", "PretrainedWeightsError", "UnknownModelError", "create_model", "list_models"]

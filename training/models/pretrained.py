"""Loading pretrained weights, loudly: a model is never silently left random."""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from pneumo_runtime.errors import PneumoError


class PretrainedWeightsError(PneumoError, RuntimeError):
    """Pretrained weights were asked for and could not be had."""


def load_local_weights(module: nn.Module, path: str | Path, name: str) -> None:
    """A ``state_dict`` saved by torch; the classifier keys may be missing or mismatched."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise PretrainedWeightsError(f"weights file not found: {path}") from None
    except Exception as exc:  # corrupt file, or a pickle that weights_only refuses
        raise PretrainedWeightsError(f"cannot load weights for {name} from {path}: {exc}") from None
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    own = module.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    missing = [k for k in own if k not in usable and not _is_classifier_key(k)]
    if missing:
        raise PretrainedWeightsError(f"{path} does not fit {name}: {len(missing)} backbone tensors missing, e.g. {missing[0]}")
    module.load_state_dict(usable, strict=False)


def _is_classifier_key(key: str) -> bool:
    return key.split(".")[0] in ("fc", "classifier", "_fc")

"""Checkpoints: a ``state_dict`` plus the plain data that rebuilds and uses the model.

Everything stored is a tensor or a plain Python value, so checkpoints load with
``torch.load(weights_only=True)``: opening a checkpoint can never execute code.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from pneumo_runtime import __version__
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.preprocess import PreprocessSettings

from .config import TrainConfig, config_from_dict
from .data.samples import TASK_CLASSES
from .models import PneumoClassifier, create_model
from .models.ensemble import ensemble_of, member_count, member_downsample_factors

FORMAT = "pneumo-checkpoint/1"
# What only resuming needs: dropped from checkpoints that are served or shipped (a third of the size).
TRAINING_STATE_KEYS = ("format", "train_state", "ema_state", "optimizer_state", "scheduler_state")


class CheckpointError(PneumoError, ValueError):
    """A checkpoint that is missing, corrupt, or not a pneumo checkpoint."""


def code_version() -> str:
    """The package version, plus the git commit when run from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=Path(__file__).parent, capture_output=True, text=True, timeout=5
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write must not destroy the previous checkpoint."""
    temporary = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, **payload}, temporary)
    temporary.replace(path)


def inference_checkpoint(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The checkpoint without training state; of the run state only the epoch it came from."""
    slim = {key: value for key, value in checkpoint.items() if key not in TRAINING_STATE_KEYS}
    slim["run_state"] = {"best_epoch": checkpoint.get("run_state", {}).get("best_epoch", 0)}
    return slim


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint not found: {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"cannot read checkpoint {path.name}: {str(exc).splitlines()[0]}") from None
    if not isinstance(checkpoint, dict) or checkpoint.get("format") != FORMAT:
        raise CheckpointError(f"{path.name} is not a {FORMAT} checkpoint")
    return checkpoint


@dataclass
class LoadedModel:
    model: PneumoClassifier
    config: TrainConfig
    classes: list[str]
    preprocess: PreprocessSettings
    checkpoint: dict[str, Any]


def model_from_checkpoint(path: str | Path) -> LoadedModel:
    """Rebuild the model from the config stored inside the checkpoint, in eval mode."""
    return rebuild_model(load_checkpoint(path))


def rebuild_model(checkpoint: dict[str, Any]) -> LoadedModel:
    """The same, for a checkpoint already read (one read of a large file is enough)."""
    config = config_from_dict(checkpoint["config"])
    classes = list(checkpoint["classes"])
    members = [create_model(config.model, len(classes), pretrained="none", dropout=config.dropout, input_downsample=factor)
               for factor in member_downsample(checkpoint)]
    model = members[0] if len(members) == 1 else ensemble_of(members)
    model.load_state_dict(checkpoint["model_state"])
    preprocess = PreprocessSettings.from_dict(checkpoint["preprocess"])
    return LoadedModel(model.eval(), config, classes, preprocess, checkpoint)


def member_downsample(checkpoint: dict[str, Any]) -> list[int]:
    """Each member's ``input_downsample``: one entry per member of a logit ensemble (ensemble_fields);
    checkpoints written before mixed resolutions existed have every member at the config's."""
    members = int(checkpoint.get("ensemble_members", 1))
    default = int(checkpoint["config"].get("input_downsample", 1))
    factors = [int(f) for f in checkpoint.get("ensemble_input_downsample", [default] * members)]
    if len(factors) != members:
        raise CheckpointError(f"checkpoint lists {len(factors)} member resolutions for {members} members")
    return factors


def ensemble_fields(model: PneumoClassifier) -> dict[str, Any]:
    """What ``rebuild_model`` needs to rebuild a logit ensemble (nothing for a single model)."""
    members = member_count(model)
    if members == 1:
        return {}
    return {"ensemble_members": members, "ensemble_input_downsample": member_downsample_factors(model)}


def classes_for(config: TrainConfig) -> list[str]:
    return list(TASK_CLASSES[config.task])

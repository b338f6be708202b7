"""Prediction sources: a torch checkpoint, an ONNX export, or an ensemble, behind one surface.

Every source turns a float32 NCHW batch (already preprocessed with its ``preprocess`` settings) into an
(N, K) array of *logits*, and carries the calibration it was given (temperature, threshold,
referral cut-off), so evaluation treats them all alike. An ensemble's "logits" are the log of its
members' mean softmax probabilities: ``softmax(log p) == p``, so it averages probabilities and
still calibrates like a single model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from scipy.special import logsumexp
from torch import nn

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.preprocess import PreprocessSettings, to_model_input

from ..checkpoint import model_from_checkpoint
from ..config import TrainConfig


class SourceError(PneumoError, ValueError):
    """A model source that cannot be evaluated (mismatched ensemble, missing ONNX support...)."""


class PredictionSource(Protocol):
    classes: list[str]
    preprocess: PreprocessSettings
    calibration: dict[str, Any] | None  # the stored calibration, None when there is none
    config: TrainConfig | None  # the training config (and so the validation split), when known

    def logits(self, batch: np.ndarray) -> np.ndarray: ...

    def mc_dropout_logits(self, batch: np.ndarray, passes: int) -> np.ndarray | None: ...

    def describe(self) -> dict[str, Any]: ...


# ----------------------------------------------------------------- torch checkpoint
class CheckpointSource:
    def __init__(self, path: str | Path):
        loaded = model_from_checkpoint(path)
        self.path = Path(path)
        self.model, self.config, self.classes, self.preprocess = loaded.model, loaded.config, loaded.classes, loaded.preprocess
        self.checkpoint = loaded.checkpoint
        self.calibration = loaded.checkpoint.get("calibration")

    @torch.no_grad()
    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.model.eval()(torch.from_numpy(batch)).float().numpy()

    @torch.no_grad()
    def mc_dropout_logits(self, batch: np.ndarray, passes: int) -> np.ndarray:
        """(passes, N, K) logits with dropout active and batch norm frozen (Gal & Ghahramani, 2016).

        Every registry model keeps its only dropout in the head, so the backbone runs once and the
        head ``passes`` times; a backbone with dropout of its own falls back to full passes.
        """
        model = self.model.eval()
        dropouts = [m for m in model.modules() if isinstance(m, nn.Dropout) and m.p > 0]
        head_only = not any(isinstance(m, nn.Dropout) and m.p > 0 for m in model.backbone.modules())
        x = torch.from_numpy(batch)
        try:
            for module in dropouts:
                module.train()
            if head_only:
                feature_map = model.features(x)
                samples = [model.head(feature_map) for _ in range(passes)]
            else:
                samples = [model(x) for _ in range(passes)]
        finally:
            model.eval()
        return torch.stack(samples).float().numpy()

    def describe(self) -> dict[str, Any]:
        run_state = self.checkpoint.get("run_state", {})
        return {"kind": "checkpoint", "file": self.path.name, "architecture": self.config.model, "task": self.config.task,
                "epoch": run_state.get("epoch"), "best_epoch": run_state.get("best_epoch"),
                "code_version": self.checkpoint.get("code_version")}


# ----------------------------------------------------------------- ensemble
def _log_mean_softmax(logits: np.ndarray, axis: int) -> np.ndarray:
    log_probabilities = logits - logsumexp(logits, axis=-1, keepdims=True)
    return logsumexp(log_probabilities, axis=axis) - np.log(logits.shape[axis])


class MeanProbabilitySource:
    """Averages the members' softmax probabilities; calibrated afterwards as one model.

    Not the logit ensemble of ``models.ensemble.ensemble_of`` (one network, mean of logits): this
    one averages probabilities of separate checkpoints at evaluation time."""

    def __init__(self, members: Sequence[CheckpointSource]):
        first = members[0]
        for member in members[1:]:
            if member.classes != first.classes or member.preprocess != first.preprocess:
                raise SourceError(f"ensemble members differ in classes or preprocessing: {first.path.name} vs {member.path.name}")
        self.members = list(members)
        self.classes, self.preprocess, self.config = first.classes, first.preprocess, first.config
        self.calibration = None  # members' own temperatures do not apply to the average

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return _log_mean_softmax(np.stack([m.logits(batch) for m in self.members]), axis=0)

    def mc_dropout_logits(self, batch: np.ndarray, passes: int) -> np.ndarray:
        return _log_mean_softmax(np.stack([m.mc_dropout_logits(batch, passes) for m in self.members]), axis=0)

    def describe(self) -> dict[str, Any]:
        return {"kind": "ensemble", "combination": "mean of softmax probabilities", "members": [m.describe() for m in self.members]}


# ----------------------------------------------------------------- ONNX export
@dataclass
class OnnxSource:
    path: Path
    onnx_model: Any

    @property
    def classes(self) -> list[str]:
        return list(self.onnx_model.contract.classes)

    @property
    def preprocess(self) -> PreprocessSettings:
        return self.onnx_model.contract.preprocess

    @property
    def calibration(self) -> dict[str, Any]:
        contract = self.onnx_model.contract  # pneumo_runtime.contract.ModelContract
        return {"temperature": float(contract.temperature), "threshold": contract.threshold,
                "threshold_rule": dict(contract.threshold_rule), "validation": dict(contract.metrics.get("validation") or {}),
                "uncertainty": {"method": contract.uncertainty.method, "cutoff": contract.uncertainty.cutoff},
                "source": "stored in the ONNX export"}

    config = None  # an export carries no training config, hence no validation split

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return np.asarray(self.onnx_model.logits(batch.astype(np.float32)), dtype=np.float32)

    def mc_dropout_logits(self, batch: np.ndarray, passes: int) -> None:
        return None  # export removes dropout: an ONNX graph is deterministic

    def describe(self) -> dict[str, Any]:
        contract = self.onnx_model.contract
        return {"kind": "onnx", "file": self.path.name, "architecture": contract.architecture, "model_version": contract.model_version}


def onnx_source(path: Path) -> OnnxSource:
    """The ONNX source, through the runtime's model loader (the one the clinic laptop runs)."""
    try:
        from pneumo_runtime.model import OnnxModel
    except ImportError:
        raise SourceError("ONNX evaluation needs pneumo_runtime.model, which this installation lacks") from None
    return OnnxSource(path, OnnxModel(path))


def load_source(paths: Sequence[str | Path]) -> PredictionSource:
    """One model: that model; several: an ensemble of checkpoints. A shipped model's name
    (``default``, ``default.int8``, ``three_class``) is that model, as in ``pneumo-predict``."""
    from pneumo_runtime.predictor import resolve_model

    paths = [resolve_model(p) for p in paths]
    if len(paths) == 1 and paths[0].suffix.lower() == ".onnx":
        return onnx_source(paths[0])
    if any(p.suffix.lower() == ".onnx" for p in paths):
        raise SourceError("an ensemble is built from torch checkpoints, not ONNX exports")
    members = [CheckpointSource(p) for p in paths]
    return members[0] if len(members) == 1 else MeanProbabilitySource(members)


# ----------------------------------------------------------------- batching over prepared images
def model_inputs(prepared: np.ndarray, preprocess: PreprocessSettings) -> np.ndarray:
    """uint8 (N, S, S) prepared images (CLAHE + resize) -> float32 (N, 3, S, S) model inputs."""
    return np.stack([to_model_input(image, preprocess) for image in prepared]).astype(np.float32)


def predict_logits(source: PredictionSource, prepared: np.ndarray, batch_size: int = 32) -> np.ndarray:
    chunks = [source.logits(model_inputs(prepared[i:i + batch_size], source.preprocess)) for i in range(0, len(prepared), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(source.classes)), np.float32)

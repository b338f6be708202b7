"""From calibrated probabilities to a label, an uncertainty and a decision, by the contract's rules."""

from __future__ import annotations

import numpy as np

from .contract import ModelContract

REFER = "REFER"
REJECTED = "REJECTED"


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits (N, K), scaled by the calibration temperature; computed in the logits' dtype."""
    scaled = np.asarray(logits) / temperature
    exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def predicted_indices(probabilities: np.ndarray, threshold: float | None = None, positive_index: int = 1) -> np.ndarray:
    """The decision rule, as class indices. Two classes with a threshold: the positive class when
    P(positive) >= threshold, else the other one. Without a threshold, or with more classes: argmax."""
    if threshold is None or probabilities.shape[1] != 2:
        return probabilities.argmax(axis=1)
    return np.where(probabilities[:, positive_index] >= threshold, positive_index, 1 - positive_index)


def referred(uncertainty: np.ndarray, cutoff: float | np.ndarray | None) -> np.ndarray:
    """The referral rule: REFER when the uncertainty exceeds the cut-off; without a cut-off, nothing is referred."""
    uncertainty = np.asarray(uncertainty)
    return uncertainty > cutoff if cutoff is not None else np.zeros(uncertainty.shape, dtype=bool)


def decision_names(indices: np.ndarray, refer: np.ndarray, classes: list[str] | tuple[str, ...]) -> list[str]:
    """REFER where referred, else the predicted class's name."""
    return [REFER if r else classes[k] for k, r in zip(indices, refer, strict=True)]


def entropy_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """Predictive entropy normalised to [0, 1] (bits for two classes): 0 certain, 1 a coin toss."""
    clipped = np.clip(probabilities, 1e-12, 1.0)
    entropy = -(clipped * np.log2(clipped)).sum(axis=1)
    return entropy / np.log2(probabilities.shape[1])


def decisions(probabilities: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(label indices, uncertainties, decision names): REFER when uncertainty exceeds the cut-off."""
    labels = predicted_indices(probabilities, contract.threshold, contract.positive_index)
    uncertainty = entropy_uncertainty(probabilities)
    return labels, uncertainty, decision_names(labels, referred(uncertainty, contract.uncertainty.cutoff), contract.classes)

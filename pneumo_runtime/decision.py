"""From calibrated probabilities to a label, an uncertainty and a decision, by the contract's rules."""

from __future__ import annotations

import numpy as np

from .contract import ModelContract

REFER = "REFER"
REJECTED = "REJECTED"


def predicted_indices(probabilities: np.ndarray, contract: ModelContract) -> np.ndarray:
    """Binary: the positive class when P(positive) >= the calibrated threshold; otherwise argmax."""
    if contract.threshold is None or len(contract.classes) != 2:
        return probabilities.argmax(axis=1)
    positive = contract.positive_index
    return np.where(probabilities[:, positive] >= contract.threshold, positive, 1 - positive)


def entropy_uncertainty(probabilities: np.ndarray) -> np.ndarray:
    """Predictive entropy normalised to [0, 1] (bits for two classes): 0 certain, 1 a coin toss."""
    clipped = np.clip(probabilities, 1e-12, 1.0)
    entropy = -(clipped * np.log2(clipped)).sum(axis=1)
    return entropy / np.log2(probabilities.shape[1])


def decisions(probabilities: np.ndarray, contract: ModelContract) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(label indices, uncertainties, decision names): REFER when uncertainty exceeds the cut-off."""
    labels = predicted_indices(probabilities, contract)
    uncertainty = entropy_uncertainty(probabilities)
    cutoff = contract.uncertainty.cutoff
    names = [REFER if cutoff is not None and u > cutoff else contract.classes[k] for k, u in zip(labels, uncertainty)]
    return labels, uncertainty, names

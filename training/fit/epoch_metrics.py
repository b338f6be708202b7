"""The few metrics that steer training (validation AUC, accuracy, ...), computed by scikit-learn."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, log_loss, recall_score

from ..evaluation.metrics import auc_roc


def classification_metrics(labels: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """``probabilities``: (N, K) softmax outputs. Binary AUC uses the positive column."""
    predictions = probabilities.argmax(axis=1)
    num_classes = probabilities.shape[1]
    metrics = {
        "accuracy": float(accuracy_score(labels, predictions)),
        "balanced_accuracy": float(balanced_accuracy_score(labels, predictions)),
        "loss": float(log_loss(labels, probabilities, labels=list(range(num_classes)))),
    }
    metrics["auc"] = auc_roc(labels, probabilities)
    if num_classes == 2:
        metrics["sensitivity"] = float(recall_score(labels, predictions, pos_label=1, zero_division=0))
        metrics["specificity"] = float(recall_score(labels, predictions, pos_label=0, zero_division=0))
    return metrics

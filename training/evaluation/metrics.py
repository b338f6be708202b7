"""Clinical metrics with 95% CIs, computed by scikit-learn wherever it has the metric.

Proportions (accuracy, sensitivity, specificity, PPV, NPV) carry Wilson intervals from the counts
of scikit-learn's confusion matrix; everything else (AUCs, F1, balanced accuracy, MCC, Brier, log
loss, ECE) carries a percentile interval from a bootstrap over patients (``intervals.py``).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    matthews_corrcoef,
    precision_recall_curve,
    roc_auc_score,
    roc_curve,
)

from pneumo_runtime.decision import predicted_indices

from ..calibration.fitting import expected_calibration_error
from .intervals import bootstrap_interval, proportion

Resamples = list[np.ndarray]
ROC_GRID = np.linspace(0.0, 1.0, 101)


def _two_classes(labels: np.ndarray) -> bool:
    return len(np.unique(labels)) >= 2


def _bootstrapped(metric: Callable[..., float], arrays: tuple[np.ndarray, ...], resamples: Resamples, needs_both: bool = False) -> dict:
    """``metric(*arrays)`` with a patient-bootstrap interval; NaN where the metric is undefined."""
    def on(indices: np.ndarray) -> float:
        parts = tuple(a[indices] for a in arrays)
        return float("nan") if needs_both and not _two_classes(parts[0]) else float(metric(*parts))
    return bootstrap_interval(on, resamples, on(np.arange(len(arrays[0]))))


# ----------------------------------------------------------------- binary, at a threshold
def binary_metrics_at_threshold(labels: np.ndarray, positive_probability: np.ndarray, threshold: float, resamples: Resamples) -> dict:
    """Decide positive when ``p >= threshold``; label 1 is the positive class (PNEUMONIA)."""
    predictions = predicted_indices(np.column_stack([1.0 - positive_probability, positive_probability]), threshold)
    (tn, fp), (fn, tp) = confusion_matrix(labels, predictions, labels=[0, 1])
    f1 = lambda y, p: f1_score(y, p, pos_label=1, zero_division=0)  # noqa: E731
    return {
        "threshold": float(threshold),
        "confusion_matrix": {"labels": [0, 1], "rows_true_columns_predicted": [[int(tn), int(fp)], [int(fn), int(tp)]]},
        "accuracy": proportion(tn + tp, len(labels)),
        "sensitivity": proportion(tp, tp + fn),
        "specificity": proportion(tn, tn + fp),
        "ppv": proportion(tp, tp + fp),
        "npv": proportion(tn, tn + fn),
        "f1": _bootstrapped(f1, (labels, predictions), resamples),
        "balanced_accuracy": _bootstrapped(balanced_accuracy_score, (labels, predictions), resamples, needs_both=True),
        "mcc": _bootstrapped(matthews_corrcoef, (labels, predictions), resamples),
    }


# ----------------------------------------------------------------- any number of classes, threshold-free
def auc_roc(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """ROC AUC: on the positive column for two classes, macro one-vs-rest for more; NaN unless every class is present."""
    classes = probabilities.shape[1]
    if len(np.unique(labels)) < classes:
        return float("nan")
    if classes == 2:
        return float(roc_auc_score(labels, probabilities[:, 1]))
    return float(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro", labels=list(range(classes))))


def _auc_pr(labels: np.ndarray, probabilities: np.ndarray) -> float:
    if probabilities.shape[1] == 2:
        return average_precision_score(labels, probabilities[:, 1])
    if len(np.unique(labels)) < probabilities.shape[1]:
        return float("nan")  # macro AP needs every class present
    one_hot = np.eye(probabilities.shape[1])[labels]
    return average_precision_score(one_hot, probabilities, average="macro")


def brier_score(labels: np.ndarray, probabilities: np.ndarray) -> float:
    """Brier score: on the positive column for two classes, multi-class otherwise."""
    if probabilities.shape[1] == 2:
        return brier_score_loss(labels, probabilities[:, 1])
    return brier_score_loss(labels, probabilities, labels=list(range(probabilities.shape[1])))


def _log_loss(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return log_loss(labels, probabilities, labels=list(range(probabilities.shape[1])))


def _ece(labels: np.ndarray, probabilities: np.ndarray) -> float:
    return expected_calibration_error(probabilities, labels)


def threshold_free_metrics(labels: np.ndarray, probabilities: np.ndarray, resamples: Resamples) -> dict:
    """AUC-ROC and AUC-PR (macro one-vs-rest for 3 classes), Brier, log loss, top-label ECE."""
    arrays = (labels, probabilities)
    return {
        "auc_roc": _bootstrapped(auc_roc, arrays, resamples),
        "auc_pr": _bootstrapped(_auc_pr, arrays, resamples, needs_both=True),
        "brier": _bootstrapped(brier_score, arrays, resamples),
        "log_loss": _bootstrapped(_log_loss, arrays, resamples),
        "ece": _bootstrapped(_ece, arrays, resamples),
    }


# ----------------------------------------------------------------- three classes, argmax decisions
def multiclass_metrics(labels: np.ndarray, probabilities: np.ndarray, classes: list[str], resamples: Resamples) -> dict:
    """Overall accuracy/balanced accuracy/MCC and, per class (one vs rest), the binary metrics."""
    predictions = probabilities.argmax(axis=1)
    matrix = confusion_matrix(labels, predictions, labels=list(range(len(classes))))
    per_class = {}
    for index, name in enumerate(classes):
        is_class = (labels == index).astype(int)
        class_metrics = binary_metrics_at_threshold(is_class, (predictions == index).astype(float), 0.5, resamples)
        class_metrics.pop("threshold")
        class_metrics["auc_roc"] = _bootstrapped(roc_auc_score, (is_class, probabilities[:, index]), resamples, needs_both=True)
        per_class[name] = class_metrics
    return {
        "decision": "argmax",
        "confusion_matrix": {"labels": list(range(len(classes))), "rows_true_columns_predicted": matrix.tolist()},
        "accuracy": proportion(int(np.trace(matrix)), len(labels)),
        "balanced_accuracy": _bootstrapped(balanced_accuracy_score, (labels, predictions), resamples),
        "mcc": _bootstrapped(matthews_corrcoef, (labels, predictions), resamples),
        "per_class": per_class,
    }


def accuracy_of(labels: np.ndarray, predictions: np.ndarray) -> float:
    return float(accuracy_score(labels, predictions)) if len(labels) else float("nan")


# ----------------------------------------------------------------- curves (for the report's figures)
def roc_with_band(labels: np.ndarray, positive_score: np.ndarray, resamples: Resamples) -> dict:
    """The ROC curve plus a 95% band: bootstrap TPRs interpolated on a fixed FPR grid."""
    fpr, tpr, _ = roc_curve(labels, positive_score)
    curves = []
    for indices in resamples:
        if _two_classes(labels[indices]):
            f, t, _ = roc_curve(labels[indices], positive_score[indices])
            curves.append(np.interp(ROC_GRID, f, t))
    low, high = np.percentile(np.array(curves), [2.5, 97.5], axis=0) if curves else (ROC_GRID * np.nan,) * 2
    return {"fpr": fpr.tolist(), "tpr": tpr.tolist(), "band_fpr": ROC_GRID.tolist(), "band_tpr_low": low.tolist(), "band_tpr_high": high.tolist()}


def pr_curve(labels: np.ndarray, positive_score: np.ndarray) -> dict:
    precision, recall, _ = precision_recall_curve(labels, positive_score)
    return {"recall": recall.tolist(), "precision": precision.tolist(), "prevalence": float(np.mean(labels))}

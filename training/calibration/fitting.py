"""Calibration maths, all chosen on validation: temperature, threshold rules, referral cut-off, ECE.

Pure numpy/scipy/scikit-learn on arrays of logits and labels; ``calibrate.py`` applies it to a
checkpoint. The runtime (torch-free) reproduces the decisions from three stored numbers:
``p = softmax(logits / temperature)``, ``uncertainty = entropy_uncertainty(p)`` (pneumo_runtime.decision), REFER if
``uncertainty > cutoff`` else PNEUMONIA if ``p[PNEUMONIA] >= threshold`` else NORMAL.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax
from sklearn.metrics import roc_curve

# Softmax and the uncertainty are defined once, in the runtime: the cut-off fitted here is compared,
# at run time, with the runtime's own measure, so training must not keep a copy of either.
from pneumo_runtime.decision import softmax
from pneumo_runtime.errors import PneumoError

THRESHOLD_RULES: tuple[str, ...] = ("sensitivity", "youden", "specificity")
DEFAULT_TARGETS: dict[str, float | None] = {"sensitivity": 0.95, "youden": None, "specificity": 0.90}
ECE_BINS = 15
DEFAULT_REFERRAL_RATE = 0.10  # share of validation cases the entropy cut-off sends to a radiologist
_LOG_T_BOUNDS = (math.log(0.05), math.log(20.0))  # a temperature outside this says the model is broken


class CalibrationError(PneumoError, ValueError):
    """Calibration cannot be fitted: e.g. a validation split with a single class."""


# ----------------------------------------------------------------- temperature
def probabilities_from_logits(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """The runtime's softmax in float64; ``temperature`` 1 gives the uncalibrated probabilities."""
    return softmax(np.asarray(logits, dtype=np.float64), temperature)


def negative_log_likelihood(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> float:
    log_probabilities = log_softmax(np.asarray(logits, dtype=np.float64) / temperature, axis=1)
    return float(-log_probabilities[np.arange(len(labels)), labels].mean())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The single T > 0 minimising validation NLL of softmax(logits / T) (Guo et al., 2017).

    Searched over log T, where the problem is smooth and one-dimensional: a bounded scalar search
    is exact enough and, unlike LBFGS on a tensor, fully deterministic.
    """
    if len(labels) == 0:
        raise CalibrationError("cannot fit a temperature on an empty validation split")
    result = minimize_scalar(
        lambda log_t: negative_log_likelihood(logits, labels, math.exp(log_t)), bounds=_LOG_T_BOUNDS, method="bounded",
        options={"xatol": 1e-6},
    )
    return float(math.exp(result.x))


# ----------------------------------------------------------------- calibration error
def reliability_bins(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> list[dict[str, float]]:
    """Top-label reliability: per equal-width confidence bin, mean confidence, accuracy and count."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # right-closed bins, so that a confidence of exactly 1.0 lands in the last bin
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    bins = []
    for b in range(n_bins):
        members = which == b
        count = int(members.sum())
        bins.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                     "confidence": float(confidence[members].mean()) if count else float("nan"),
                     "accuracy": float(correct[members].mean()) if count else float("nan")})
    return bins


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, n_bins: int = ECE_BINS) -> float:
    """Top-label ECE: count-weighted mean |accuracy - confidence| over equal-width bins."""
    total = len(labels)
    if total == 0:
        return float("nan")
    return float(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability_bins(probabilities, labels, n_bins) if b["count"]))


# ----------------------------------------------------------------- uncertainty
def referral_cutoff(uncertainty: np.ndarray, referral_rate: float) -> float:
    """The cut-off that refers (``uncertainty > cutoff``) at most ``referral_rate`` of the cases.

    It is an observed uncertainty value: ties at the cut-off are accepted, so the achieved rate can
    fall a little below the target but never above it.
    """
    if not 0.0 <= referral_rate < 1.0:
        raise CalibrationError(f"referral rate {referral_rate} must be in [0, 1)")
    ordered = np.sort(np.asarray(uncertainty, dtype=np.float64))[::-1]
    if ordered.size == 0:
        raise CalibrationError("cannot choose a referral cut-off without validation cases")
    return float(ordered[min(int(math.floor(referral_rate * ordered.size)), ordered.size - 1)])


# ----------------------------------------------------------------- threshold rules
def resolve_target(rule: str, target: float | None) -> float | None:
    """The rule's target: the one given, else its default; Youden's J has none."""
    if rule not in THRESHOLD_RULES:
        raise CalibrationError(f"unknown threshold rule {rule!r}; choose one of {', '.join(THRESHOLD_RULES)}")
    return None if rule == "youden" else (DEFAULT_TARGETS[rule] if target is None else float(target))


def choose_threshold(labels: np.ndarray, positive_probability: np.ndarray, rule: str, target: float | None) -> float:
    """A decision threshold on p(positive) (decide positive when ``p >= threshold``).

    - ``sensitivity``: the highest threshold whose sensitivity reaches ``target`` (so the best
      specificity that keeps the sensitivity promise);
    - ``specificity``: the lowest threshold whose specificity reaches ``target``;
    - ``youden``: the threshold maximising sensitivity + specificity - 1.
    """
    labels = np.asarray(labels)
    if len(np.unique(labels)) < 2:
        raise CalibrationError("the validation split needs both classes to choose a threshold")
    if rule not in THRESHOLD_RULES:
        raise CalibrationError(f"unknown threshold rule {rule!r}; choose one of {', '.join(THRESHOLD_RULES)}")
    if rule != "youden" and (target is None or not 0.0 < target <= 1.0):
        raise CalibrationError(f"the {rule} rule needs a target in (0, 1], got {target}")
    # drop_intermediate=False: every distinct score is a candidate, so the target is met exactly.
    fpr, tpr, thresholds = roc_curve(labels, positive_probability, drop_intermediate=False)
    candidates = np.isfinite(thresholds)  # the first threshold is +inf (nothing positive)
    if rule == "sensitivity":
        index = int(np.flatnonzero(candidates & (tpr >= target - 1e-12))[0])
    elif rule == "specificity":
        meeting = np.flatnonzero(candidates & (1.0 - fpr >= target - 1e-12))
        if meeting.size == 0:  # even the highest score is a negative: call nothing positive
            return float(np.nextafter(np.max(positive_probability), np.inf))
        index = int(meeting[-1])
    else:
        youden = np.where(candidates, tpr - fpr, -np.inf)
        index = int(np.argmax(youden))
    return float(min(thresholds[index], 1.0))

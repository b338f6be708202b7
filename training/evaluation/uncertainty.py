"""Per-image uncertainty from test-time augmentation and MC dropout, and what it is worth.

Each method yields samples of calibrated probabilities; the predictive probability is their mean
and the uncertainty the normalised entropy of that mean (total predictive uncertainty, 0..1). Its
worth is shown by selective prediction: accuracy on the cases a method is most sure of, as the
share of cases kept (coverage) falls.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import cv2
import numpy as np

from pneumo_runtime.decision import entropy_uncertainty, referred

from ..calibration.fitting import probabilities_from_logits
from .intervals import proportion
from .metrics import accuracy_of
from .sources import PredictionSource, model_inputs

COVERAGE_GRID = np.round(np.linspace(0.05, 1.0, 20), 4)


# ----------------------------------------------------------------- test-time augmentation
def _rotate(degrees: float) -> Callable[[np.ndarray], np.ndarray]:
    def view(image: np.ndarray) -> np.ndarray:
        size = image.shape[0]
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), degrees, 1.0)
        return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return view


def _zoom(factor: float) -> Callable[[np.ndarray], np.ndarray]:
    def view(image: np.ndarray) -> np.ndarray:
        size = image.shape[0]
        crop = int(round(size / factor))
        start = (size - crop) // 2
        return cv2.resize(image[start:start + crop, start:start + crop], (size, size), interpolation=cv2.INTER_LINEAR)
    return view


def _gamma(gamma: float) -> Callable[[np.ndarray], np.ndarray]:
    table = np.clip(np.round(255.0 * (np.arange(256) / 255.0) ** gamma), 0, 255).astype(np.uint8)
    return lambda image: cv2.LUT(image, table)


# Mild versions of the training augmentations, applied where training augments (after CLAHE and
# resize). No horizontal flip: it puts the heart on the wrong side, which no real X-ray shows.
TTA_VIEWS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda image: image,
    "rotate_-5": _rotate(-5.0),
    "rotate_+5": _rotate(5.0),
    "zoom_1.08": _zoom(1.08),
    "gamma_0.8": _gamma(0.8),
    "gamma_1.25": _gamma(1.25),
}


def tta_probabilities(source: PredictionSource, prepared: np.ndarray, temperature: float, batch_size: int = 32) -> np.ndarray:
    """(views, N, K) calibrated probabilities, one slice per view in ``TTA_VIEWS``."""
    views = []
    for transform in TTA_VIEWS.values():
        logits = [source.logits(model_inputs(np.stack([transform(image) for image in prepared[i:i + batch_size]]), source.preprocess))
                  for i in range(0, len(prepared), batch_size)]
        views.append(probabilities_from_logits(np.concatenate(logits), temperature))
    return np.stack(views)


def mc_dropout_probabilities(source: PredictionSource, prepared: np.ndarray, temperature: float, passes: int,
                             batch_size: int = 32) -> np.ndarray | None:
    """(passes, N, K) calibrated probabilities with dropout active; None where the source has none."""
    chunks = []
    for i in range(0, len(prepared), batch_size):
        sampled = source.mc_dropout_logits(model_inputs(prepared[i:i + batch_size], source.preprocess), passes)
        if sampled is None:
            return None
        chunks.append(sampled)
    logits = np.concatenate(chunks, axis=1)
    return np.stack([probabilities_from_logits(pass_logits, temperature) for pass_logits in logits])


def predictive(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean probability over samples (axis 0) and its normalised entropy."""
    mean = samples.mean(axis=0)
    return mean, entropy_uncertainty(mean)


# ----------------------------------------------------------------- what the uncertainty is worth
def selective_curve(correct: np.ndarray, uncertainty: np.ndarray) -> dict[str, list[float]]:
    """Accuracy on the most certain ``coverage`` share of cases, on a fixed coverage grid."""
    order = np.argsort(uncertainty, kind="stable")
    running = np.cumsum(correct[order]) / np.arange(1, len(order) + 1)
    kept = [max(1, math.ceil(c * len(order))) for c in COVERAGE_GRID]
    return {"coverage": COVERAGE_GRID.tolist(), "accuracy": [float(running[k - 1]) for k in kept]}


def referral_summary(labels: np.ndarray, decisions: np.ndarray, uncertainty: np.ndarray, cutoff: float | None) -> dict:
    """The "refer to a radiologist" rule: cases with ``uncertainty > cutoff`` are referred."""
    correct = (decisions == labels).astype(int)
    summary: dict = {"cutoff": cutoff, "accuracy_all": proportion(int(correct.sum()), len(labels)),
                     "selective": selective_curve(correct, uncertainty)}
    if cutoff is None:
        return summary
    refer = referred(uncertainty, cutoff)
    accepted = ~refer
    summary.update({
        "referral_rate": proportion(int(refer.sum()), len(labels)),
        "accuracy_accepted": proportion(int(correct[accepted].sum()), int(accepted.sum())),
        "accuracy_referred": accuracy_of(labels[refer], decisions[refer]),
    })
    return summary

"""95% confidence intervals: Wilson for proportions, a bootstrap over patients for everything else.

Resampling *patients* (not images) matters on Kermany: one child can have several X-rays, and
their predictions are correlated. Resampling images would pretend they are independent and give
intervals that are too narrow.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.stats import norm

CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    value: float
    low: float
    high: float
    method: str

    def to_dict(self) -> dict[str, float | str]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high, "ci_method": self.method}


def wilson_interval(successes: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Wilson score interval; unlike the normal approximation it stays inside [0, 1] at 0/n and n/n."""
    if total <= 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + confidence / 2))
    share = successes / total
    denominator = 1 + z * z / total
    centre = (share + z * z / (2 * total)) / denominator
    half_width = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half_width), min(1.0, centre + half_width)


def proportion(successes: int, total: int) -> dict[str, float | int | str]:
    """A proportion with its Wilson interval and the counts it comes from."""
    low, high = wilson_interval(successes, total)
    value = successes / total if total else float("nan")
    return {**Interval(value, low, high, "wilson").to_dict(), "numerator": int(successes), "denominator": int(total)}


def patient_groups(patients: Sequence[str]) -> list[np.ndarray]:
    """Image indices of each patient, in first-seen order."""
    index: dict[str, list[int]] = {}
    for position, patient in enumerate(patients):
        index.setdefault(patient, []).append(position)
    return [np.asarray(members) for members in index.values()]


def patient_bootstrap_indices(patients: Sequence[str], n_resamples: int, seed: int) -> list[np.ndarray]:
    """``n_resamples`` image-index arrays, each drawn by resampling patients with replacement."""
    groups = patient_groups(patients)
    rng = np.random.default_rng(seed)
    return [np.concatenate([groups[g] for g in rng.integers(0, len(groups), len(groups))]) for _ in range(n_resamples)]


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float], resamples: list[np.ndarray], value: float, confidence: float = CONFIDENCE
) -> dict[str, float | int | str]:
    """Percentile interval of ``statistic(indices)`` over the resamples.

    Resamples where the statistic is undefined (e.g. AUC with one class drawn) are dropped and
    counted, so that a report can say how many there were.
    """
    with warnings.catch_warnings():  # degenerate resamples (a class not drawn) are expected, and dropped below
        warnings.simplefilter("ignore", UserWarning)
        values = np.array([statistic(indices) for indices in resamples], dtype=float)
    finite = values[np.isfinite(values)]
    tail = (1 - confidence) / 2 * 100
    low, high = (np.percentile(finite, [tail, 100 - tail]) if finite.size else (float("nan"), float("nan")))
    return {**Interval(float(value), float(low), float(high), "patient_bootstrap").to_dict(),
            "n_resamples": int(finite.size), "n_undefined": int(values.size - finite.size)}

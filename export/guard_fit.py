"""Fit the input guard's feature statistics on training X-rays; set its cut-off on validation X-rays.

Only X-rays are used to fit and to set the cut-off. The non-X-ray corpus in benchmarks/ measures
the guard afterwards and is never used to tune it.
"""

from __future__ import annotations

import numpy as np
import torch

from pneumo_runtime.guard import FeatureDistance, GuardSettings

COMPONENTS = 16
# The cut-off sits this far above the highest validation score: the official test split is known
# to look different from train, and a false rejection costs a clinician a second opinion.
CUTOFF_MARGIN = 1.5
CUTOFF_QUANTILE = 0.995


@torch.no_grad()
def pooled_features(model: torch.nn.Module, batch: np.ndarray, batch_size: int = 32) -> np.ndarray:
    model.eval()
    chunks = [model.features(torch.from_numpy(batch[i:i + batch_size])).mean(dim=(2, 3)).numpy() for i in range(0, len(batch), batch_size)]
    return np.concatenate(chunks)


def fit_guard(train_pooled: np.ndarray, val_pooled: np.ndarray, components: int = COMPONENTS) -> GuardSettings:
    mean = train_pooled.mean(axis=0)
    centred = train_pooled - mean
    _, singular, basis = np.linalg.svd(centred, full_matrices=False)
    variances = singular ** 2 / max(len(train_pooled) - 1, 1)
    k = min(components, len(variances) - 1)
    residual_variance = float(variances[k:].sum() / (train_pooled.shape[1] - k))
    unbounded = GuardSettings(
        feature_mean=tuple(_rounded(mean)),
        components=tuple(tuple(_rounded(row)) for row in basis[:k]),
        component_variances=tuple(_rounded(variances[:k])),
        residual_variance=max(residual_variance, 1e-12),
    )
    val_scores = FeatureDistance(unbounded).score(val_pooled)
    cutoff = float(np.quantile(val_scores, CUTOFF_QUANTILE) * CUTOFF_MARGIN)
    return GuardSettings(**{**unbounded.__dict__, "max_feature_score": round(cutoff, 4)})


def _rounded(values: np.ndarray) -> list[float]:
    """Six significant digits keep the contract small; the scores change by less than 1e-4."""
    return [float(f"{v:.6g}") for v in np.asarray(values, np.float64)]


def guard_for_model(model: torch.nn.Module, train_batch: np.ndarray, val_batch: np.ndarray) -> GuardSettings:
    return fit_guard(pooled_features(model, train_batch), pooled_features(model, val_batch))

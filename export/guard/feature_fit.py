"""Fit the input guard on X-rays only: a bank of training features, and cut-offs set on held-out
X-rays (the validation split, plus any extra real X-rays given, such as full-resolution files).

The non-X-ray corpus in benchmarks/ measures the guard afterwards; it never sets a cut-off.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from pneumo_runtime.guard import GuardSettings, mirror_symmetry

NEIGHBOURS = 5
# Cut-offs sit just beyond the most extreme held-out X-ray: a false rejection costs a clinician a
# second opinion, and the official test split is known to look different from train.
DISTANCE_MARGIN = 1.02
SYMMETRY_QUANTILE = 0.005


class FeatureBankDistance(nn.Module):
    """1 - mean cosine similarity to the ``NEIGHBOURS`` nearest training X-rays (pooled features)."""

    def __init__(self, bank: torch.Tensor):
        super().__init__()
        self.register_buffer("bank", F.normalize(bank, dim=1))

    def forward(self, feature_map: torch.Tensor) -> torch.Tensor:
        pooled = F.normalize(feature_map.mean(dim=(2, 3)), dim=1)
        nearest = torch.topk(pooled @ self.bank.T, k=min(NEIGHBOURS, self.bank.shape[0]), dim=1).values
        return 1.0 - nearest.mean(dim=1)


@torch.no_grad()
def feature_maps(model: nn.Module, batch: np.ndarray, batch_size: int = 32):
    model.eval()
    for start in range(0, len(batch), batch_size):
        yield model.features(torch.from_numpy(batch[start:start + batch_size]))


@torch.no_grad()
def fit_feature_guard(model: nn.Module, bank_batch: np.ndarray, held_out_batch: np.ndarray) -> tuple[float, FeatureBankDistance]:
    """The feature bank and its cut-off: just beyond the most distant held-out X-ray."""
    bank = torch.cat([fmap.mean(dim=(2, 3)) for fmap in feature_maps(model, bank_batch)])
    distance = FeatureBankDistance(bank)
    held_out = torch.cat([distance(fmap) for fmap in feature_maps(model, held_out_batch)]).numpy()
    return round(float(held_out.max() * DISTANCE_MARGIN), 4), distance


@torch.no_grad()
def fit_guard(model: nn.Module, bank_batch: np.ndarray, held_out_batch: np.ndarray, held_out_prepared: list[np.ndarray]) -> tuple[GuardSettings, FeatureBankDistance]:
    """``held_out_prepared``: the held-out X-rays after resize and CLAHE, for the symmetry cut-off."""
    max_distance, distance = fit_feature_guard(model, bank_batch, held_out_batch)
    symmetry = np.array([mirror_symmetry(image) for image in held_out_prepared])
    settings = GuardSettings(
        min_symmetry=round(float(np.quantile(symmetry, SYMMETRY_QUANTILE)), 4),
        max_feature_distance=max_distance,
    )
    return settings, distance

"""Patient-grouped, class-stratified splits: one validation split, or K folds for cross-validation.

Grouping by patient matters on Kermany: one child can have several images, and a split by image
lets the model recognise the patient instead of the disease (the leak behind most 97-99% claims).
"""

from __future__ import annotations

import random

from sklearn.model_selection import StratifiedGroupKFold

from ..config import TrainConfig
from .samples import Sample, load_samples


def patient_folds(samples: list[Sample], k: int, seed: int) -> list[tuple[list[Sample], list[Sample]]]:
    """K (train, held-out) pairs; deterministic for a given seed and sample list."""
    ordered = sorted(samples, key=lambda s: str(s.path))  # independent of discovery order
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    labels = [s.label for s in ordered]
    groups = [s.patient for s in ordered]
    return [
        ([ordered[i] for i in train_idx], [ordered[i] for i in held_idx])
        for train_idx, held_idx in splitter.split(ordered, labels, groups)
    ]


def patient_split(samples: list[Sample], val_fraction: float, seed: int) -> tuple[list[Sample], list[Sample]]:
    """One fold of a ``round(1 / val_fraction)``-fold split: about ``val_fraction`` held out."""
    k = max(2, round(1.0 / val_fraction))
    return patient_folds(samples, k, seed)[0]


def select_samples(config: TrainConfig) -> tuple[list[Sample], list[Sample]]:
    """The training and validation samples of a run, exactly as its config defines them (calibration rebuilds them)."""
    train = load_samples(config.data, "train", config.task)
    if config.val_data:
        val = load_samples(config.val_data, "val", config.task)
    else:
        train, val = patient_split(train, config.val_fraction, config.validation_seed)
    # caps take a seeded random subset, never the first N files
    if config.max_train_samples:
        train = random.Random(config.seed).sample(train, min(config.max_train_samples, len(train)))
    if config.max_val_samples:
        val = random.Random(config.validation_seed).sample(val, min(config.max_val_samples, len(val)))
    return train, val

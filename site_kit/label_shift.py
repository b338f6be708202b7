"""Label shift at a site: its pneumonia share, estimated without labels, and what follows from it.

A site's share of pneumonia (its prevalence) moves batch-norm statistics as much as its scanner
does: they are averages over its films. These functions estimate that share from a model's
calibrated probabilities (EM on the priors, Saerens et al. 2002), weight films back to the training
share, and judge an adapted model against the shipped one without labels
(docs/experiments/2026-12-07-site-kit-prevalence.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from pneumo_runtime.contract import ModelContract
from pneumo_runtime.decision import predicted_indices, softmax

# The share of pneumonia films in the Kermany training split (3,875 of 5,216), which set the
# shipped networks' batch-norm statistics and, through validation, their calibration.
TRAINING_PREVALENCE = 3875 / 5216
MIN_SITE_FILMS = 100  # fewer: the safety check's estimates are too noisy to trust an adaptation
MAX_PREVALENCE_DISAGREEMENT = 0.05
SENSITIVITY_TARGET = 0.95


def pneumonia_probability(logits: np.ndarray, contract: ModelContract) -> np.ndarray:
    """P(pneumonia) after the model's temperature: everything but NORMAL (class 0)."""
    return 1.0 - softmax(logits, contract.temperature)[:, 0]


def flagged(logits: np.ndarray, contract: ModelContract) -> np.ndarray:
    """The films the model calls pneumonia under its own decision rule."""
    return predicted_indices(softmax(logits, contract.temperature), contract.threshold) != 0


def em_prevalence(probability: np.ndarray, train_prevalence: float = TRAINING_PREVALENCE,
                  iterations: int = 200, tolerance: float = 1e-6) -> tuple[float, np.ndarray]:
    """The site's prevalence by EM on the priors, and each film's posterior under it.

    ``probability``: calibrated P(pneumonia) under the training prior. Each step rescales every
    posterior by the ratio of the new prior to the training prior and takes their mean as the next
    prior; it converges to the maximum-likelihood prior (Saerens, Latinne and Decaestecker 2002).
    """
    p = np.clip(np.asarray(probability, dtype=np.float64), 1e-9, 1 - 1e-9)
    prevalence = float(p.mean())
    posterior = p
    for _ in range(iterations):
        up, down = prevalence / train_prevalence, (1 - prevalence) / (1 - train_prevalence)
        posterior = up * p / (up * p + down * (1 - p))
        new = float(posterior.mean())
        if abs(new - prevalence) < tolerance:
            prevalence = new
            break
        prevalence = new
    return prevalence, posterior


def threshold_for_estimated_sensitivity(probability: np.ndarray, posterior: np.ndarray, target: float) -> float:
    """The highest threshold on ``probability`` at which the sensitivity, estimated with ``posterior``
    as soft labels (Σ q·[flagged] / Σ q), reaches ``target``; films at or above it are flagged."""
    order = np.argsort(-np.asarray(probability), kind="stable")
    covered = np.cumsum(np.asarray(posterior, dtype=np.float64)[order]) / max(float(np.sum(posterior)), 1e-12)
    last = min(int(np.searchsorted(covered, target - 1e-12)), len(order) - 1)
    return float(np.asarray(probability)[order][last])


def prevalence_weights(posterior: np.ndarray, prevalence: float, train_prevalence: float = TRAINING_PREVALENCE) -> np.ndarray:
    """Importance weights that give the site's films the training share of pneumonia in expectation."""
    prevalence = min(max(prevalence, 1e-3), 1 - 1e-3)
    return train_prevalence * posterior / prevalence + (1 - train_prevalence) * (1 - posterior) / (1 - prevalence)


def replicated(weights: np.ndarray, seed: int = 0) -> np.ndarray:
    """Indices that repeat each film in proportion to its weight, as many as there are films.

    Systematic resampling (deterministic positions), then shuffled so that every chunk of the
    batch-norm pass mixes films.
    """
    n = len(weights)
    edges = np.cumsum(weights) / np.sum(weights)
    indices = np.minimum(np.searchsorted(edges, (np.arange(n) + 0.5) / n), n - 1)
    return np.random.default_rng(seed).permutation(indices)


def resample_to_prevalence(labels: np.ndarray, patients: list[str], prevalence: float, rng: np.random.Generator) -> np.ndarray:
    """Indices of a site with the given pneumonia share, drawn by patient.

    Every film of the scarcer class (relative to the target) is kept; whole patients of the other
    class are drawn without replacement until the share is reached.
    """
    labels = (np.asarray(labels) != 0).astype(int)
    positives, negatives = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    if len(positives) / len(labels) > prevalence:
        keep, pool, wanted = negatives, positives, round(len(negatives) * prevalence / (1 - prevalence))
    else:
        keep, pool, wanted = positives, negatives, round(len(positives) * (1 - prevalence) / prevalence)
    by_patient: dict[str, list[int]] = {}
    for index in pool:
        by_patient.setdefault(patients[index], []).append(int(index))
    chosen: list[int] = []
    for patient in rng.permutation(sorted(by_patient)):
        if len(chosen) >= wanted:
            break
        chosen += by_patient[patient]
    return np.sort(np.concatenate([keep, np.array(chosen, dtype=int)]))


@dataclass(frozen=True)
class SafetyCheck:
    """The label-free check of an adapted model against the shipped one, on the site's films."""

    films: int
    prevalence_shipped: float
    prevalence_adapted: float
    estimated_sensitivity: float
    passed: bool
    reason: str

    @property
    def prevalences_agree(self) -> bool:
        """The site's true share is the same under both models: estimates further apart mean one misreads it."""
        return abs(self.prevalence_adapted - self.prevalence_shipped) <= MAX_PREVALENCE_DISAGREEMENT

    def to_dict(self) -> dict:
        return asdict(self)


def safety_check(shipped_logits: np.ndarray, adapted_logits: np.ndarray, contract: ModelContract) -> SafetyCheck:
    """Keep an adaptation only if both models read the same prevalence and its sensitivity holds.

    The site's true pneumonia share is the same under both models: when their EM estimates
    disagree, one of them misreads this site, and without labels there is no telling which. The
    adapted model's own estimate of its sensitivity (its EM posteriors as soft labels) must reach
    the shipped rule's target.
    """
    films = len(shipped_logits)
    shipped, _ = em_prevalence(pneumonia_probability(shipped_logits, contract))
    adapted, posterior = em_prevalence(pneumonia_probability(adapted_logits, contract))
    sensitivity = float((posterior * flagged(adapted_logits, contract)).sum() / max(posterior.sum(), 1e-9))
    estimates = SafetyCheck(films, shipped, adapted, sensitivity, False, "")
    if films < MIN_SITE_FILMS:
        reason = f"{films} films are too few to check an adaptation (at least {MIN_SITE_FILMS})"
    elif not estimates.prevalences_agree:
        reason = (f"the adapted model reads a pneumonia share of {adapted:.0%} at this site, the shipped model {shipped:.0%}: "
                  f"more than {MAX_PREVALENCE_DISAGREEMENT:.0%} apart")
    elif sensitivity < SENSITIVITY_TARGET:
        reason = f"the adapted model's estimated sensitivity is {sensitivity:.3f}, under {SENSITIVITY_TARGET}"
    else:
        reason = (f"both models read a pneumonia share of about {shipped:.0%} ({adapted:.0%} adapted) and the estimated "
                  f"sensitivity is {sensitivity:.3f}")
        return SafetyCheck(films, shipped, adapted, sensitivity, True, reason)
    return SafetyCheck(films, shipped, adapted, sensitivity, False, reason)

"""The site kit's label-shift rules: prevalence without labels, resampling by patient, the safety check,
and the fallback on a real low-prevalence site."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pneumo.site_kit.label_shift import (
    MIN_SITE_FILMS,
    TRAINING_PREVALENCE,
    em_prevalence,
    prevalence_weights,
    replicated,
    resample_to_prevalence,
    safety_check,
    threshold_for_estimated_sensitivity,
)
from pneumo_runtime.predictor import resolve_model


def calibrated_site(prevalence: float, n: int, seed: int, separation: float = 1.5) -> tuple[np.ndarray, np.ndarray]:
    """Labels at ``prevalence`` and P(pneumonia) of a model calibrated under the training prior."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(int)
    score = rng.normal(np.where(labels == 1, separation, -separation), 1.0)  # log-likelihood ratio: 2 * separation * score
    log_odds = 2 * separation * score + np.log(TRAINING_PREVALENCE / (1 - TRAINING_PREVALENCE))
    return labels, 1 / (1 + np.exp(-log_odds))


@pytest.mark.parametrize("prevalence", [0.1, 0.3, 0.5, 0.8])
def test_em_recovers_the_site_prevalence_that_the_raw_scores_misread(prevalence):
    labels, probability = calibrated_site(prevalence, 20_000, seed=1)
    estimate, posterior = em_prevalence(probability)
    assert abs(estimate - labels.mean()) < 0.01
    assert abs(probability.mean() - labels.mean()) > 0.01 or prevalence == pytest.approx(TRAINING_PREVALENCE, abs=0.1)
    assert posterior.shape == probability.shape and abs(posterior.mean() - estimate) < 1e-5


def test_weights_give_the_training_share_back():
    posterior = np.array([1.0] * 10 + [0.0] * 90)  # a 10% site, labels known exactly
    weights = prevalence_weights(posterior, 0.10)
    assert weights[posterior == 1].sum() / weights.sum() == pytest.approx(TRAINING_PREVALENCE)
    indices = replicated(weights)
    assert len(indices) == 100 and (posterior[indices] == 1).mean() == pytest.approx(TRAINING_PREVALENCE, abs=0.01)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([0.1, 0.3, 0.5, 0.8]), st.integers(0, 10_000))
def test_resampling_reaches_the_share_by_whole_patients(prevalence, seed):
    labels = np.array([0] * 120 + [1] * 200)
    patients = [f"n{i}" for i in range(120)] + [f"p{i // 2}" for i in range(200)]  # pneumonia patients have two films each
    chosen = resample_to_prevalence(labels, patients, prevalence, np.random.default_rng(seed + 1))
    share = labels[chosen].mean()
    assert abs(share - prevalence) < 0.02
    by_patient = defaultdict(set)
    for i, patient in enumerate(patients):
        by_patient[patient].add(i)
    picked = set(chosen.tolist())
    assert all(films <= picked or not films & picked for films in by_patient.values())  # whole patients only
    scarce = 1 if labels.mean() < prevalence else 0
    assert set(np.flatnonzero(labels == scarce)) <= picked


def two_class_contract():
    from pneumo_runtime.model import OnnxModel

    return OnnxModel(resolve_model(None)).contract


def logits_for(probability: np.ndarray, temperature: float) -> np.ndarray:
    log_odds = np.log(probability / (1 - probability))
    return np.stack([np.zeros_like(log_odds), log_odds * temperature], axis=1)


def test_the_safety_check_refuses_a_model_that_reads_another_prevalence():
    contract = two_class_contract()
    _, probability = calibrated_site(0.10, 400, seed=2, separation=2.0)  # a model whose sensitivity at its threshold is over 0.95
    shipped = logits_for(probability, contract.temperature)
    assert safety_check(shipped, shipped, contract).passed
    shifted = shipped + np.array([0.0, 8.0 * contract.temperature])  # every film's odds of pneumonia up: far more films called pneumonia
    check = safety_check(shipped, shifted, contract)
    assert not check.passed and "reads a pneumonia share" in check.reason and check.prevalence_adapted > check.prevalence_shipped + 0.05
    few = safety_check(shipped[:MIN_SITE_FILMS - 1], shipped[:MIN_SITE_FILMS - 1], contract)
    assert not few.passed and "too few" in few.reason


@pytest.mark.slow  # the shipped model's torch twin on 110 real films
def test_the_kit_falls_back_on_a_low_prevalence_site_where_plain_statistics_fail(kermany_224):
    """A screening site: 10% pneumonia, real official test films resampled by patient. Plain batch-norm statistics
    misread it, the safety check sees that without labels, and the kit's model keeps sensitivity and balanced accuracy."""
    import copy

    from pneumo.site_kit.adapt import adapt_batchnorm, kit_adaptation, logits_of
    from pneumo.site_kit.label_shift import flagged
    from pneumo.training.checkpoint import model_from_checkpoint
    from pneumo.training.data.samples import discover_kermany
    from pneumo_runtime.inputs import model_input
    from pneumo_runtime.torch_twin import torch_twin

    contract = two_class_contract()
    every = discover_kermany(kermany_224, "test", "binary")
    samples = [s for s in every if s.label == 0][:100] + [s for s in every if s.label == 1]  # 100 normals keep it quick
    labels = np.array([s.label for s in samples])
    chosen = resample_to_prevalence(labels, [s.patient for s in samples], 0.10, np.random.default_rng(0))
    films = np.stack([model_input(samples[i].path, contract.preprocess) for i in chosen])
    truth = labels[chosen]
    assert 0.08 <= truth.mean() <= 0.12 and len(films) >= MIN_SITE_FILMS

    shipped_model = model_from_checkpoint(torch_twin(resolve_model(None))).model
    shipped = logits_of(shipped_model, films)
    plain = copy.deepcopy(shipped_model)
    adapt_batchnorm(plain, films)
    plain_check = safety_check(shipped, logits_of(plain, films), contract)
    assert not plain_check.passed and "reads a pneumonia share" in plain_check.reason

    def sensitivity_and_balanced_accuracy(logits):
        calls = flagged(logits, contract)
        sensitivity, specificity = calls[truth == 1].mean(), (~calls[truth == 0]).mean()
        return sensitivity, (sensitivity + specificity) / 2

    kit = copy.deepcopy(shipped_model)
    kit_check = kit_adaptation(kit, films, contract)
    kit_sensitivity, kit_balanced = sensitivity_and_balanced_accuracy(logits_of(kit, films))
    _, shipped_balanced = sensitivity_and_balanced_accuracy(shipped)
    _, plain_balanced = sensitivity_and_balanced_accuracy(logits_of(plain, films))
    assert kit_sensitivity >= 0.95 and kit_balanced >= shipped_balanced - 0.005, kit_check.reason
    assert plain_balanced < shipped_balanced - 0.005  # the failure the check exists for is real on this site


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(0.001, 0.999), min_size=5, max_size=60, unique=True), st.integers(0, 2**31 - 1), st.floats(0.5, 0.99))
def test_the_transferred_threshold_is_the_highest_that_reaches_the_estimated_sensitivity(probability, seed, target):
    probability = np.array(probability)
    posterior = np.random.default_rng(seed).random(len(probability))
    estimate = lambda t: (posterior * (probability >= t)).sum() / posterior.sum()  # noqa: E731
    threshold = threshold_for_estimated_sensitivity(probability, posterior, target)
    assert estimate(threshold) >= target - 1e-9
    higher = probability[probability > threshold]
    assert higher.size == 0 or estimate(higher.min()) < target

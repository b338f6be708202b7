"""The decision rule, pinned where it matters: at the threshold, at the referral cut-off, and as
properties over every probability (Hypothesis).

No test film has a P(pneumonia) between 0.5 and the shipped threshold, so the threshold is
moved to a real film's own P instead: at it the film is PNEUMONIA, at the next float32 above it
NORMAL, for the label and the decision alike. The referral is switched off there so that REFER
cannot hide the threshold.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pneumo_runtime.contract import ModelContract, UncertaintyRule
from pneumo_runtime.decision import (
    REFER,
    decisions,
    entropy_uncertainty,
    predicted_indices,
    referred,
    softmax,
)
from pneumo_runtime.predictor import Predictor


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    return Predictor(threads=1)


def next_float32_above(value: float) -> float:
    return float(np.nextafter(np.float32(value), np.float32(np.inf)))


def with_rule(predictor: Predictor, threshold: float | None, cutoff: float | None) -> Predictor:
    """The same model and weights, under a contract with another threshold and referral cut-off."""
    predictor.contract = replace(predictor.contract, threshold=threshold, uncertainty=UncertaintyRule(cutoff=cutoff))
    return predictor


@pytest.mark.parametrize("name", ["NORMAL2-IM-1086-0001.jpeg", "person259_bacteria_1217.jpeg"])
def test_threshold_at_a_films_probability_decides_pneumonia_and_just_above_it_normal(shipped, fullres_images, name):
    film = next(p for p in fullres_images if p.name == name)
    original = shipped.contract
    try:
        p = shipped.predict(film).p_pneumonia
        assert np.float32(p) == p, "probabilities are float32, so the next float32 above is the next value a film can have"
        at = with_rule(shipped, p, None).predict(film)
        assert (at.label, at.decision, at.threshold) == ("PNEUMONIA", "PNEUMONIA", p)
        assert at.p_pneumonia == p  # the threshold, not the model, moved
        above = with_rule(shipped, next_float32_above(p), None).predict(film)
        assert (above.label, above.decision) == ("NORMAL", "NORMAL")
        assert f"{next_float32_above(p):.3f}" in above.reason  # the reason names the threshold applied
    finally:
        shipped.contract = original


def test_the_shipped_contract_threshold_is_the_one_applied(shipped, fullres_images):
    """P of the pneumonia film (0.98) lies above the shipped threshold (0.84): a runtime that used
    another value would be caught by the test above; this one checks the shipped value is read."""
    prediction = shipped.predict(next(p for p in fullres_images if "bacteria" in p.name))
    assert prediction.threshold == shipped.contract.threshold != 0.5
    assert "0.842" in prediction.reason


def test_referral_at_its_cut_off_is_not_referred_and_just_above_it_is(shipped, fullres_images):
    film = fullres_images[1]
    original = shipped.contract
    try:
        uncertainty = shipped.predict(film).uncertainty
        at = with_rule(shipped, original.threshold, uncertainty).predict(film)
        assert at.decision == at.label != REFER
        below = with_rule(shipped, original.threshold, float(np.nextafter(np.float32(uncertainty), np.float32(0)))).predict(film)
        assert below.decision == REFER and below.label == at.label  # the label survives a referral
        assert "above the referral cut-off" in below.reason
    finally:
        shipped.contract = original


CONTRACT = ModelContract.from_dict(
    {"architecture": "x", "classes": ["NORMAL", "PNEUMONIA"], "temperature": 1.0, "threshold": 0.5,
     "uncertainty": {"method": "entropy", "cutoff": None}, "cam_weights": [[0.0], [0.0]], "cam_bias": [0.0, 0.0],
     "format_version": 1,
     "preprocess": {"input_size": 224, "mean": [0.5] * 3, "std": [0.5] * 3, "clahe": {"enabled": True, "clip_limit": 2.0, "tile_grid": 8}}})


def test_predicted_labels_threshold_positive_class_and_argmax():
    probabilities = np.array([[0.3, 0.7], [0.7, 0.3], [0.5, 0.5]], np.float32)
    assert predicted_indices(probabilities, 0.7).tolist() == [1, 0, 0]
    assert predicted_indices(probabilities, 0.5).tolist() == [1, 0, 1]  # at the threshold: positive
    assert predicted_indices(probabilities, 0.7, positive_index=0).tolist() == [1, 0, 1]
    assert predicted_indices(probabilities, 0.3, positive_index=0).tolist() == [0, 0, 0]
    assert predicted_indices(probabilities, None).tolist() == [1, 0, 0]  # argmax: the first of a tie
    three = np.array([[0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    assert predicted_indices(three, 0.1).tolist() == [1, 2]  # more than two classes: the threshold does not apply


def test_decisions_use_the_contracts_positive_class():
    flipped = replace(CONTRACT, classes=("PNEUMONIA", "NORMAL"), threshold=0.6)
    assert flipped.positive_index == 0
    assert decisions(np.array([[0.6, 0.4], [0.59, 0.41]]), flipped)[0].tolist() == [0, 1]
    three = replace(CONTRACT, classes=("NORMAL", "BACTERIAL", "VIRAL"), threshold=0.99)
    assert decisions(np.array([[0.2, 0.3, 0.5]]), three)[0].tolist() == [2]


def test_referral_cut_off_is_strict_and_absent_means_never():
    assert referred(np.array([0.2, 0.3, 0.30000001]), 0.3).tolist() == [False, False, True]
    assert referred(np.array([1.0, 0.0]), None).tolist() == [False, False]
    assert referred(np.array([1.0]), None).dtype == bool


def test_entropy_uncertainty_is_normalised_bits():
    values = entropy_uncertainty(np.array([[0.5, 0.5], [1.0, 0.0], [0.0, 1.0]]))
    assert values == pytest.approx([1.0, 0.0, 0.0], abs=1e-9)
    assert entropy_uncertainty(np.array([[0.9, 0.1]]))[0] == pytest.approx(0.4689955935892812)
    assert entropy_uncertainty(np.full((1, 3), 1 / 3))[0] == pytest.approx(1.0)  # normalised by log2(K)
    assert entropy_uncertainty(np.array([[0.8, 0.1, 0.1]]))[0] == pytest.approx(-(0.8 * np.log2(0.8) + 0.2 * np.log2(0.1)) / np.log2(3))


def test_softmax_divides_by_the_temperature():
    logits = np.array([[0.0, 2.0], [1000.0, 0.0]])
    assert softmax(logits)[0] == pytest.approx([1 / (1 + np.e ** 2), 1 / (1 + np.e ** -2)])
    assert softmax(logits, 2.0)[0] == pytest.approx([1 / (1 + np.e), 1 / (1 + np.e ** -1)])
    assert softmax(logits)[1] == pytest.approx([1.0, 0.0])  # large logits do not overflow
    assert softmax(logits.astype(np.float32)).dtype == np.float32


def test_decisions_names_a_class_or_refer():
    contract = replace(CONTRACT, threshold=0.6, uncertainty=UncertaintyRule(cutoff=0.95))
    labels, uncertainty, names = decisions(np.array([[0.35, 0.65], [0.45, 0.55], [0.99, 0.01]]), contract)
    assert labels.tolist() == [1, 0, 0]
    assert names == ["PNEUMONIA", REFER, "NORMAL"]  # 0.55 / 0.45 is uncertain (0.99 bits > 0.95), 0.65 is not (0.93)
    assert uncertainty == pytest.approx(entropy_uncertainty(np.array([[0.35, 0.65], [0.45, 0.55], [0.99, 0.01]])))


probability = st.floats(min_value=0.0, max_value=1.0, allow_nan=False, width=32)


@given(st.lists(probability, min_size=2, max_size=30), st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_the_decision_is_monotone_in_p_pneumonia(ps, threshold):
    """A film with a higher P(pneumonia) is never called NORMAL while one with a lower P is called PNEUMONIA."""
    p = np.sort(np.array(ps, np.float64))
    labels = decisions(np.stack([1 - p, p], axis=1), replace(CONTRACT, threshold=threshold))[0]
    assert np.all(np.diff(labels) >= 0)
    assert labels.tolist() == (p >= threshold).astype(int).tolist()


@given(probability, st.floats(min_value=0.0, max_value=1.0, allow_nan=False))
def test_the_referral_is_symmetric_in_the_two_classes(p, cutoff):
    """Uncertainty depends on how close the call is, not on which class is ahead."""
    forward = np.array([[1 - p, p]])
    backward = forward[:, ::-1]
    assert entropy_uncertainty(forward)[0] == pytest.approx(entropy_uncertainty(backward)[0], abs=1e-12)
    contract = replace(CONTRACT, threshold=0.5, uncertainty=UncertaintyRule(cutoff=cutoff))
    assert (decisions(forward, contract)[2][0] == REFER) == (decisions(backward, contract)[2][0] == REFER)

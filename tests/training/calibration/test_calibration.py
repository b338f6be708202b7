"""Temperature scaling, threshold rules, referral cut-off, and calibration stored in a checkpoint."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import recall_score

from pneumo.training.calibration.calibrate import calibrate_checkpoint, calibration_from_logits
from pneumo.training.calibration.fitting import (
    CalibrationError,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    probabilities_from_logits,
    referral_cutoff,
)
from pneumo.training.fit.train_cli import main as train_main
from pneumo_runtime.decision import entropy_uncertainty


def overconfident_fixture(n: int = 2000, scale: float = 4.0, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels drawn from softmax(true logits); the model reports 4x the true logits (overconfident)."""
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(0, 1.5, size=(n, 2))
    p_true = probabilities_from_logits(true_logits)
    labels = (rng.random(n) < p_true[:, 1]).astype(int)
    return true_logits * scale, labels


def test_temperature_scaling_lowers_nll_and_ece_on_a_miscalibrated_fixture():
    logits, labels = overconfident_fixture()
    temperature = fit_temperature(logits, labels)
    assert temperature == pytest.approx(4.0, rel=0.15)  # it recovers the scale that was applied
    assert negative_log_likelihood(logits, labels, temperature) < negative_log_likelihood(logits, labels) - 0.1
    before = expected_calibration_error(probabilities_from_logits(logits), labels)
    after = expected_calibration_error(probabilities_from_logits(logits, temperature), labels)
    assert after < before / 2


def test_temperature_is_one_when_the_model_is_already_calibrated():
    logits, labels = overconfident_fixture(n=5000, scale=1.0, seed=1)
    assert fit_temperature(logits, labels) == pytest.approx(1.0, abs=0.1)


@pytest.mark.parametrize("target", [0.8, 0.9, 0.95])
def test_sensitivity_rule_meets_its_target_with_the_best_specificity(target):
    rng = np.random.default_rng(4)
    labels = rng.integers(0, 2, 400)
    scores = np.clip(0.35 * labels + 0.65 * rng.random(400), 0, 1)
    threshold = choose_threshold(labels, scores, "sensitivity", target)
    assert recall_score(labels, scores >= threshold) >= target
    # the next higher candidate score would break the promise: the rule took the highest threshold
    higher = np.min(scores[scores > threshold])
    assert recall_score(labels, scores >= higher) < target


@pytest.mark.parametrize("target", [0.7, 0.9])
def test_specificity_rule_meets_its_target(target):
    rng = np.random.default_rng(5)
    labels = rng.integers(0, 2, 400)
    scores = np.clip(0.35 * labels + 0.65 * rng.random(400), 0, 1)
    threshold = choose_threshold(labels, scores, "specificity", target)
    assert recall_score(labels, scores >= threshold, pos_label=0) >= target
    lower = np.max(scores[scores < threshold])
    assert recall_score(labels, scores >= lower, pos_label=0) < target


def test_youden_rule_maximises_j_over_every_candidate():
    rng = np.random.default_rng(6)
    labels = rng.integers(0, 2, 200)
    scores = np.clip(0.3 * labels + 0.7 * rng.random(200), 0, 1)

    def youden(t: float) -> float:
        return recall_score(labels, scores >= t) + recall_score(labels, scores >= t, pos_label=0) - 1

    threshold = choose_threshold(labels, scores, "youden", None)
    assert youden(threshold) == pytest.approx(max(youden(t) for t in np.unique(scores)))


def test_threshold_rules_refuse_what_they_cannot_do():
    with pytest.raises(CalibrationError):
        choose_threshold(np.ones(5, int), np.linspace(0, 1, 5), "sensitivity", 0.95)
    with pytest.raises(CalibrationError):
        choose_threshold(np.array([0, 1]), np.array([0.2, 0.8]), "sensitivity", None)


def test_entropy_is_binary_entropy_in_bits_and_normalised_for_three_classes():
    p = 0.2
    assert entropy_uncertainty(np.array([[1 - p, p]]))[0] == pytest.approx(-(p * math.log2(p) + (1 - p) * math.log2(1 - p)))
    assert entropy_uncertainty(np.full((1, 3), 1 / 3))[0] == pytest.approx(1.0)
    assert entropy_uncertainty(np.array([[1.0, 0.0, 0.0]]))[0] == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("rate", [0.0, 0.1, 0.25])
def test_referral_cutoff_refers_at_most_the_target_rate(rate):
    uncertainty = np.random.default_rng(7).random(203)
    cutoff = referral_cutoff(uncertainty, rate)
    referred = np.mean(uncertainty > cutoff)
    assert referred <= rate and referred >= rate - 1 / 203


def test_calibration_from_logits_has_the_agreed_schema():
    logits, labels = overconfident_fixture(n=300)
    calibration = calibration_from_logits(logits, labels, [str(i // 2) for i in range(300)], "sensitivity", 0.9, 0.1)
    assert set(calibration) >= {"temperature", "threshold", "threshold_rule", "uncertainty", "validation"}
    assert calibration["threshold_rule"] == {"rule": "sensitivity", "target": 0.9}
    assert calibration["uncertainty"]["method"] == "entropy"
    validation = calibration["validation"]
    assert validation["sensitivity"] >= 0.9  # the rule meets its target on the split it was chosen on
    assert validation["ece_after"] < validation["ece_before"]
    assert validation["n_images"] == 300 and validation["n_patients"] == 150
    assert validation["referral_rate"] <= 0.1


def test_calibrate_checkpoint_stores_plain_calibration_that_loads_weights_only(tiny_checkpoint):
    checkpoint = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)  # pneumo-train calibrated it
    calibration = checkpoint["calibration"]
    assert calibration["threshold_rule"]["rule"] == "sensitivity" and 0 < calibration["temperature"]
    assert 0.0 <= calibration["threshold"] <= 1.0 and 0.0 <= calibration["uncertainty"]["cutoff"] <= 1.0
    assert calibration["validation"]["n_images"] == checkpoint["data_summary"]["val"]["images"]
    assert calibration["validation"]["sensitivity"] >= 0.95


def test_recalibration_with_another_rule_replaces_the_stored_one(tiny_checkpoint, tmp_path):
    copy = tmp_path / "copy.pt"
    copy.write_bytes(tiny_checkpoint.read_bytes())
    assert train_main(["--calibrate-only", str(copy), "--threshold-rule", "youden"]) == 0
    stored = torch.load(copy, map_location="cpu", weights_only=True)["calibration"]
    assert stored["threshold_rule"] == {"rule": "youden", "target": None}
    returned = calibrate_checkpoint(copy, rule="specificity", target=0.5)
    assert torch.load(copy, map_location="cpu", weights_only=True)["calibration"]["threshold_rule"] == {"rule": "specificity", "target": 0.5}
    assert returned["validation"]["specificity"] >= 0.5


def test_calibration_refuses_a_different_validation_split(tiny_checkpoint, kermany_mini, tmp_path, capsys):
    other = tmp_path / "other"
    for image in sorted((kermany_mini / "train").rglob("*.jpeg"))[:12]:  # fewer images than training saw
        target = other / "train" / image.parent.name / image.name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(image.read_bytes())
    copy = tmp_path / "copy.pt"
    copy.write_bytes(tiny_checkpoint.read_bytes())
    assert train_main(["--calibrate-only", str(copy), "--data", str(other)]) == 2
    error = capsys.readouterr().err
    assert "validation split" in error and error.count("\n") == 1

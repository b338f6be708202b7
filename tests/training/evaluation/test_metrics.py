"""Metric functions: hand-checked small cases, and agreement with scikit-learn on random data."""

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    f1_score,
    log_loss,
    matthews_corrcoef,
    precision_score,
    recall_score,
    roc_auc_score,
)

from pneumo.training.calibration.fitting import expected_calibration_error, reliability_bins
from pneumo.training.evaluation.intervals import patient_bootstrap_indices, patient_groups, proportion, wilson_interval
from pneumo.training.evaluation.metrics import binary_metrics_at_threshold, multiclass_metrics, roc_with_band, threshold_free_metrics


def test_wilson_interval_matches_hand_computed_values():
    # 8/10: centre (0.8 + z^2/20) / (1 + z^2/10) = 0.7167, half-width 0.2266 (z = 1.95996)
    assert wilson_interval(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    # 0/10 stays inside [0, 1], where the normal approximation would give (0, 0)
    assert wilson_interval(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    assert wilson_interval(10, 10) == pytest.approx((0.7225, 1.0), abs=1e-4)
    low, high = wilson_interval(0, 0)
    assert np.isnan(low) and np.isnan(high)


def test_binary_metrics_on_a_hand_checked_confusion_matrix():
    # threshold 0.5 -> TN 2, FP 1, FN 1, TP 3
    labels = np.array([0, 0, 0, 1, 1, 1, 1])
    scores = np.array([0.1, 0.4, 0.6, 0.3, 0.5, 0.8, 0.9])
    metrics = binary_metrics_at_threshold(labels, scores, 0.5, [])
    assert metrics["confusion_matrix"]["rows_true_columns_predicted"] == [[2, 1], [1, 3]]
    expected = {"accuracy": 5 / 7, "sensitivity": 3 / 4, "specificity": 2 / 3, "ppv": 3 / 4, "npv": 2 / 3}
    for name, value in expected.items():
        assert metrics[name]["value"] == pytest.approx(value), name
        assert metrics[name]["ci_method"] == "wilson"
    assert metrics["sensitivity"]["numerator"] == 3 and metrics["sensitivity"]["denominator"] == 4
    assert metrics["f1"]["value"] == pytest.approx(2 * 3 / (2 * 3 + 1 + 1))
    mcc = (3 * 2 - 1 * 1) / np.sqrt((3 + 1) * (3 + 1) * (2 + 1) * (2 + 1))
    assert metrics["mcc"]["value"] == pytest.approx(mcc)


def test_binary_metrics_agree_with_scikit_learn_on_random_data():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 300)
    scores = np.clip(labels * 0.3 + rng.random(300) * 0.7, 0, 1)
    predictions = (scores >= 0.42).astype(int)
    metrics = binary_metrics_at_threshold(labels, scores, 0.42, [])
    assert metrics["sensitivity"]["value"] == pytest.approx(recall_score(labels, predictions))
    assert metrics["specificity"]["value"] == pytest.approx(recall_score(labels, predictions, pos_label=0))
    assert metrics["ppv"]["value"] == pytest.approx(precision_score(labels, predictions))
    assert metrics["npv"]["value"] == pytest.approx(precision_score(labels, predictions, pos_label=0))
    assert metrics["f1"]["value"] == pytest.approx(f1_score(labels, predictions))
    assert metrics["balanced_accuracy"]["value"] == pytest.approx(balanced_accuracy_score(labels, predictions))
    assert metrics["mcc"]["value"] == pytest.approx(matthews_corrcoef(labels, predictions))
    probabilities = np.stack([1 - scores, scores], axis=1)
    free = threshold_free_metrics(labels, probabilities, [])
    assert free["auc_roc"]["value"] == pytest.approx(roc_auc_score(labels, scores))
    assert free["auc_pr"]["value"] == pytest.approx(average_precision_score(labels, scores))
    assert free["brier"]["value"] == pytest.approx(brier_score_loss(labels, scores))
    assert free["log_loss"]["value"] == pytest.approx(log_loss(labels, probabilities))


def test_ece_on_a_hand_checked_case():
    # Two occupied bins: confidence 0.9 (4 cases, 3 right) and 0.6 (2 cases, 2 right).
    probabilities = np.array([[0.1, 0.9]] * 4 + [[0.6, 0.4]] * 2)
    labels = np.array([1, 1, 1, 0, 0, 0])
    expected = 4 / 6 * abs(0.75 - 0.9) + 2 / 6 * abs(1.0 - 0.6)
    assert expected_calibration_error(probabilities, labels) == pytest.approx(expected)
    bins = reliability_bins(probabilities, labels)
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 6
    # a confidence of exactly 1.0 lands in the last bin, not outside
    assert reliability_bins(np.array([[0.0, 1.0]]), np.array([1]))[-1]["count"] == 1


def test_bootstrap_keeps_each_patients_images_together_and_covers_the_value():
    patients = ["a", "a", "a", "b", "c", "c", "d", "e", "e", "f"] * 3
    patients = [f"{p}{i // 10}" for i, p in enumerate(patients)]
    groups = {tuple(g) for g in map(tuple, patient_groups(patients))}
    for indices in patient_bootstrap_indices(patients, 20, seed=0):
        drawn = set(indices.tolist())
        assert all(set(g) <= drawn or not (set(g) & drawn) for g in groups)
    rng = np.random.default_rng(0)
    labels = np.array([i % 2 for i in range(len(patients))])
    scores = np.clip(labels * 0.4 + rng.random(len(labels)) * 0.6, 0, 1)
    auc = threshold_free_metrics(labels, np.stack([1 - scores, scores], 1), patient_bootstrap_indices(patients, 200, 0))["auc_roc"]
    assert auc["ci_method"] == "patient_bootstrap"
    assert auc["ci_low"] <= auc["value"] <= auc["ci_high"] and auc["ci_high"] - auc["ci_low"] > 0.01


def test_roc_band_brackets_the_curve_grid():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200)
    scores = labels * 0.5 + rng.random(200)
    roc = roc_with_band(labels, scores, patient_bootstrap_indices([str(i) for i in range(200)], 100, 0))
    low, high = np.array(roc["band_tpr_low"]), np.array(roc["band_tpr_high"])
    assert np.all(low <= high) and np.interp(0.2, roc["fpr"], roc["tpr"]) == pytest.approx(np.interp(0.2, roc["band_fpr"], (low + high) / 2), abs=0.1)


def test_multiclass_per_class_metrics_agree_with_scikit_learn():
    rng = np.random.default_rng(3)
    labels = rng.integers(0, 3, 240)
    logits = rng.normal(size=(240, 3)) + 1.5 * np.eye(3)[labels]
    probabilities = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    predictions = probabilities.argmax(1)
    metrics = multiclass_metrics(labels, probabilities, ["NORMAL", "BACTERIAL", "VIRAL"], [])
    assert metrics["accuracy"]["value"] == pytest.approx(np.mean(predictions == labels))
    assert metrics["mcc"]["value"] == pytest.approx(matthews_corrcoef(labels, predictions))
    recalls = recall_score(labels, predictions, average=None)
    for index, name in enumerate(["NORMAL", "BACTERIAL", "VIRAL"]):
        per = metrics["per_class"][name]
        assert per["sensitivity"]["value"] == pytest.approx(recalls[index])
        assert per["auc_roc"]["value"] == pytest.approx(roc_auc_score(labels == index, probabilities[:, index]))
    free = threshold_free_metrics(labels, probabilities, [])
    assert free["auc_roc"]["value"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr", average="macro"))
    assert np.array(metrics["confusion_matrix"]["rows_true_columns_predicted"]).sum() == 240


def test_proportion_records_its_counts():
    entry = proportion(3, 4)
    assert entry["value"] == 0.75 and entry["numerator"] == 3 and entry["denominator"] == 4
    assert 0 < entry["ci_low"] < 0.75 < entry["ci_high"] < 1

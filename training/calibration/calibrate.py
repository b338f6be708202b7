"""Calibrate a checkpoint on its own patient-grouped validation split and store the result in it.

The split is rebuilt exactly as training built it (``data.split.select_samples`` on the stored
config), and checked against the sizes training recorded, so a wrong ``--data`` cannot silently
calibrate on other images. Nothing here ever reads the test split.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumo_runtime.decision import entropy_uncertainty, predicted_indices, referred

from ..checkpoint import code_version, save_checkpoint
from ..config import TrainConfig
from ..data.dataset import XrayDataset
from ..data.split import select_samples
from ..evaluation.metrics import accuracy_of, binary_metrics_at_threshold, multiclass_metrics, threshold_free_metrics
from ..evaluation.sources import CheckpointSource, PredictionSource, predict_logits
from .fitting import (
    DEFAULT_REFERRAL_RATE,
    CalibrationError,
    choose_threshold,
    expected_calibration_error,
    fit_temperature,
    negative_log_likelihood,
    probabilities_from_logits,
    referral_cutoff,
    resolve_target,
)


def validation_dataset(config: TrainConfig, contract: Any, data: str | Path | None = None) -> XrayDataset:
    """The run's validation split, optionally with its data found at ``data`` instead."""
    if data:
        config = dataclasses.replace(config, data=str(data))
    _, validation = select_samples(config)
    return XrayDataset(validation, contract)


def check_same_split(dataset: XrayDataset, checkpoint: dict[str, Any]) -> None:
    recorded = checkpoint.get("data_summary", {}).get("val", {})
    rebuilt = {"images": len(dataset), "patients": len({s.patient for s in dataset.samples})}
    if recorded and any(recorded.get(key) != value for key, value in rebuilt.items()):
        raise CalibrationError(
            f"the rebuilt validation split has {rebuilt['images']} images of {rebuilt['patients']} patients, training had "
            f"{recorded.get('images')} of {recorded.get('patients')}: is --data the training data?"
        )


def _plain_values(metrics: dict[str, Any]) -> dict[str, float]:
    return {name: float(entry["value"]) for name, entry in metrics.items() if isinstance(entry, dict) and "value" in entry}


def calibration_from_logits(
    logits: np.ndarray, labels: np.ndarray, patients: list[str], rule: str = "sensitivity",
    target: float | None = None, referral_rate: float = DEFAULT_REFERRAL_RATE,
) -> dict[str, Any]:
    """Temperature, operating point and referral cut-off from validation logits: the stored schema.

    ``target`` None means the rule's default (sensitivity 0.95, specificity 0.90).
    """
    target = resolve_target(rule, target)
    temperature = fit_temperature(logits, labels)
    raw, probabilities = probabilities_from_logits(logits), probabilities_from_logits(logits, temperature)
    binary = logits.shape[1] == 2
    threshold = choose_threshold(labels, probabilities[:, 1], rule, target) if binary else None
    uncertainty = entropy_uncertainty(probabilities)
    cutoff = referral_cutoff(uncertainty, referral_rate)
    decisions = predicted_indices(probabilities, threshold)
    accepted = ~referred(uncertainty, cutoff)
    at_threshold = (binary_metrics_at_threshold(labels, probabilities[:, 1], threshold, []) if binary
                    else multiclass_metrics(labels, probabilities, [str(k) for k in range(logits.shape[1])], []))
    validation = {
        **_plain_values(at_threshold), **_plain_values(threshold_free_metrics(labels, probabilities, [])),
        "ece_before": expected_calibration_error(raw, labels), "ece_after": expected_calibration_error(probabilities, labels),
        "nll_before": negative_log_likelihood(logits, labels), "nll_after": negative_log_likelihood(logits, labels, temperature),
        "referral_rate": float(1.0 - accepted.mean()), "accuracy_accepted": accuracy_of(labels[accepted], decisions[accepted]),
        "n_images": int(len(labels)), "n_patients": int(len(set(patients))),
    }
    validation.pop("ece", None)  # ece_after is the same number under an explicit name
    return {
        "temperature": temperature,
        "threshold": threshold,
        "threshold_rule": {"rule": rule, "target": target} if binary else {"rule": "argmax", "target": None},
        "uncertainty": {"method": "entropy", "normalised_by": "log2(number of classes)", "cutoff": cutoff,
                        "target_referral_rate": float(referral_rate)},
        "validation": validation,
        "fitted_on": "patient-grouped validation split of train",
        "code_version": code_version(),
    }


def calibrate_source(source: PredictionSource, dataset: XrayDataset, rule: str, target: float | None,
                     referral_rate: float, batch_size: int = 32) -> dict[str, Any]:
    logits = predict_logits(source, dataset.images, batch_size)
    return calibration_from_logits(logits, dataset.labels, [s.patient for s in dataset.samples], rule, target, referral_rate)


def calibrate_checkpoint(
    checkpoint_path: str | Path, rule: str = "sensitivity", target: float | None = None,
    referral_rate: float = DEFAULT_REFERRAL_RATE, data: str | Path | None = None, batch_size: int = 32,
) -> dict[str, Any]:
    """Fit calibration on the run's validation split and store it in the checkpoint (atomically)."""
    source = CheckpointSource(checkpoint_path)
    if source.config.threads:
        torch.set_num_threads(source.config.threads)
    dataset = validation_dataset(source.config, source.preprocess, data)
    check_same_split(dataset, source.checkpoint)
    calibration = calibrate_source(source, dataset, rule, target, referral_rate, batch_size)
    save_checkpoint(Path(checkpoint_path), {**source.checkpoint, "calibration": calibration})
    return calibration

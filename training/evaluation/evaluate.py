"""One evaluation: a model source on a split -> ``metrics.json``, ``predictions.csv`` and the report.

Everything that is *chosen* (temperature, threshold, referral cut-offs) comes from the model's
patient-grouped validation split, stored in the checkpoint or fitted here on that split; the
evaluated split only ever supplies numbers to report.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumo_runtime.decision import decision_names, entropy_uncertainty, predicted_indices, referred
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.json_file import json_ready, write_json

from ..calibration.calibrate import DEFAULT_REFERRAL_RATE, calibrate_source, check_same_split, validation_dataset
from ..calibration.fitting import probabilities_from_logits, referral_cutoff, reliability_bins
from ..data.dataset import XrayDataset
from ..data.samples import TASK_CLASSES, load_samples
from ..log import log
from .explain_stats import explain_statistics
from .intervals import patient_bootstrap_indices
from .metrics import binary_metrics_at_threshold, multiclass_metrics, pr_curve, roc_with_band, threshold_free_metrics
from .report import write_report
from .site_view import site_view
from .sources import CheckpointSource, PredictionSource, load_source, predict_logits
from .uncertainty import mc_dropout_probabilities, predictive, referral_summary, tta_probabilities

SCHEMA = "pneumo-evaluation/1"
HISTOGRAM_EDGES = np.linspace(0.0, 1.0, 21)


class EvaluationError(PneumoError, ValueError):
    """The evaluation cannot run as asked (no calibration and no validation data, ...)."""


@dataclass
class EvaluationOptions:
    split: str = "test"
    n_bootstrap: int = 1000
    seed: int = 0
    batch_size: int = 32
    tta: bool = True
    mc_passes: int = 20
    train_data: str | None = None  # where the model's training data (its validation split) lives now
    threshold_rule: str = "sensitivity"  # used only where a calibration must be fitted here
    threshold_target: float | None = None
    referral_rate: float = DEFAULT_REFERRAL_RATE
    explain_stats: bool = False
    explain_max_images: int = 0
    max_images: int = 0  # 0 = the whole split; otherwise a seeded random subset (smoke runs)
    prevalence: float | None = None  # the site's pneumonia prevalence for PPV/NPV; None: the evaluated films'


@dataclass
class Predictions:
    """What one pass over a split produced."""

    labels: np.ndarray
    patients: list[str]
    logits: np.ndarray
    probabilities: np.ndarray  # calibrated


def task_for(classes: list[str]) -> str:
    for task, names in TASK_CLASSES.items():
        if list(names) == list(classes):
            return task
    raise EvaluationError(f"the model's classes {classes} match no known task")


def split_dataset(data: str | Path, split: str, task: str, contract: Any, max_images: int, seed: int) -> XrayDataset:
    samples = load_samples(data, split, task)
    if max_images and max_images < len(samples):
        samples = sorted(random.Random(seed).sample(samples, max_images), key=lambda s: str(s.path))
    dataset = XrayDataset(samples, contract)
    if len(dataset) == 0:
        raise EvaluationError(f"no readable images in the {split} split of {Path(data).name}")
    return dataset


def load_validation(source: PredictionSource, options: EvaluationOptions) -> tuple[XrayDataset | None, str]:
    """The model's validation split, or None and the reason it is not available."""
    if source.config is None:
        return None, "the model source carries no training config"
    data = options.train_data or source.config.data
    if not Path(data).exists():
        return None, f"the training data {Path(data).name!r} was not found (give --train-data)"
    members = getattr(source, "members", [source])
    splits = [validation_dataset(member.config, member.preprocess, data) for member in members]
    for member, split in zip(members, splits, strict=True):
        check_same_split(split, member.checkpoint)
    if any([s.path for s in split.samples] != [s.path for s in splits[0].samples] for split in splits[1:]):
        raise EvaluationError("ensemble members were validated on different splits (CV folds?): no clean validation split for the ensemble")
    return splits[0], "patient-grouped validation split of train"


def resolve_calibration(source: PredictionSource, validation: XrayDataset | None, options: EvaluationOptions) -> dict[str, Any]:
    if source.calibration is not None:
        origin = source.calibration.get("source", "stored in the checkpoint")
        return {**source.calibration, "origin": origin}
    if validation is None:
        raise EvaluationError("the model has no stored calibration and its validation split is unavailable; "
                              "calibrate it first (pneumo-train --calibrate-only CHECKPOINT) or give --train-data")
    fitted = calibrate_source(source, validation, options.threshold_rule, options.threshold_target, options.referral_rate, options.batch_size)
    return {**fitted, "origin": "fitted on the validation split during this evaluation (not stored)"}


def predict(source: PredictionSource, dataset: XrayDataset, temperature: float, batch_size: int) -> Predictions:
    logits = predict_logits(source, dataset.images, batch_size)
    return Predictions(dataset.labels, [s.patient for s in dataset.samples], logits, probabilities_from_logits(logits, temperature))


# ----------------------------------------------------------------- sections of metrics.json
def discrimination_and_calibration(predictions: Predictions, calibration: dict, classes: list[str], resamples: list) -> dict:
    labels, probabilities = predictions.labels, predictions.probabilities
    raw = probabilities_from_logits(predictions.logits)
    section: dict[str, Any] = {
        "threshold_free": threshold_free_metrics(labels, probabilities, resamples),
        "threshold_free_uncalibrated": threshold_free_metrics(labels, raw, resamples),
    }
    if len(classes) == 2:
        section["at_threshold"] = {
            "0.5": binary_metrics_at_threshold(labels, probabilities[:, 1], 0.5, resamples),
            "operating_point": binary_metrics_at_threshold(labels, probabilities[:, 1], calibration["threshold"], resamples),
        }
    else:
        section["multiclass"] = multiclass_metrics(labels, probabilities, classes, resamples)
    return section


def curves(predictions: Predictions, classes: list[str], resamples: list) -> dict:
    labels, probabilities = predictions.labels, predictions.probabilities
    raw = probabilities_from_logits(predictions.logits)
    positive_classes = [1] if len(classes) == 2 else range(len(classes))
    return {
        "roc": {classes[c]: roc_with_band((labels == c).astype(int), probabilities[:, c], resamples) for c in positive_classes},
        "pr": {classes[c]: pr_curve((labels == c).astype(int), probabilities[:, c]) for c in positive_classes},
        "reliability": {"uncalibrated": reliability_bins(raw, labels), "calibrated": reliability_bins(probabilities, labels)},
        "histogram": {"bin_edges": HISTOGRAM_EDGES.tolist(), "by_probability_of": {
            classes[c]: {classes[t]: np.histogram(probabilities[labels == t, c], HISTOGRAM_EDGES)[0].tolist() for t in range(len(classes))}
            for c in positive_classes}},
    }


Sampler = Callable[[np.ndarray], "np.ndarray | None"]  # prepared images -> (samples, N, K) probabilities


def samplers(source: PredictionSource, temperature: float, options: EvaluationOptions) -> dict[str, Sampler]:
    """The uncertainty methods asked for, each a function of the prepared images."""
    methods: dict[str, Sampler] = {}
    if options.tta:
        methods["tta"] = lambda prepared: tta_probabilities(source, prepared, temperature, options.batch_size)
    if options.mc_passes > 0:
        methods["mc_dropout"] = lambda prepared: mc_dropout_probabilities(source, prepared, temperature, options.mc_passes, options.batch_size)
    return methods


def uncertainty_section(source: PredictionSource, dataset: XrayDataset, validation: XrayDataset | None, validation_note: str,
                        predictions: Predictions, calibration: dict, options: EvaluationOptions) -> tuple[dict, dict]:
    """Entropy (the runtime's rule), TTA and MC dropout: referral at a validation cut-off, and coverage curves.

    Decisions are made at the operating threshold for every method. Returns the section and the
    per-image columns for predictions.csv.
    """
    threshold, labels = calibration["threshold"], predictions.labels
    entropy = entropy_uncertainty(predictions.probabilities)
    section = {"entropy": {**referral_summary(labels, predicted_indices(predictions.probabilities, threshold), entropy,
                                              calibration["uncertainty"].get("cutoff")),
                           "cutoff_source": calibration.get("origin", ""), "as_in_runtime": True}}
    columns: dict[str, np.ndarray] = {"uncertainty_entropy": entropy}
    for name, sampler in samplers(source, calibration["temperature"], options).items():
        log(f"uncertainty: {name}")
        torch.manual_seed(options.seed)  # MC dropout masks: the same report twice
        samples = sampler(dataset.images)
        if samples is None:
            section[name] = {"available": False, "reason": "the model source has no dropout at inference (ONNX)"}
            continue
        probability, uncertainty = predictive(samples)
        cutoff, note = _validation_cutoff(sampler, validation, validation_note, calibration, options)
        section[name] = {**referral_summary(labels, predicted_indices(probability, threshold), uncertainty, cutoff), "cutoff_source": note,
                         "n_samples": int(samples.shape[0])}
        columns.update({f"p_{name}_{c}": probability[:, k] for k, c in enumerate(source.classes)})
        columns[f"uncertainty_{name}"] = uncertainty
    return section, columns


def _validation_cutoff(sampler: Sampler, validation: XrayDataset | None, note: str, calibration: dict, options: EvaluationOptions) -> tuple[float | None, str]:
    if validation is None:
        return None, f"no cut-off: {note}"
    torch.manual_seed(options.seed + 1)
    samples = sampler(validation.images)
    rate = calibration["uncertainty"].get("target_referral_rate", options.referral_rate)
    return referral_cutoff(predictive(samples)[1], rate), f"chosen on the validation split for a referral rate of {rate:g}"


# ----------------------------------------------------------------- files
def write_predictions(path: Path, dataset: XrayDataset, data: str | Path, classes: list[str], predictions: Predictions,
                      calibration: dict, columns: dict[str, np.ndarray]) -> None:
    """One row per image: its file (relative to the data), label, probabilities, uncertainties, decision."""
    root = Path(data) if Path(data).is_dir() else Path(data).parent
    threshold, cutoff = calibration["threshold"], calibration["uncertainty"].get("cutoff")
    names = decision_names(predicted_indices(predictions.probabilities, threshold), referred(columns["uncertainty_entropy"], cutoff), classes)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["image", "label", *[f"logit_{c}" for c in classes], *[f"p_{c}" for c in classes], *columns, "decision"])
        for i, sample in enumerate(dataset.samples):
            # full precision (repr): decisions near the threshold must be reproducible from this file
            numbers = [*predictions.logits[i], *predictions.probabilities[i], *(columns[k][i] for k in columns)]
            writer.writerow([_relative(sample.path, root), classes[sample.label], *(repr(float(v)) for v in numbers),
                             names[i]])


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return path.name


def evaluate(model_paths: list[str | Path], data: str | Path, out_dir: Path, options: EvaluationOptions) -> dict[str, Any]:
    """Run the whole evaluation and write metrics.json, predictions.csv, the figures and report.md."""
    source = load_source(model_paths)
    classes = list(source.classes)
    dataset = split_dataset(data, options.split, task_for(classes), source.preprocess, options.max_images, options.seed)
    validation, validation_note = load_validation(source, options)
    calibration = resolve_calibration(source, validation, options)
    log(f"{options.split}: {len(dataset)} images; validation: {len(validation) if validation else 0} images; predicting")
    predictions = predict(source, dataset, calibration["temperature"], options.batch_size)
    resamples = patient_bootstrap_indices(predictions.patients, options.n_bootstrap, options.seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    uncertainty, columns = uncertainty_section(source, dataset, validation, validation_note, predictions, calibration, options)
    metrics: dict[str, Any] = {
        "schema": SCHEMA,
        "disclaimer": "Research software, not a diagnostic device.",
        "model": source.describe(),
        "classes": classes,
        "data": _data_section(data, options, dataset, classes),
        "calibration": calibration,
        **discrimination_and_calibration(predictions, calibration, classes, resamples),
        "uncertainty": uncertainty,
        "curves": curves(predictions, classes, resamples),
        "options": {k: v for k, v in asdict(options).items() if k != "train_data"},
    }
    if "at_threshold" in metrics:
        prevalence = options.prevalence if options.prevalence is not None else float(np.mean(predictions.labels == 1))
        metrics["site"] = site_view(metrics["at_threshold"]["operating_point"], calibration.get("threshold_rule"), prevalence)
    if options.explain_stats:
        log("explanation statistics")
        metrics["explain"] = explain_statistics(source, dataset, out_dir, options.explain_max_images, options.seed) \
            if isinstance(source, CheckpointSource) else {"available": False, "reason": "needs a single torch checkpoint"}
    write_predictions(out_dir / "predictions.csv", dataset, data, classes, predictions, calibration, columns)
    metrics = json_ready(metrics)  # the report is drawn from exactly what metrics.json holds
    write_json(out_dir / "metrics.json", metrics)
    write_report(metrics, out_dir)
    return metrics


def _data_section(data: str | Path, options: EvaluationOptions, dataset: XrayDataset, classes: list[str]) -> dict[str, Any]:
    counts = np.bincount(dataset.labels, minlength=len(classes))
    return {"source": Path(data).name, "split": options.split, "n_images": len(dataset),
            "n_patients": len({s.patient for s in dataset.samples}), "class_counts": dict(zip(classes, counts.tolist(), strict=True)),
            "skipped": len(dataset.report.skipped), "subset": bool(options.max_images)}

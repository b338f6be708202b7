"""``pneumo-train --cv K``: patient-grouped K-fold cross-validation of one config.

Each fold trains on K-1 parts of *train* and is validated, calibrated and scored on the held-out
part; the folds are written as CSVs (``path,label,patient``) that the ordinary ``Trainer`` reads
as ``data`` and ``val_data``, so a fold is an ordinary run that can be resumed or evaluated alone.
The held-out part also picks each fold's best epoch and operating point, so the threshold-
dependent numbers are slightly optimistic: the report says so.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from pneumo_runtime.json_file import write_json

from ..config import ConfigError, TrainConfig
from ..data.samples import TASK_CLASSES, Sample, load_samples
from ..data.split import patient_folds


def write_fold_csv(path: Path, samples: list[Sample], task: str) -> None:
    """Paths relative to the CSV, so that the run folder still works if the tree moves together."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", "patient"])
        for sample in samples:
            writer.writerow([os.path.relpath(sample.path.resolve(), path.parent.resolve()), TASK_CLASSES[task][sample.label], sample.patient])


def fold_configs(config: TrainConfig, out_dir: Path, k: int) -> list[tuple[TrainConfig, Path]]:
    if k < 2:
        raise ConfigError(f"--cv needs at least 2 folds, got {k}")
    if config.val_data:
        raise ConfigError("--cv builds its own validation folds: leave val_data empty")
    samples = load_samples(config.data, "train", config.task)
    runs = []
    for index, (train, held_out) in enumerate(patient_folds(samples, k, config.validation_seed), start=1):
        fold_dir = out_dir / f"fold{index}"
        write_fold_csv(fold_dir / "train.csv", train, config.task)
        write_fold_csv(fold_dir / "val.csv", held_out, config.task)
        runs.append((dataclasses.replace(config, data=str(fold_dir / "train.csv"), val_data=str(fold_dir / "val.csv"), out=str(fold_dir)), fold_dir))
    return runs


def summarise(fold_metrics: list[dict[str, float]]) -> dict[str, dict[str, float]]:
    """Mean and sample standard deviation (ddof=1) of each metric over the folds."""
    names = [name for name in fold_metrics[0] if all(isinstance(m.get(name), (int, float)) for m in fold_metrics)]
    summary = {}
    for name in names:
        values = np.array([m[name] for m in fold_metrics], dtype=float)
        summary[name] = {"mean": float(np.nanmean(values)), "std": float(np.nanstd(values, ddof=1)) if len(values) > 1 else 0.0,
                         "folds": values.tolist()}
    return summary


def render_summary(summary: dict[str, dict[str, float]], k: int) -> str:
    lines = [f"# {k}-fold patient-grouped cross-validation (held-out folds of train)", "",
             "Each fold's held-out part also chose its best epoch, temperature and threshold, so metrics at the operating "
             "point are slightly optimistic; AUC, Brier and log loss do not depend on the threshold.", "",
             "| metric | mean ± std | folds |", "| --- | --- | --- |"]
    lines += [f"| {name} | {entry['mean']:.4f} ± {entry['std']:.4f} | {', '.join(f'{v:.4f}' for v in entry['folds'])} |"
              for name, entry in summary.items()]
    return "\n".join(lines) + "\n"


def run_cross_validation(config: TrainConfig, out_dir: Path, k: int, train_and_calibrate: Callable[[TrainConfig, Path], dict[str, Any]]) -> dict:
    """Train every fold with ``train_and_calibrate`` (which returns the stored calibration) and summarise."""
    fold_metrics = []
    for fold_config, fold_dir in fold_configs(config, out_dir, k):
        calibration = train_and_calibrate(fold_config, fold_dir)
        fold_metrics.append({"temperature": calibration["temperature"], **calibration["validation"]})
    summary = {"k": k, "metrics": summarise(fold_metrics), "per_fold": fold_metrics}
    write_json(out_dir / "cv_summary.json", summary)
    (out_dir / "cv_summary.md").write_text(render_summary(summary["metrics"], k))
    return summary

"""``pneumo-adapt curve``: how far a threshold alone could take each label-free model at a site (an oracle).

Every label-free method is fitted on one half of the official test split and scored on the other,
as in ``pneumo-adapt study`` (the same halves and the same code). Then, on the pooled scores, the
threshold is read off the scored films' labels: the best specificity at sensitivity >= 0.95, and
the band of sensitivities in which the issue's second must (specificity >= 0.90 at sensitivity
>= 0.95) holds. That is an oracle, never something a site can use; it says whether a label-free
threshold rule could meet the must at all, and how precisely it would have to land.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_curve

from pneumo.training.evaluation.intervals import patient_bootstrap_indices

from . import prevalence_study
from .label_shift import SENSITIVITY_TARGET

METHODS = ("shipped", "batch-norm statistics", "the kit", "self-training", "the kit + self-training")
RESAMPLES = 200


def curve_points(labels: np.ndarray, probability: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensitivity and specificity at every threshold between two distinct scores."""
    fpr, tpr, _ = roc_curve(labels, probability, drop_intermediate=False)
    return tpr, 1 - fpr


def best_specificity(labels: np.ndarray, probability: np.ndarray, sensitivity: float = SENSITIVITY_TARGET) -> float:
    """The highest specificity of any threshold whose sensitivity is at least ``sensitivity``."""
    tpr, tnr = curve_points(labels, probability)
    return float(tnr[tpr >= sensitivity].max())


def must_band(labels: np.ndarray, probability: np.ndarray, sensitivity: float = SENSITIVITY_TARGET,
              specificity: float = prevalence_study.SPECIFICITY_MUST) -> dict | None:
    """The sensitivities at which a threshold meets both floors, and how many pneumonia films that range spans; None if none does."""
    tpr, tnr = curve_points(labels, probability)
    ok = (tpr >= sensitivity) & (tnr >= specificity)
    if not ok.any():
        return None
    low, high = float(tpr[ok].min()), float(tpr[ok].max())
    return {"sensitivity_low": round(low, 4), "sensitivity_high": round(high, 4),
            "pneumonia_films_wide": int(round((high - low) * int((labels == 1).sum())))}


def oracle(labels: np.ndarray, probability: np.ndarray, patients: list[str], seed: int) -> dict:
    resamples = [i for i in patient_bootstrap_indices(patients, RESAMPLES, seed) if len(np.unique(labels[i])) == 2]
    spread = [best_specificity(labels[i], probability[i]) for i in resamples]
    return {"best_specificity_at_sensitivity_0.95": {"value": round(best_specificity(labels, probability), 4),
                                                     "low": round(float(np.percentile(spread, 2.5)), 4),
                                                     "high": round(float(np.percentile(spread, 97.5)), 4)},
            "must_band": must_band(labels, probability),
            "resamples_where_the_must_is_reachable": round(float(np.mean([must_band(labels[i], probability[i]) is not None for i in resamples])), 3)}


def run(data: Path, model_name: str | None, checkpoint: Path | None, seed: int) -> dict:
    from pneumo.training.checkpoint import model_from_checkpoint
    from pneumo_runtime.model import OnnxModel
    from pneumo_runtime.predictor import resolve_model
    from pneumo_runtime.torch_twin import torch_twin

    from .study import site_halves, torch_logits

    base_path = resolve_model(model_name)
    contract = OnnxModel(base_path).contract
    halves, films, labels, patients = site_halves(data, contract.preprocess, seed)
    model = model_from_checkpoint(checkpoint or torch_twin(base_path)).model
    shipped = [torch_logits(model, f) for f in films]
    parts, _ = prevalence_study.cross_fitted(model, films, shipped, [np.arange(len(half)) for half in labels], contract)
    pooled_labels = np.concatenate(labels)
    pooled_patients = [f"{h}:{p}" for h in (0, 1) for p in patients[h]]
    rows = []
    for method in METHODS:
        probability, margin = prevalence_study.pooled_decisions(parts[method], contract)
        used = prevalence_study.figures(pooled_labels, probability, margin)
        rows.append({"setting": method, "its_own_threshold": {k: round(v, 4) for k, v in used.items()},
                     **oracle(pooled_labels, probability, pooled_patients, seed)})
    return {"model": contract.model_version, "data": f"{data.name}/test, halves of {len(halves[0])} and {len(halves[1])} films by patient",
            "seed": seed, "pneumonia_films": int((pooled_labels == 1).sum()), "normal_films": int((pooled_labels == 0).sum()), "rows": rows}


def markdown(curve: dict) -> str:
    lines = [f"Oracle thresholds on the split as it is ({curve['pneumonia_films']} pneumonia and {curve['normal_films']} normal films, "
             "cross-fitted; read off the scored films' labels, so never usable at a site):", "",
             "| setting | its own threshold: sensitivity / specificity | best specificity at sensitivity >= 0.95 (95% interval) "
             "| sensitivities meeting the must | pneumonia films wide | resamples where reachable |", "| --- | --- | --- | --- | --- | --- |"]
    for r in curve["rows"]:
        best, band = r["best_specificity_at_sensitivity_0.95"], r["must_band"]
        span = "none" if band is None else f"{band['sensitivity_low']:.3f} to {band['sensitivity_high']:.3f}"
        lines.append(f"| {r['setting']} | {r['its_own_threshold']['sensitivity']:.3f} / {r['its_own_threshold']['specificity']:.3f} | "
                     f"{best['value']:.3f} ({best['low']:.3f}-{best['high']:.3f}) | {span} | {'–' if band is None else band['pneumonia_films_wide']} | "
                     f"{r['resamples_where_the_must_is_reachable']:.0%} |")
    return "\n".join(lines) + "\n"


def build_parser() -> argparse.ArgumentParser:
    from .study import site_parser

    return site_parser("pneumo-adapt curve", __doc__, "operating_curve")


def main(argv: list[str] | None = None) -> int:
    import torch

    from .study import save_study

    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    save_study(args.out, "operating_curve", run(args.data, args.model, args.checkpoint, args.seed), markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())

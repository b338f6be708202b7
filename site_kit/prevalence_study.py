"""The site kit under label shift: every label-free method at pneumonia shares of 10% to 80%.

The study and its judging rule: docs/experiments/2026-12-07-site-kit-prevalence.md. Both halves of
the official test split (the site's unlabelled films and the scored films come from one site) are
resampled by patient to each share; every method is fitted on one half's films, without labels,
and scored on the other half. Metrics pool both halves; each is the mean over draws, with a 95%
patient-bootstrap interval averaged over draws, and each method is compared with batch-norm
statistics paired: the same films, the same resamples.
"""

from __future__ import annotations

import copy
import sys
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score

from pneumo.training.calibration.fitting import expected_calibration_error, probabilities_from_logits
from pneumo.training.evaluation.intervals import patient_bootstrap_indices
from pneumo_runtime.contract import ModelContract

from .adapt import MIN_UNLABELLED, SiteAdaptationError, adapt_batchnorm, batchnorm_statistics, interpolate_batchnorm, logits_of, prevalence_corrected_statistics
from .label_shift import (
    SENSITIVITY_TARGET,
    TRAINING_PREVALENCE,
    em_prevalence,
    pneumonia_probability,
    resample_to_prevalence,
    safety_check,
    threshold_for_estimated_sensitivity,
)
from .self_training import self_train

PREVALENCES = (0.10, 0.30, 0.50, 0.80)
DRAWS = 5
RESAMPLES = 200
INTERPOLATION = 0.5  # the weight of the shipped statistics in the interpolated ones
REFERENCE = "batch-norm statistics"
METHODS = ("shipped", "batch-norm statistics", "prevalence-corrected statistics", "interpolated statistics",
           "prior-shifted threshold", "the kit", "self-training", "the kit + self-training",
           "the kit + self-training, sensitivity kept")
KITS = ("the kit", "the kit + self-training", "the kit + self-training, sensitivity kept")  # the label-free choices judged by the musts
SPECIFICITY_MUST = 0.90  # on the split as it is, at sensitivity >= SENSITIVITY_TARGET (the second must)
METRICS = ("auc", "sensitivity", "specificity", "balanced_accuracy")


@dataclass
class Scored:
    """One method's result on one half: logits and the threshold it decides with."""

    logits: np.ndarray
    threshold: float


def logit(p: float) -> float:
    return float(np.log(p / (1 - p)))


def prior_shifted_threshold(threshold: float, prevalence: float) -> float:
    """The threshold on training-prior probabilities that equals ``threshold`` on site-prior ones."""
    prevalence = min(max(prevalence, 1e-3), 1 - 1e-3)
    shift = logit(prevalence) - logit(TRAINING_PREVALENCE)
    return float(1 / (1 + np.exp(-(logit(threshold) - shift))))


def methods_on_half(model, site_films: np.ndarray, site_shipped: np.ndarray, scored_films: np.ndarray,
                    scored_shipped: np.ndarray, contract: ModelContract) -> tuple[dict[str, Scored], dict]:
    """Every method fitted on ``site_films`` (no labels) and scored on ``scored_films``."""
    threshold = contract.threshold
    plain = copy.deepcopy(model)
    adapt_batchnorm(plain, site_films)
    corrected = copy.deepcopy(model)
    corrected_site = prevalence_corrected_statistics(corrected, site_films, site_shipped, contract)
    check = safety_check(site_shipped, corrected_site, contract)
    corrected_scored = logits_of(corrected, scored_films)
    _, reference = em_prevalence(pneumonia_probability(corrected_site, contract))
    # SHOT on top of the corrected statistics (docs/experiments/2026-12-07-site-kit-self-training.md).
    trained = copy.deepcopy(corrected)
    self_train(trained, site_films, check.prevalence_shipped, contract.temperature)
    trained_site = logits_of(trained, site_films)
    trained_check = safety_check(site_shipped, trained_site, contract)
    kept_threshold = threshold_for_estimated_sensitivity(pneumonia_probability(trained_site, contract), reference, check.estimated_sensitivity)
    keep_trained = check.passed and trained_check.prevalences_agree
    trained_scored = logits_of(trained, scored_films)
    kit_scored = corrected_scored if check.passed else scored_shipped
    interpolate_batchnorm(corrected, batchnorm_statistics(model), INTERPOLATION)
    result = {
        "shipped": Scored(scored_shipped, threshold),
        "batch-norm statistics": Scored(logits_of(plain, scored_films), threshold),
        "prevalence-corrected statistics": Scored(corrected_scored, threshold),
        "interpolated statistics": Scored(logits_of(corrected, scored_films), threshold),
        "prior-shifted threshold": Scored(scored_shipped, prior_shifted_threshold(threshold, check.prevalence_shipped)),
        "the kit": Scored(kit_scored, threshold),
        "self-training": Scored(trained_scored, threshold),
        "the kit + self-training": Scored(trained_scored if check.passed and trained_check.passed else kit_scored, threshold),
        "the kit + self-training, sensitivity kept": Scored(trained_scored, kept_threshold) if keep_trained else Scored(kit_scored, threshold),
    }
    record = {k: v for k, v in check.to_dict().items() if k != "reason"}
    record["self_training"] = {k: v for k, v in trained_check.to_dict().items() if k not in ("reason", "films", "prevalence_shipped")}
    record["self_training"] |= {"kept_threshold": kept_threshold, "kept_by_second_rule": keep_trained}
    return result, record


def figures(labels: np.ndarray, probability: np.ndarray, margin: np.ndarray) -> dict[str, float]:
    positive, negative = labels == 1, labels == 0
    sensitivity = float((margin[positive] >= 0).mean())
    specificity = float((margin[negative] < 0).mean())
    return {"auc": float(roc_auc_score(labels, probability)), "sensitivity": sensitivity, "specificity": specificity,
            "balanced_accuracy": (sensitivity + specificity) / 2}


def pooled_decisions(halves: list[Scored], contract: ModelContract) -> tuple[np.ndarray, np.ndarray]:
    """Every film's P(pneumonia), and its log-odds margin over its own half's threshold (flagged at >= 0)."""
    thresholds = np.concatenate([np.full(len(h.logits), h.threshold) for h in halves]).clip(1e-7, 1 - 1e-7)
    probability = pneumonia_probability(np.concatenate([h.logits for h in halves]), contract)
    clipped = np.clip(probability, 1e-7, 1 - 1e-7)
    return probability, np.log(clipped / (1 - clipped)) - np.log(thresholds / (1 - thresholds))


def draw_figures(parts: dict[str, list[Scored]], labels: np.ndarray, patients: list[str], contract: ModelContract, seed: int) -> dict:
    """Per method: point figures, ECE, and the figures on each of the (shared) patient resamples."""
    resamples = patient_bootstrap_indices(patients, RESAMPLES, seed)
    out = {}
    for method, halves in parts.items():
        probability, margin = pooled_decisions(halves, contract)
        out[method] = {
            "point": figures(labels, probability, margin),
            "ece": float(expected_calibration_error(probabilities_from_logits(np.concatenate([h.logits for h in halves]), contract.temperature), labels)),
            "resampled": np.array([[figures(labels[i], probability[i], margin[i])[m] for m in METRICS] for i in resamples
                                   if len(np.unique(labels[i])) == 2]),
        }
    return out


def summary(draws: list[dict], method: str) -> dict:
    point = {m: float(np.mean([d[method]["point"][m] for d in draws])) for m in METRICS}
    resampled = np.mean([d[method]["resampled"][:min(len(x[method]["resampled"]) for x in draws)] for d in draws], axis=0)
    row = {m: {"value": round(point[m], 4), "low": round(float(np.percentile(resampled[:, k], 2.5)), 4),
               "high": round(float(np.percentile(resampled[:, k], 97.5)), 4)} for k, m in enumerate(METRICS)}
    row["ece"] = round(float(np.mean([d[method]["ece"] for d in draws])), 4)
    return row


def paired_difference(draws: list[dict], method: str) -> dict:
    """``method`` minus batch-norm statistics on the same films and resamples: mean and 95% interval."""
    size = min(min(len(d[method]["resampled"]), len(d[REFERENCE]["resampled"])) for d in draws)
    difference = np.mean([d[method]["resampled"][:size] - d[REFERENCE]["resampled"][:size] for d in draws], axis=0)
    point = {m: float(np.mean([d[method]["point"][m] - d[REFERENCE]["point"][m] for d in draws])) for m in METRICS}
    return {m: {"value": round(point[m], 4), "low": round(float(np.percentile(difference[:, k], 2.5)), 4),
                "high": round(float(np.percentile(difference[:, k], 97.5)), 4)} for k, m in enumerate(METRICS)}


def resampled_sites(labels: list[np.ndarray], patients: list[list[str]], prevalence: float | None, seed: int, draws: int) -> list[list[np.ndarray]]:
    """Per draw, each half's films at ``prevalence`` (None: every film); all drawn before any fit, so a
    share that leaves a half too few films to adapt on is refused before minutes of work, not after."""
    rng = np.random.default_rng(seed + (0 if prevalence is None else round(prevalence * 100)))
    drawn = [[np.arange(len(labels[h])) if prevalence is None else resample_to_prevalence(labels[h], patients[h], prevalence, rng)
              for h in (0, 1)] for _ in range(draws)]
    fewest = min(len(half) for chosen in drawn for half in chosen)
    if fewest < MIN_UNLABELLED:
        where = "the split as it is" if prevalence is None else f"a pneumonia share of {prevalence:.0%}"
        raise SiteAdaptationError(f"{where} leaves a half of this site {fewest} films, fewer than the "
                                  f"{MIN_UNLABELLED} batch-norm adaptation needs: give more films or other --prevalences")
    return drawn


def cross_fitted(model, films: list[np.ndarray], shipped: list[np.ndarray], chosen: list[np.ndarray],
                 contract: ModelContract) -> tuple[dict[str, list[Scored]], list[dict]]:
    """Every method fitted on one half's ``chosen`` films and scored on the other's, both ways: per
    method its two scored halves (half 0, then half 1), and each fit's safety-check record."""
    parts: dict[str, list[Scored]] = {m: [] for m in METHODS}
    records = []
    for half in (0, 1):
        site = 1 - half
        scored, record = methods_on_half(model, films[site][chosen[site]], shipped[site][chosen[site]],
                                         films[half][chosen[half]], shipped[half][chosen[half]], contract)
        records.append(record)
        for method in METHODS:
            parts[method].append(scored[method])
    return parts, records


def run(model, films: list[np.ndarray], labels: list[np.ndarray], patients: list[list[str]], shipped: list[np.ndarray],
        contract: ModelContract, seed: int, prevalences=PREVALENCES, draws: int = DRAWS) -> dict:
    """``model``: the shipped torch twin (eval mode, never changed); per half its films, labels, patients and shipped logits."""
    rows, differences, checks = [], [], []
    sites = {prevalence: resampled_sites(labels, patients, prevalence, seed, 1 if prevalence is None else draws)
             for prevalence in (None, *prevalences)}
    for prevalence, drawn in sites.items():
        per_draw = []
        for index, chosen in enumerate(drawn):
            parts, records = cross_fitted(model, films, shipped, chosen, contract)
            checks += [{"prevalence": prevalence, "draw": index, "scored_half": half, **record} for half, record in enumerate(records)]
            scored_labels = np.concatenate([labels[h][chosen[h]] for h in (0, 1)])
            scored_patients = [f"{h}:{patients[h][i]}" for h in (0, 1) for i in chosen[h]]
            per_draw.append(draw_figures(parts, scored_labels, scored_patients, contract, seed + index))
            films_scored = len(scored_labels)
            print(f"share {'as is' if prevalence is None else f'{prevalence:.0%}'}, draw {index + 1}: "
                  + "; ".join(f"{kit} sensitivity {per_draw[-1][kit]['point']['sensitivity']:.3f} specificity "
                              f"{per_draw[-1][kit]['point']['specificity']:.3f}" for kit in KITS), file=sys.stderr, flush=True)
        for method in METHODS:
            rows.append({"setting": method, "labelled_films": 0, "prevalence": prevalence, **summary(per_draw, method),
                         "draws": len(per_draw), "n_images": films_scored})
            if method != REFERENCE:
                differences.append({"setting": method, "against": REFERENCE, "prevalence": prevalence, **paired_difference(per_draw, method)})
    return {"rows": rows, "paired_differences": differences, "safety_checks": checks}


def check_targets(rows: list[dict], kit: str = "the kit") -> dict:
    """The issue's musts for one of the KITS, read from the rows: sensitivity and balanced accuracy at every prevalence."""
    by = {(r["setting"], r["prevalence"]): r for r in rows}
    verdict = {}
    for (setting, prevalence), row in by.items():
        if setting != kit:
            continue
        shipped = by[("shipped", prevalence)]
        verdict["as is" if prevalence is None else f"{prevalence:.0%}"] = {
            "sensitivity_at_least_0.95": row["sensitivity"]["value"] >= SENSITIVITY_TARGET,
            "balanced_accuracy_at_least_shipped_minus_0.005": row["balanced_accuracy"]["value"] >= shipped["balanced_accuracy"]["value"] - 0.005,
        }
        if prevalence is None:  # the second must: the split as it is
            verdict["as is"]["specificity_at_least_0.90"] = row["specificity"]["value"] >= SPECIFICITY_MUST
    return verdict


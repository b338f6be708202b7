"""A site model from a shipped one: what a clinic can adapt without retraining, and nothing more.

Two independent steps, each optional:

- **Batch-norm statistics from the site's unlabelled films** (AdaBN, Li et al. 2016). Every
  BatchNorm layer's running mean and variance are re-estimated on the site's films; no weight
  changes and no label is needed. A different scanner, exposure or post-processing shifts the
  activations' statistics; this re-centres them. The input guard's feature bank is rebuilt from the
  same films under the adapted network, since the training bank no longer matches its features.
- **Calibration from a small labelled set**: temperature, the decision threshold under the shipped
  model's own rule (a sensitivity target), and the referral cut-off, refitted on the site's films.

The result is an ordinary exported model (ONNX + contract, hash-checked) whose contract says it
is site-adapted, from which model, and on how many films. Its figures on the films it was fitted
on are not an evaluation: evaluate it with ``pneumo-evaluate`` on other films of the site.
"""

from __future__ import annotations

import dataclasses
import re
from datetime import date
from typing import Any

import numpy as np
import torch
from torch import nn

from pneumo_runtime.contract import ModelContract, UncertaintyRule

from .label_shift import MIN_SITE_FILMS, SafetyCheck, em_prevalence, pneumonia_probability, prevalence_weights, replicated, safety_check

MIN_UNLABELLED = 16  # films: fewer give batch-norm statistics noisier than the shift they correct
MIN_LABELLED_PER_CLASS = 5  # a threshold for a sensitivity target needs a few positives at least


class SiteAdaptationError(ValueError):
    """The site's films cannot support the adaptation asked for."""


def batchnorm_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def adapt_batchnorm(model: nn.Module, batch: np.ndarray, batch_size: int = 32) -> int:
    """Re-estimate every BatchNorm layer's running statistics on ``batch`` (preprocessed films).

    Only the BatchNorm layers run in training mode (dropout stays off), with ``momentum=None``:
    a cumulative average over the site's films, so their order does not matter. Returns the number
    of layers adapted. The model is left in eval mode.
    """
    if len(batch) < MIN_UNLABELLED:
        raise SiteAdaptationError(f"batch-norm adaptation needs at least {MIN_UNLABELLED} of the site's films, got {len(batch)}")
    layers = batchnorm_layers(model)
    if not layers:
        raise SiteAdaptationError("this network has no batch-norm layers to adapt")
    momenta = [layer.momentum for layer in layers]
    model.eval()
    for layer in layers:
        layer.reset_running_stats()
        layer.momentum = None
        layer.train()
    # Equal-sized chunks: the cumulative average weighs every chunk alike.
    chunks = max(1, round(len(batch) / batch_size))
    for chunk in np.array_split(batch, chunks):
        model(torch.from_numpy(np.ascontiguousarray(chunk)))
    for layer, momentum in zip(layers, momenta, strict=True):
        layer.momentum = momentum
    model.eval()
    return len(layers)


def batchnorm_statistics(model: nn.Module) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(layer.running_mean.clone(), layer.running_var.clone()) for layer in batchnorm_layers(model)]


@torch.no_grad()
def interpolate_batchnorm(model: nn.Module, source: list[tuple[torch.Tensor, torch.Tensor]], alpha: float) -> None:
    """Running statistics ``alpha * source + (1 - alpha) * the model's own`` (TTN-style interpolation)."""
    for layer, (mean, var) in zip(batchnorm_layers(model), source, strict=True):
        layer.running_mean.mul_(1 - alpha).add_(alpha * mean)
        layer.running_var.mul_(1 - alpha).add_(alpha * var)


def logits_of(model: nn.Module, films: np.ndarray, batch_size: int = 32) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(films[i:i + batch_size])).numpy() for i in range(0, len(films), batch_size)])


def prevalence_corrected_statistics(model: nn.Module, films: np.ndarray, shipped_logits: np.ndarray, contract: ModelContract) -> np.ndarray:
    """AdaBN on the site's films reweighted to the training share of pneumonia, in place; the adapted logits of ``films``.

    The weights come from the shipped model's posteriors after EM prior estimation: a screening
    site's few pneumonia films count more, its many normal ones less, so the statistics describe
    the site's acquisition, not its case mix.
    """
    prevalence, posterior = em_prevalence(pneumonia_probability(shipped_logits, contract))
    adapt_batchnorm(model, films[replicated(prevalence_weights(posterior, prevalence))])
    return logits_of(model, films)


def prevalence_corrected_candidate(model: nn.Module, films: np.ndarray, shipped_logits: np.ndarray, contract: ModelContract) -> SafetyCheck:
    """prevalence_corrected_statistics(), then the safety check of the adapted model on the same films."""
    return safety_check(shipped_logits, prevalence_corrected_statistics(model, films, shipped_logits, contract), contract)


def kit_adaptation(model: nn.Module, films: np.ndarray, contract: ModelContract) -> SafetyCheck:
    """The kit's rule (docs/experiments/2026-12-07-site-kit-prevalence.md), label-free, in place on ``model``.

    Prevalence-corrected batch-norm statistics, kept only if the safety check passes; otherwise the
    model's own statistics are put back. Returns the check, which says which happened and why.
    """
    shipped_statistics = batchnorm_statistics(model)
    shipped_logits = logits_of(model, films)
    if len(films) < MIN_SITE_FILMS:
        return safety_check(shipped_logits, shipped_logits, contract)
    check = prevalence_corrected_candidate(model, films, shipped_logits, contract)
    if not check.passed:
        interpolate_batchnorm(model, shipped_statistics, 1.0)
    return check


def site_slug(site: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", site.lower()).strip("-")
    if not slug:
        raise SiteAdaptationError("give the site a name with letters or digits (--site)")
    return slug[:40]


def recalibration(logits: np.ndarray, labels: np.ndarray, patients: list[str], contract: ModelContract) -> dict[str, Any]:
    """Temperature, threshold (under the shipped model's rule and target) and referral cut-off."""
    from pneumo.training.calibration.calibrate import calibration_from_logits

    counts = np.bincount(labels, minlength=len(contract.classes))
    if counts.min() < MIN_LABELLED_PER_CLASS:
        raise SiteAdaptationError(f"recalibration needs at least {MIN_LABELLED_PER_CLASS} labelled films of each class, got "
                                  + ", ".join(f"{n} {c}" for c, n in zip(contract.classes, counts, strict=True)))
    rule = contract.threshold_rule or {"rule": "sensitivity", "target": None}
    binary = len(contract.classes) == 2
    return calibration_from_logits(logits, labels, patients, rule["rule"] if binary else "sensitivity", rule.get("target"))


def site_contract(base: ModelContract, site: str, methods: list[str], counts: dict[str, int],
                  calibration: dict[str, Any] | None = None, guard=None) -> ModelContract:
    """The base contract with the site's calibration and guard, marked as site-adapted.

    The base model's validation and test figures describe the base model, not this one: they are
    dropped, and the figures on the site's own labelled films are kept as fitted, not evaluated.
    """
    changes: dict[str, Any] = {}
    if calibration is not None:
        changes.update(
            temperature=float(calibration["temperature"]),
            threshold=None if calibration["threshold"] is None else float(calibration["threshold"]),
            uncertainty=UncertaintyRule(base.uncertainty.method, float(calibration["uncertainty"]["cutoff"])),
        )
    if guard is not None:
        changes["guard"] = guard
    adaptation = {
        "site": site,
        "methods": methods,
        "base_model_version": base.model_version,
        "base_onnx_sha256": base.onnx_sha256,
        "films": counts,
        "date": date.today().isoformat(),
        "fitted_figures": None if calibration is None else {
            "note": "on the labelled films the calibration was fitted on: not an evaluation",
            **{k: calibration["validation"][k] for k in ("sensitivity", "specificity", "auc_roc", "ece_after", "n_images") if k in calibration["validation"]},
        },
    }
    return dataclasses.replace(base, **changes, model_version=f"{base.model_version}-site-{site_slug(site)}",
                               metrics={"validation": None, "test": None}, site_adaptation=adaptation, onnx_sha256="")

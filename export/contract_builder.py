"""Build the runtime contract from what a checkpoint stores. Nothing here is typed twice: every
value comes from the checkpoint (training config, preprocessing, calibration) or from the
runtime's own notices."""

from __future__ import annotations

import hashlib
from typing import Any

from pneumo_runtime.contract import ModelContract, UncertaintyRule, config_digest
from pneumo_runtime.guard import GuardSettings
from pneumo_runtime.notices import DATA_CITATION, DISCLAIMER, INTENDED_USE
from pneumo_runtime.preprocess import PreprocessSettings

from .errors import ExportError

REQUIRED_KEYS = ("model_state", "config", "classes", "preprocess", "calibration")
# From pneumo-evaluate's metrics.json, the headline sections only: curves and heatmap statistics
# would make every contract hundreds of kilobytes.
TEST_METRIC_SECTIONS = ("data", "threshold_free", "at_threshold", "multiclass")


def test_sections(test_metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    return {k: test_metrics[k] for k in TEST_METRIC_SECTIONS if k in test_metrics} if test_metrics else None


def weights_digest(state_dict: dict[str, Any]) -> str:
    """Identifies the weights themselves: two checkpoints of one config get different versions."""
    digest = hashlib.sha256()
    for name, tensor in sorted(state_dict.items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def check_checkpoint_fields(checkpoint: dict[str, Any]) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in checkpoint]
    if missing:
        hint = " (calibrate it first: pneumo-train --calibrate-only CHECKPOINT --data DATA)" if missing == ["calibration"] else ""
        raise ExportError(f"checkpoint lacks the contract field(s) {', '.join(missing)}{hint}")


def model_version(checkpoint: dict[str, Any]) -> str:
    """``<architecture>-e<epoch>-<weights digest>``; a combination says ``avg<N>`` (weights) or ``ens<N>`` (logits).

    A logit ensemble trained further (``--init-from``) says both: ``ens<N>-e<epoch>``.
    """
    combined = checkpoint.get("combined_from")
    if combined and combined["combine"] == "weights":
        origin = f"avg{len(combined['ingredients'])}"
    elif combined:  # members, not ingredients: an ingredient may itself be an ensemble
        origin = f"ens{checkpoint.get('ensemble_members', len(combined['ingredients']))}"
    else:
        origin = f"e{checkpoint.get('run_state', {}).get('best_epoch', 0)}"
        members = int(checkpoint.get("ensemble_members", 1))
        origin = f"ens{members}-{origin}" if members > 1 else origin
    return f"{checkpoint['config']['model']}-{origin}-{weights_digest(checkpoint['model_state'])[:8]}"


def architecture(checkpoint: dict[str, Any]) -> str:
    """E.g. "efficientnet_lite0 x3 (seeing 224, 224, 112 px), mean of logits"."""
    from pneumo.training.checkpoint import member_downsample  # lazy: torch only when a checkpoint is described

    factors = member_downsample(checkpoint)
    name = checkpoint["config"]["model"]
    size = int(checkpoint["config"].get("input_size", 224))
    seeing = f" (seeing {', '.join(str(size // f) for f in factors)} px)" if any(f > 1 for f in factors) else ""
    return f"{name} x{len(factors)}{seeing}, mean of logits" if len(factors) > 1 else f"{name}{seeing}"


def build_contract(checkpoint: dict[str, Any], head_weights: list[list[float]], head_bias: list[float],
                   guard: GuardSettings, test_metrics: dict[str, Any] | None = None) -> ModelContract:
    check_checkpoint_fields(checkpoint)
    calibration = checkpoint["calibration"]
    config = checkpoint["config"]
    uncertainty = calibration.get("uncertainty") or {}
    return ModelContract(
        architecture=architecture(checkpoint),
        classes=tuple(checkpoint["classes"]),
        preprocess=PreprocessSettings.from_dict(checkpoint["preprocess"]),
        temperature=float(calibration["temperature"]),
        threshold=None if calibration.get("threshold") is None else float(calibration["threshold"]),
        threshold_rule=dict(calibration.get("threshold_rule") or {}),
        uncertainty=UncertaintyRule(uncertainty.get("method", "entropy"), uncertainty.get("cutoff")),
        cam_weights=tuple(tuple(row) for row in head_weights),
        cam_bias=tuple(head_bias),
        guard=guard,
        model_version=model_version(checkpoint),
        metrics={"validation": calibration.get("validation", {}),
                 "test": test_sections(test_metrics)},
        intended_use=INTENDED_USE,
        disclaimer=DISCLAIMER,
        data_citation=DATA_CITATION,
        config_digest=config_digest(config),
        training_config=config,
    )

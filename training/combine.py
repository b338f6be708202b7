"""Combine several checkpoints of one model into one network, chosen greedily on validation.

Why: the release's weakness is the train -> test shift of the Kermany split, and combining
fine-tuned models is the best-known cheap defence against shift. Two ways, one selection rule:

- ``--combine weights``: average the weights (SWA, Izmailov et al. 2018; model soups, Wortsman et
  al. 2022). Same size and speed as one model.
- ``--combine logits``: a deep ensemble (Lakshminarayanan et al. 2017; under shift: Ovadia et al.
  2019), built as one ``PneumoClassifier`` (``models/ensemble.py``): n times the compute, and still
  one ONNX graph with CAM, guard, INT8 and a Grad-CAM twin.

The rule is the greedy soup's: rank the ingredients by the run's monitor on the validation split
(all must share that split: same ``validation_seed`` and ``val_fraction``), start from the best,
and keep each next ingredient only if the combination with it scores better (by more than
``--min-gain``: an ensemble member costs a whole model's compute and size). Every decision is
made on validation; test is never read. The result is calibrated like ``best.pt``.

    python -m pneumo.training.combine runs/a/best.pt runs/b/best.pt --combine logits \\
        --data ../shared/data/kermany_224 --out runs/ensemble
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.json_file import write_json
from pneumo_runtime.preprocess import PreprocessSettings

from .arguments import add_calibration_flags, add_threads_flag, apply_threads, calibrate_from_args
from .calibration.fitting import CalibrationError
from .checkpoint import CheckpointError, code_version, ensemble_fields, inference_checkpoint, load_checkpoint, rebuild_model, save_checkpoint
from .config import config_from_dict
from .models import PneumoClassifier
from .models.ensemble import ensemble_of

COMBINATIONS = ("weights", "logits")

# What the ingredients must share: the same network shape, and the same validation split.
COMPATIBILITY_KEYS = ("model", "task", "input_size", "clahe", "val_fraction", "val_data", "max_val_samples")


class AverageError(PneumoError, ValueError):
    """Checkpoints that cannot be averaged (other model, other classes, other validation split)."""


def check_compatible(checkpoints: dict[str, dict[str, Any]], combine: str = "logits") -> None:
    """Same architecture, classes, preprocessing and validation split, or a one-line error."""
    (first_name, first), *others = checkpoints.items()
    reference = config_from_dict(first["config"])
    for name, checkpoint in others:
        config = config_from_dict(checkpoint["config"])
        differing = [key for key in COMPATIBILITY_KEYS if getattr(config, key) != getattr(reference, key)]
        if config.validation_seed != reference.validation_seed:
            differing.append("validation_seed (split_seed or seed)")
        if combine == "weights" and (config.input_downsample, checkpoint.get("ensemble_members", 1)) != (
                reference.input_downsample, first.get("ensemble_members", 1)):
            differing.append("input_downsample or ensemble members (weights average only the same network)")
        if checkpoint["classes"] != first["classes"] or checkpoint["preprocess"] != first["preprocess"]:
            differing.append("classes or preprocessing")
        if differing:
            raise AverageError(f"{name} cannot be averaged with {first_name}: they differ in {', '.join(differing)}")


def average_states(states: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Uniform mean of floating-point tensors; integer buffers (BatchNorm's step count) from the first."""
    averaged = {}
    for key, value in states[0].items():
        if value.is_floating_point():
            averaged[key] = torch.stack([state[key].float() for state in states]).mean(dim=0).to(value.dtype)
        else:
            averaged[key] = value.clone()
    return averaged


def combined_checkpoint(ingredients: dict[str, dict[str, Any]], model: PneumoClassifier, combine: str,
                        val_metrics: dict[str, float]) -> dict[str, Any]:
    """A plain pneumo checkpoint (not resumable: a combination has no optimiser state)."""
    first = next(iter(ingredients.values()))
    return {
        "model_state": model.state_dict(),
        "config": first["config"],
        "classes": first["classes"],
        "preprocess": first["preprocess"],
        "val_metrics": val_metrics,
        "data_summary": first.get("data_summary", {}),
        "combined_from": {"combine": combine, "ingredients": [_describe(name, c) for name, c in ingredients.items()]},
        **ensemble_fields(model),
        "code_version": code_version(),
    }


def combine_models(checkpoints: list[dict[str, Any]], combine: str) -> PneumoClassifier:
    if combine == "weights":
        model = rebuild_model(checkpoints[0]).model
        model.load_state_dict(average_states([c["model_state"] for c in checkpoints]))
        return model
    return ensemble_of([rebuild_model(c).model for c in checkpoints])


def _describe(name: str, checkpoint: dict[str, Any]) -> dict[str, Any]:
    return {"checkpoint": name, "seed": checkpoint["config"]["seed"], "epoch": checkpoint.get("val_metrics", {}).get("epoch")}


def greedy_combination(paths: list[Path], data: str | None, out_dir: Path, combine: str = "weights",
                       min_gain: float = 0.0) -> dict[str, Any]:
    """Rank, then add ingredients greedily on validation; writes ``out_dir/best.pt`` and ``combination.json``."""
    from .calibration.calibrate import check_same_split, validation_dataset
    from .fit.trainer import ValidationScorer

    checkpoints = {str(path): load_checkpoint(path) for path in paths}
    check_compatible(checkpoints, combine)
    first = next(iter(checkpoints.values()))
    config = config_from_dict({**first["config"], **({"data": data} if data else {})})
    val_set = validation_dataset(config, PreprocessSettings.from_dict(first["preprocess"]), config.data)
    check_same_split(val_set, first)
    scorer = ValidationScorer(val_set, config, torch.device("cpu"))

    if combine == "logits":  # each ingredient runs once; an ensemble's logits are the mean over its members
        member_logits = {name: scorer.logits(rebuild_model(c).model) for name, c in checkpoints.items()}
        members = {name: int(c.get("ensemble_members", 1)) for name, c in checkpoints.items()}

        def score(ingredients: list[str]) -> dict[str, float]:
            weights = [members[n] for n in ingredients]  # every member counts once, as in ensemble_of
            return scorer.metrics({split: np.average([member_logits[n][split] for n in ingredients], axis=0, weights=weights)
                                   for split in member_logits[ingredients[0]]})
    else:
        def score(ingredients: list[str]) -> dict[str, float]:
            return scorer.score(combine_models([checkpoints[name] for name in ingredients], combine))

    log: list[dict[str, Any]] = []
    singles = {name: score([name]) for name in checkpoints}
    for name, metrics in singles.items():
        log.append({"ingredients": [name], "kind": "single", **metrics})
        _report(log[-1], config.monitor)
    ranked = sorted(singles, key=lambda n: singles[n][config.monitor], reverse=not config.monitor_lower_is_better)
    chosen, chosen_metrics = [ranked[0]], singles[ranked[0]]
    for name in ranked[1:]:
        metrics = score(chosen + [name])
        kept = config.improves(metrics[config.monitor], chosen_metrics[config.monitor], min_gain)
        log.append({"ingredients": chosen + [name], "kind": "kept" if kept else "rejected", **metrics})
        _report(log[-1], config.monitor)
        if kept:
            chosen, chosen_metrics = chosen + [name], metrics
    out_dir.mkdir(parents=True, exist_ok=True)
    if len(chosen) == 1:  # no combination beat the best ingredient: it is the result, without its training state
        payload = inference_checkpoint(checkpoints[chosen[0]])
    else:
        model = combine_models([checkpoints[name] for name in chosen], combine)
        payload = combined_checkpoint({name: checkpoints[name] for name in chosen}, model, combine, chosen_metrics)
    save_checkpoint(out_dir / "best.pt", payload)  # calibrated afterwards, like best.pt after training
    summary = {"combine": combine, "monitor": config.monitor, "min_gain": min_gain, "chosen": chosen, "chosen_metrics": chosen_metrics,
               "candidates": log, "split": "patient-grouped validation split of train (and its shifted copy)"}
    write_json(out_dir / "combination.json", summary)
    return summary


def _report(entry: dict[str, Any], monitor: str) -> None:
    names = " + ".join(Path(n).parent.name + "/" + Path(n).stem for n in entry["ingredients"])
    scores = ", ".join(f"{key} {entry[key]:.4f}" for key in dict.fromkeys((monitor, "auc", "loss")))
    print(f"{entry['kind']:>8}: {scores}  [{names}]", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.training.combine", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="ingredients: epoch_NN.pt / best.pt of runs that share a validation split")
    parser.add_argument("--combine", choices=COMBINATIONS, default="weights",
                        help="average the weights (one model's cost) or the logits (an ensemble; n times the cost)")
    parser.add_argument("--min-gain", type=float, default=0.0,
                        help="keep an ingredient only if the monitor improves by more than this (a logit-ensemble member costs one model's compute)")
    parser.add_argument("--out", type=Path, required=True, help="folder for best.pt (calibrated) and combination.json")
    parser.add_argument("--data", help="where the training data lives now (default: the path stored in the checkpoints)")
    add_threads_flag(parser)
    add_calibration_flags(parser)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    try:
        summary = greedy_combination(args.checkpoints, args.data, args.out, args.combine, args.min_gain)
        print(f"chosen on validation: {len(summary['chosen'])} ingredient(s), {summary['monitor']} "
              f"{summary['chosen_metrics'][summary['monitor']]:.4f}", file=sys.stderr)
        calibrate_from_args(args.out / "best.pt", args, data=args.data)
    except (AverageError, CheckpointError, CalibrationError, ValueError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())

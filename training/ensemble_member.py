"""``python -m pneumo.training.ensemble_member``: one member of a logit ensemble as a model of its own.

    python -m pneumo.training.ensemble_member runs/ensemble/best.pt --member 1 --out runs/member1

Writes ``best.pt``: the member's backbone, its slice of the ensemble head, calibrated afresh on the
run's own validation split (temperature, threshold under the same rule, referral cut-off). One
network costs half an ensemble of two on every film; whether it is as good is for a committed
rule to judge (docs/experiments/2026-12-02-selection-rule.md), not for this command.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from .arguments import add_threads_flag, apply_threads
from .calibration.calibrate import calibrate_checkpoint
from .checkpoint import inference_checkpoint, load_checkpoint, rebuild_model, save_checkpoint
from .models import PneumoClassifier, create_model
from .models.ensemble import member_backbones

ENSEMBLE_KEYS = ("ensemble_members", "ensemble_input_downsample", "combined_from", "calibration")


def single_member(ensemble: PneumoClassifier, index: int, architecture: str) -> PneumoClassifier:
    """Member ``index``: its backbone, and ``W_i · n`` with the mean bias as its head.

    The members were trained through the mean of their logits, ``mean_i(W_i · f_i) + b``, so only
    the mean bias exists; ``n · W_i`` puts the member's logits on the ensemble's scale.
    """
    backbones = member_backbones(ensemble)
    if not 0 <= index < len(backbones):
        raise ValueError(f"the ensemble has {len(backbones)} members; --member must be 1 to {len(backbones)}")
    single = create_model(architecture, ensemble.classifier.fc.out_features, pretrained="none")
    single.backbone.load_state_dict(backbones[index].state_dict())
    width = single.classifier.fc.in_features  # every member is this architecture: the head is n equal slices
    with torch.no_grad():
        single.classifier.fc.weight.copy_(ensemble.classifier.fc.weight[:, index * width:(index + 1) * width] * len(backbones))
        single.classifier.fc.bias.copy_(ensemble.classifier.fc.bias)
    return single.eval()


def member_checkpoint(checkpoint: dict[str, Any], index: int) -> dict[str, Any]:
    loaded = rebuild_model(checkpoint)
    single = single_member(loaded.model, index, loaded.config.model)
    payload = {key: value for key, value in inference_checkpoint(checkpoint).items() if key not in ENSEMBLE_KEYS}
    payload["model_state"] = single.state_dict()
    payload["extracted_from"] = {"member": index + 1, "of": len(member_backbones(loaded.model))}
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.training.ensemble_member", description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path, help="a logit ensemble's best.pt (or a shipped .pt)")
    parser.add_argument("--member", type=int, required=True, help="which member, from 1")
    parser.add_argument("--out", type=Path, required=True, help="folder for best.pt")
    parser.add_argument("--data", help="where the training data lives now (for the calibration's validation split)")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    try:
        payload = member_checkpoint(load_checkpoint(args.checkpoint), args.member - 1)
        args.out.mkdir(parents=True, exist_ok=True)
        save_checkpoint(args.out / "best.pt", payload)
        calibration = calibrate_checkpoint(args.out / "best.pt", data=args.data)
    except ValueError as exc:  # checkpoint, data and calibration errors
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {args.out / 'best.pt'}: member {args.member}, temperature {calibration['temperature']:.3f}, "
          f"threshold {calibration['threshold']}, validation AUC {calibration['validation'].get('auc_roc', float('nan')):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

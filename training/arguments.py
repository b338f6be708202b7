"""Command-line arguments that several training commands share, defined once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .calibration.fitting import DEFAULT_REFERRAL_RATE, THRESHOLD_RULES


def add_threads_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)")


def apply_threads(threads: int) -> None:
    """Set torch's intra-op threads; 0 leaves torch's default. torch loads only when a number is given."""
    if threads:
        import torch

        torch.set_num_threads(threads)


def add_calibration_flags(parser: argparse.ArgumentParser) -> None:
    """How a checkpoint is calibrated: all three chosen on the patient-grouped validation split."""
    group = parser.add_argument_group("calibration (chosen on the patient-grouped validation split)")
    group.add_argument("--threshold-rule", choices=THRESHOLD_RULES, default="sensitivity", help="operating-point rule (default sensitivity)")
    group.add_argument("--threshold-target", type=float, help="the rule's target (default: sensitivity 0.95, specificity 0.90)")
    group.add_argument("--referral-rate", type=float, default=DEFAULT_REFERRAL_RATE,
                       help=f"share of validation cases the uncertainty cut-off refers to a radiologist (default {DEFAULT_REFERRAL_RATE:g})")


def calibrate_from_args(checkpoint: Path, args: argparse.Namespace, data: str | None = None) -> dict:
    """Store temperature, threshold and referral cut-off in ``checkpoint`` (see calibration/calibrate.py)."""
    from .calibration.calibrate import calibrate_checkpoint

    calibration = calibrate_checkpoint(checkpoint, args.threshold_rule, args.threshold_target, args.referral_rate, data=data)
    validation = calibration["validation"]
    threshold = "argmax" if calibration["threshold"] is None else f"threshold {calibration['threshold']:.4f}"
    print(f"calibrated {checkpoint.name} on validation: temperature {calibration['temperature']:.3f}, {threshold}, "
          f"ECE {validation['ece_before']:.3f} -> {validation['ece_after']:.3f}", file=sys.stderr)
    return calibration

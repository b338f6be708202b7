"""``pneumo-train``: train a classifier from a YAML config, with CLI overrides and resume."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

from pneumo_runtime.errors import PneumoError

from ..arguments import add_calibration_flags, calibrate_from_args
from ..calibration.fitting import CalibrationError
from ..checkpoint import load_checkpoint
from ..config import ConfigError, TrainConfig, add_config_flags, config_from_dict, load_yaml, overrides_from_args


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumo-train",
        description="Train a pneumonia classifier on chest X-rays (research use; not a diagnostic device).",
        epilog="Example: pneumo-train --config configs/release/binary.yaml --data ../shared/data/kermany_224 --epochs 1\n"
               "Several GPUs or processes: torchrun --nproc_per_node N --no-python pneumo-train ... "
               "(--batch-size is the global batch, split over the N processes; README: 'Scaling').",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--config", type=Path, help="YAML file with TrainConfig keys (configs/release/binary.yaml or configs/zoo/<model>.yaml)")
    parser.add_argument("--resume", type=Path, help="continue a run: its folder or its last.pt")
    parser.add_argument("--cv", type=int, metavar="K", help="patient-grouped K-fold cross-validation of train: K runs, metrics as mean ± std")
    parser.add_argument("--calibrate-only", type=Path, metavar="CHECKPOINT",
                        help="calibrate an existing checkpoint and exit (--data: where its training data lives now)")
    add_calibration_flags(parser)
    add_config_flags(parser)
    return parser


def resolve(args: argparse.Namespace) -> tuple[TrainConfig, Path, Path | None]:
    """Config precedence: defaults < checkpoint (resume) or YAML < CLI flags."""
    overrides = overrides_from_args(args)
    if args.resume:
        last = args.resume / "last.pt" if args.resume.is_dir() else args.resume
        base = config_from_dict(load_checkpoint(last)["config"])
        config = config_from_dict(overrides, base)
        return config, last.parent, last
    config = config_from_dict({**(load_yaml(args.config) if args.config else {}), **overrides})
    if not config.data:
        raise ConfigError("no data: give --data DIR_OR_CSV or set 'data' in the config")
    out = Path(config.out) if config.out else Path("runs") / f"{config.model}-{time.strftime('%Y%m%d-%H%M%S')}"
    return config, out, None


def train_and_calibrate(config: TrainConfig, out_dir: Path, args: argparse.Namespace, resume_from: Path | None = None) -> dict:
    from . import distributed
    from .trainer import Trainer  # torch loads only once the arguments are known to be good

    context = distributed.start()  # one process, or one of torchrun's
    Trainer(config, out_dir, resume_from, context).fit()
    if not context.is_main:  # rank 0 calibrates on the whole validation split, alone
        return {}
    try:
        return calibrate_from_args(out_dir / "best.pt", args)
    except CalibrationError as exc:
        raise CalibrationError(f"training finished in {out_dir}, but best.pt could not be calibrated: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.calibrate_only:
            calibrate_from_args(args.calibrate_only, args, data=args.data)
            return 0
        config, out_dir, resume_from = resolve(args)
        if args.cv and resume_from:
            raise ConfigError("--cv starts fresh runs; it cannot be combined with --resume")
        if args.cv and launched_by_torchrun():
            raise ConfigError("--cv runs its folds one after another in one process; start each fold's torchrun separately")
        if launched_by_torchrun() and not resume_from and not config.out:
            raise ConfigError("under torchrun give --out DIR: every process must write to and resume from the same folder")
        if args.cv:
            from .cv import run_cross_validation

            run_cross_validation(config, out_dir, args.cv, lambda fold_config, fold_dir: train_and_calibrate(fold_config, fold_dir, args))
        else:
            train_and_calibrate(config, out_dir, args, resume_from)
    except PneumoError as exc:  # every user error (config, data, checkpoint, calibration, model) derives from it
        print(f"pneumo-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pneumo-train: interrupted; resume with --resume", file=sys.stderr)
        return 130
    finally:
        if launched_by_torchrun():
            from .distributed import stop

            stop()
    return 0


def launched_by_torchrun() -> bool:
    """torchrun sets WORLD_SIZE; read here without importing torch (distributed.py does the rest)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


if __name__ == "__main__":
    sys.exit(main())

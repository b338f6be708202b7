"""``pneumo-train``: train a classifier from a YAML config, with CLI overrides and resume."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pneumo_runtime.errors import PneumoError

from .checkpoint import CheckpointError, load_checkpoint
from .config import ConfigError, TrainConfig, add_config_flags, config_from_dict, load_yaml, overrides_from_args
from .data import DataError
from .models import PretrainedWeightsError, UnknownModelError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pneumo-train",
        description="Train a pneumonia classifier on chest X-rays (research use; not a diagnostic device).",
        epilog="Example: pneumo-train --config configs/efficientnet_lite0.yaml --data ../shared/data/kermany_224 --epochs 1",
    )
    parser.add_argument("--config", type=Path, help="YAML file with TrainConfig keys (configs/<model>.yaml)")
    parser.add_argument("--resume", type=Path, help="continue a run: its folder or its last.pt")
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


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config, out_dir, resume_from = resolve(args)
        from .engine import Trainer  # torch loads only once the arguments are known to be good

        Trainer(config, out_dir, resume_from).fit()
    except (ConfigError, DataError, CheckpointError, PretrainedWeightsError, UnknownModelError, PneumoError) as exc:
        print(f"pneumo-train: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pneumo-train: interrupted; resume with --resume", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

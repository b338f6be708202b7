"""Ablations on validation: short runs that each change one setting of a recipe.

    python -m pneumo.training.studies.ablations --config configs/release/binary.yaml \
        --data ../shared/data/kermany_224 --out runs/ablations

Every variant trains under the same short protocol (one epoch on a seeded subset of the train
part, no weight averaging) and is scored on the whole patient-grouped validation split, clean
and under the seeded acquisition shifts. Nothing here reads the test split. A finished variant
is not trained again, so an interrupted study resumes where it stopped.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from pneumo_runtime.json_file import write_json

from ..arguments import add_threads_flag
from ..config import ConfigError, config_from_dict, load_yaml

# One change each against the recipe; the names say what changed.
VARIANTS: dict[str, dict[str, Any]] = {
    "recipe": {},
    "CLAHE off": {"clahe": False},
    "augment strong (interim recipe's)": {"augment": "strong"},
    "strategy feature_extraction": {"strategy": "feature_extraction"},
    "loss focal (gamma 2)": {"loss": "focal"},
}
# 1,000 images x 1 epoch is about 2 minutes of training per variant on 2 CPU cores. An EMA needs more steps
# than one short epoch has, so the protocol scores the raw weights.
SHORT_PROTOCOL: dict[str, Any] = {"epochs": 1, "max_train_samples": 1000, "warmup_epochs": 0.2, "ema_decay": 0.0,
                                  "shift_validation": True, "keep_epoch_checkpoints": False, "monitor": "auc"}
REPORTED = ("auc", "shift_auc", "loss", "shift_loss", "balanced_accuracy", "sensitivity", "specificity")


def slug(name: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def run_variant(base: dict[str, Any], change: dict[str, Any], out_dir: Path) -> dict[str, float]:
    """Train one variant (unless it already finished) and return its validation metrics."""
    history_path = out_dir / "history.json"
    if not history_path.is_file():
        from ..fit.trainer import Trainer  # torch loads only once the arguments are known to be good

        config = config_from_dict({**base, **SHORT_PROTOCOL, **change, "out": str(out_dir)})
        Trainer(config, out_dir).fit()
    row = json.loads(history_path.read_text())[-1]
    return {key: row[f"val_{key}"] for key in REPORTED if f"val_{key}" in row}


def markdown_table(results: dict[str, dict[str, float]]) -> str:
    lines = ["| variant | " + " | ".join(REPORTED) + " |", "| --- |" + " --- |" * len(REPORTED)]
    for name, metrics in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{metrics[k]:.4f}" if k in metrics else "" for k in REPORTED) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.training.studies.ablations", description=__doc__.split("\n")[0])
    parser.add_argument("--config", required=True, type=Path, help="the recipe every variant starts from")
    parser.add_argument("--data", required=True, help="Kermany-style root folder (its train split is used)")
    parser.add_argument("--out", required=True, type=Path)
    add_threads_flag(parser)
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="run these variants only")
    args = parser.parse_args(argv)
    try:
        base = {**load_yaml(args.config), "data": args.data, "threads": args.threads}
        results = {}
        for name in args.only or VARIANTS:
            results[name] = run_variant(base, VARIANTS[name], args.out / slug(name))
            print(f"{name}: " + ", ".join(f"{k} {v:.4f}" for k, v in results[name].items()), file=sys.stderr)
    except ConfigError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    protocol = ", ".join(f"{k}={v}" for k, v in SHORT_PROTOCOL.items())
    write_json(args.out / "ablations.json", {"recipe": str(args.config), "protocol": SHORT_PROTOCOL, "results": results})
    (args.out / "ablations.md").write_text(f"Recipe {args.config}; protocol: {protocol}; validation split only.\n\n{markdown_table(results)}\n")
    print(markdown_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Known failure modes, with examples: the most confident errors of an evaluation, with heatmaps.

    python scripts/failure_examples.py --predictions reports/release-bin/predictions.csv \
        --data ../shared/data/kermany_224 --model default --out docs/model_card/failures

Reads pneumo-evaluate's predictions.csv, takes the false positives with the highest and the false
negatives with the lowest calibrated P(pneumonia) at the model's own threshold, and writes each as
one PNG (the image beside its class-activation overlay) plus an index.md for the model card.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import cv2
import numpy as np

from pneumo.demo.overlay import blend, display_gray
from pneumo_runtime.predictor import Predictor

KINDS = {
    "false positive": lambda row, threshold: row["label"] == "NORMAL" and float(row["p_PNEUMONIA"]) >= threshold,
    "false negative": lambda row, threshold: row["label"] == "PNEUMONIA" and float(row["p_PNEUMONIA"]) < threshold,
}


def confident_errors(rows: list[dict], threshold: float, per_kind: int) -> list[tuple[str, dict]]:
    picked = []
    for kind, is_error in KINDS.items():
        errors = [row for row in rows if is_error(row, threshold)]
        errors.sort(key=lambda row: float(row["p_PNEUMONIA"]), reverse=kind == "false positive")
        picked += [(kind, row) for row in errors[:per_kind]]
    return picked


def render(predictor: Predictor, image_path: Path, out_path: Path) -> None:
    explanation = predictor.explain(image_path, target_class="PNEUMONIA")
    left = display_gray(explanation.image)
    right = blend(explanation.image, explanation.heatmap, 0.45) if explanation.heatmap is not None else left
    cv2.imwrite(str(out_path), cv2.cvtColor(np.hstack([left, right]), cv2.COLOR_RGB2BGR))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--predictions", required=True, type=Path, help="predictions.csv from pneumo-evaluate")
    parser.add_argument("--data", required=True, type=Path, help="the folder the CSV's image paths are relative to")
    parser.add_argument("--model", default="default", help="shipped model name or .onnx path (for the threshold and the maps)")
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--per-kind", type=int, default=3)
    args = parser.parse_args(argv)
    predictor = Predictor(args.model)
    threshold = predictor.contract.threshold if predictor.contract.threshold is not None else 0.5
    with args.predictions.open() as handle:
        rows = list(csv.DictReader(handle))
    args.out.mkdir(parents=True, exist_ok=True)
    lines = [f"Threshold {threshold:.3f} (the model's own). Left: the image; right: its class-activation map for PNEUMONIA.", "",
             "| kind | file | truth | P(pneumonia) | image |", "| --- | --- | --- | --- | --- |"]
    for kind, row in confident_errors(rows, threshold, args.per_kind):
        name = Path(row["image"]).name
        png = f"{kind.replace(' ', '_')}_{Path(name).stem}.png"
        render(predictor, args.data / row["image"], args.out / png)
        lines.append(f"| {kind} | `{row['image']}` | {row['label']} | {float(row['p_PNEUMONIA']):.3f} | ![{name}]({png}) |")
    (args.out / "index.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

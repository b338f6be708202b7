"""Record pneumo-evaluate's test metrics in an exported model's contract, after the export.

An INT8 model can be evaluated only once it exists, so its own test metrics are attached
afterwards instead of borrowing the FP32 model's. Only metadata changes: the graph and the
weights stay as they are, and the sidecar gets the new file hash.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from pneumo_runtime.contract import ModelContract
from pneumo_runtime.model import OnnxModel

from .contract_builder import test_sections
from .errors import ExportError
from .onnx_export import reseal


def record_test_metrics(model_path: Path, metrics_path: Path) -> ModelContract:
    contract = OnnxModel(model_path).contract  # verifies the hash first: a tampered file is never re-sealed
    try:
        metrics = json.loads(metrics_path.read_text())
    except (OSError, ValueError) as exc:
        raise ExportError(f"cannot read test metrics {metrics_path.name}: {exc}") from None
    evaluated = metrics.get("model", {})
    if evaluated.get("model_version") != contract.model_version:
        raise ExportError(f"{metrics_path.name} evaluates {evaluated.get('model_version') or evaluated.get('file')!r}, "
                          f"not {contract.model_version!r}: evaluate this .onnx with pneumo-evaluate first")
    if metrics.get("data", {}).get("split") != "test":
        raise ExportError(f"{metrics_path.name} is not an evaluation on the test split")
    return reseal(model_path, dataclasses.replace(contract, metrics={**contract.metrics, "test": test_sections(metrics)}))

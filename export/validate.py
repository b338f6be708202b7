"""An export proves itself: onnxruntime must match torch on real images."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pneumo_runtime.decision import predicted_indices
from pneumo_runtime.inputs import model_input
from pneumo_runtime.model import OnnxModel

from .errors import ExportError

MAX_PROBABILITY_DIFFERENCE = 1e-4


@dataclass
class ParityReport:
    images: int
    max_abs_probability_difference: float
    identical_labels: bool

    @property
    def passed(self) -> bool:
        return self.identical_labels and self.max_abs_probability_difference <= MAX_PROBABILITY_DIFFERENCE

    def to_dict(self) -> dict:
        return {**asdict(self), "tolerance": MAX_PROBABILITY_DIFFERENCE, "passed": self.passed}


def check_parity(torch_model: torch.nn.Module, onnx_model: OnnxModel, images: list[Path]) -> ParityReport:
    if not images:
        raise ExportError("no validation images: give --validate-images DIR with real X-rays")
    batch = np.stack([model_input(path, onnx_model.contract.preprocess) for path in images])
    contract = onnx_model.contract
    with torch.no_grad():
        torch_probs = torch.softmax(torch_model.eval()(torch.from_numpy(batch)) / contract.temperature, dim=1).numpy()
    onnx_probs = onnx_model.calibrated_probabilities(onnx_model.logits(batch))
    same = bool(np.array_equal(predicted_indices(torch_probs, contract), predicted_indices(onnx_probs, contract)))
    return ParityReport(len(images), float(np.abs(torch_probs - onnx_probs).max()), same)

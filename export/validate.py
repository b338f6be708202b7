"""An export proves itself: onnxruntime must match torch on real images.

``export_checked`` is the one export-then-parity pipeline, for ``pneumo-export`` and
``pneumo-adapt`` alike: write the graph with its contract, ``onnx.checker``'s full check, load it
through the runtime (hash check included), and compare it with torch at one tolerance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from pneumo_runtime.decision import predicted_indices
from pneumo_runtime.inputs import model_input
from pneumo_runtime.model import OnnxModel

from .errors import ExportError, ExportValidationError

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
    """Parity on real image files, preprocessed by the runtime."""
    if not images:
        raise ExportError("no validation images: give --validate-images DIR with real X-rays")
    return batch_parity(torch_model, onnx_model, np.stack([model_input(path, onnx_model.contract.preprocess) for path in images]))


def batch_parity(torch_model: torch.nn.Module, onnx_model: OnnxModel, batch: np.ndarray) -> ParityReport:
    """Calibrated probabilities and decisions of torch and onnxruntime on the same preprocessed ``batch``."""
    contract = onnx_model.contract
    with torch.no_grad():
        torch_probs = torch.softmax(torch_model.eval()(torch.from_numpy(batch)) / contract.temperature, dim=1).numpy()
    onnx_probs = onnx_model.calibrated_probabilities(onnx_model.logits(batch))
    same = bool(np.array_equal(*(predicted_indices(p, contract.threshold, contract.positive_index) for p in (torch_probs, onnx_probs))))
    return ParityReport(len(batch), float(np.abs(torch_probs - onnx_probs).max()), same)


def export_checked(torch_model: torch.nn.Module, contract, path: Path, parity_batch: np.ndarray, opset: int = 17,
                   guard: torch.nn.Module | None = None) -> tuple[OnnxModel, ParityReport]:
    """Export ``torch_model`` with ``contract`` to ``path``, check it, and prove it equal to torch on
    ``parity_batch``; raises ExportValidationError (nothing to keep) when it is not."""
    from .onnx_export import export_onnx_proto, full_check, write_with_contract

    write_with_contract(export_onnx_proto(torch_model, contract.preprocess.input_size, opset, guard), contract, path)
    full_check(path)
    onnx_model = OnnxModel(path)  # through the runtime's own loader, hash check included
    parity = batch_parity(torch_model, onnx_model, parity_batch)
    print(f"parity on {parity.images} real images: max |p_torch - p_onnx| = {parity.max_abs_probability_difference:.2e} "
          f"(limit {MAX_PROBABILITY_DIFFERENCE:g}), labels identical: {parity.identical_labels}")
    if not parity.passed:
        raise ExportValidationError("the ONNX model does not reproduce the torch model; nothing was written")
    return onnx_model, parity

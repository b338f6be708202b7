"""torch -> ONNX: logits and the last feature map, a dynamic batch axis, the contract embedded."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from pneumo_runtime.contract import FEATURES_NAME, INPUT_NAME, LOGITS_NAME, METADATA_KEY, ModelContract, file_sha256, sidecar_path

from .errors import ExportError

DEFAULT_OPSET = 17


class LogitsAndFeatures(nn.Module):
    """Exposes the feature map next to the logits, so the runtime can draw a CAM without torch."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feature_map = self.model.features(image)
        return self.model.head(feature_map), feature_map


def export_onnx_proto(model: nn.Module, input_size: int, opset: int) -> onnx.ModelProto:
    """The TorchScript-based exporter: mature for CNNs, and it needs no onnxscript at run time."""
    wrapper = LogitsAndFeatures(model).eval()
    buffer = io.BytesIO()
    dummy = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                wrapper, (dummy,), buffer, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=[LOGITS_NAME, FEATURES_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, LOGITS_NAME: {0: "batch"}, FEATURES_NAME: {0: "batch"}},
            )
        except Exception as exc:
            raise ExportError(f"torch.onnx.export failed at opset {opset}: {str(exc).splitlines()[0]}") from None
    return onnx.load_from_string(buffer.getvalue())


def write_with_contract(proto: onnx.ModelProto, contract: ModelContract, path: Path) -> ModelContract:
    """Embed the contract in ``metadata_props``, write the file, then record its hash in the sidecar."""
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract.to_json()
    proto.producer_name = "pneumo-export"
    onnx.save(proto, str(path))
    sealed = ModelContract.from_dict({**contract.to_dict(), "onnx_sha256": file_sha256(path)})
    sidecar_path(path).write_text(sealed.to_json())
    return sealed


def full_check(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected {path.name}: {str(exc).splitlines()[0]}") from None

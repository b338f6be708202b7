"""torch -> ONNX: logits and the last feature map, a dynamic batch axis, the contract embedded."""

from __future__ import annotations

import dataclasses
import io
import os
import tempfile
import warnings
from pathlib import Path

import onnx
import torch
from torch import nn

from pneumo_runtime.contract import FEATURES_NAME, GUARD_NAME, INPUT_NAME, LOGITS_NAME, METADATA_KEY, ModelContract, file_sha256, sidecar_path

from .errors import ExportError


class ExportedGraph(nn.Module):
    """Logits, the feature map (the runtime draws CAMs from it) and, with a guard, the distance of
    the image's features to the training X-rays."""

    def __init__(self, model: nn.Module, guard: nn.Module | None):
        super().__init__()
        self.model, self.guard = model, guard

    def forward(self, image: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feature_map = self.model.features(image)
        logits = self.model.head(feature_map)
        return (logits, feature_map) if self.guard is None else (logits, feature_map, self.guard(feature_map))


def export_onnx_proto(model: nn.Module, input_size: int, opset: int, guard: nn.Module | None = None) -> onnx.ModelProto:
    """The TorchScript-based exporter: mature for CNNs, and it needs no onnxscript at run time."""
    wrapper = ExportedGraph(model, guard).eval()
    outputs = [LOGITS_NAME, FEATURES_NAME] + ([GUARD_NAME] if guard is not None else [])
    buffer = io.BytesIO()
    dummy = torch.zeros(1, 3, input_size, input_size)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            torch.onnx.export(
                wrapper, (dummy,), buffer, dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=outputs, dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *outputs]},
            )
        except Exception as exc:
            raise ExportError(f"torch.onnx.export failed at opset {opset}: {str(exc).splitlines()[0]}") from None
    return onnx.load_from_string(buffer.getvalue())


def write_with_contract(proto: onnx.ModelProto, contract: ModelContract, path: Path) -> ModelContract:
    """Embed the contract in ``metadata_props``, write the file, then record its hash in the sidecar.
    A population check is left out: it is fitted on the written file's features and sealed to its
    hash afterwards (``population_fit.seal``), so a carried-over one would belong to another file."""
    contract = dataclasses.replace(contract, population_check=None)
    del proto.metadata_props[:]
    entry = proto.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, contract.to_json()
    proto.producer_name = "pneumo-export"
    onnx.save(proto, str(path))
    sealed = ModelContract.from_dict({**contract.to_dict(), "onnx_sha256": file_sha256(path)})
    sidecar_path(path).write_text(sealed.to_json())
    return sealed


def reseal(path: Path, contract: ModelContract) -> ModelContract:
    """Replace an exported model's contract (embedded copy and sidecar); graph and weights stay."""
    with tempfile.TemporaryDirectory(dir=path.parent) as staging:
        staged = Path(staging) / path.name
        sealed = write_with_contract(onnx.load(str(path)), dataclasses.replace(contract, onnx_sha256=""), staged)
        os.replace(sidecar_path(staged), sidecar_path(path))
        os.replace(staged, path)
    if contract.population_check is not None:  # same graph, same features: the same check, bound to the new file
        from .guard.population_fit import seal

        seal(path, contract.population_check)
    return sealed


def full_check(path: Path) -> None:
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except Exception as exc:
        raise ExportError(f"onnx.checker rejected {path.name}: {str(exc).splitlines()[0]}") from None

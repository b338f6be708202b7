"""Static INT8 quantisation (QDQ) calibrated on real training images, accepted only if it keeps
its AUC on the validation split."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from sklearn.metrics import accuracy_score

from pneumo_runtime.contract import INPUT_NAME, ModelContract
from pneumo_runtime.decision import predicted_indices
from pneumo_runtime.model import OnnxModel

from .errors import ExportError
from .onnx_export import write_with_contract

logging.getLogger().setLevel(logging.ERROR)  # onnxruntime.quantization logs advice through the root logger


class BatchReader(CalibrationDataReader):
    def __init__(self, images: np.ndarray, batch_size: int = 8):
        self._batches = iter([{INPUT_NAME: images[i:i + batch_size]} for i in range(0, len(images), batch_size)])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._batches, None)


@dataclass(frozen=True)
class QuantVariant:
    """One way to quantise. The default is what ``pneumo-export --quantize int8`` ships; the others
    are the alternatives ``python -m benchmarks.int8_variants`` measures against it."""

    name: str = "qdq-per-channel"
    quant_format: str = "QDQ"  # "QDQ" (QuantizeLinear/DequantizeLinear pairs) or "QOperator" (QLinearConv, ...)
    per_channel: bool = True  # one weight scale per output channel, against one per tensor
    exclude_depthwise: bool = False  # keep depthwise convolutions in FP32 (they quantise worst and gain least)
    pre_process: bool = True  # onnxruntime.quantization.shape_inference.quant_pre_process first
    # Pin the batch axis to 1 before pre-processing, so that its graph optimisation can fold the
    # "same"-padding arithmetic and fuse the pads into the convolutions, as the runtime's pinned
    # session does for FP32; otherwise the pads and clips stay between quantised convolutions.
    static_batch: bool = False

    def describe(self) -> dict:
        return asdict(self)


def depthwise_convolutions(model: onnx.ModelProto) -> list[str]:
    """Names of the Conv nodes whose group equals their input channels (group > 1)."""
    names = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            group = next((attribute.i for attribute in node.attribute if attribute.name == "group"), 1)
            if group > 1:
                names.append(node.name)
    return names


def with_batch_of_one(model: onnx.ModelProto) -> onnx.ModelProto:
    """The same graph with its inputs' and outputs' first axis fixed to 1."""
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if dims and dims[0].dim_param:
            dims[0].dim_value = 1
    return model


def quantize_int8(fp32_path: Path, int8_path: Path, calibration_images: np.ndarray, contract: ModelContract,
                  variant: QuantVariant = QuantVariant()) -> ModelContract:
    """U8 activations with S8 weights: the fast combination on x86 CPUs (VNNI)."""
    with tempfile.TemporaryDirectory() as scratch:
        prepared, raw = Path(scratch) / "prepared.onnx", Path(scratch) / "int8.onnx"
        try:
            if variant.static_batch:
                pinned = Path(scratch) / "pinned.onnx"
                onnx.save(with_batch_of_one(onnx.load(str(fp32_path))), str(pinned))
                fp32_path = pinned
            if variant.pre_process:
                # ONNX shape inference and graph folding first, as onnxruntime recommends for static
                # quantisation. Its *symbolic* shape inference is skipped: it adds nothing for a plain
                # CNN and fails on the ensemble's Concat of feature maps (onnxruntime PR #21330 turns
                # it off by default for that reason).
                quant_pre_process(str(fp32_path), str(prepared), skip_symbolic_shape=True)
            else:
                prepared = fp32_path
            excluded = depthwise_convolutions(onnx.load(str(prepared))) if variant.exclude_depthwise else []
            quantize_static(
                str(prepared), str(raw), BatchReader(calibration_images, 1 if variant.static_batch else 8),
                quant_format=QuantFormat.QDQ if variant.quant_format == "QDQ" else QuantFormat.QOperator,
                per_channel=variant.per_channel, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                op_types_to_quantize=["Conv", "Gemm"],  # not the guard's feature-bank MatMul: its distances must stay exact
                nodes_to_exclude=excluded,
            )
        except Exception as exc:  # onnxruntime raises bare Exceptions; the user gets one line
            raise ExportError(f"INT8 quantisation failed: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None
        return write_with_contract(onnx.load(str(raw)), contract, int8_path)


@dataclass
class ModelScore:
    auc: float
    accuracy: float
    latency_ms_p50: float
    size_mb: float


def score(model: OnnxModel, images: np.ndarray, labels: np.ndarray) -> ModelScore:
    probabilities = np.concatenate([model.calibrated_probabilities(model.logits(images[i:i + 32])) for i in range(0, len(images), 32)])
    from pneumo.training.evaluation.metrics import auc_roc  # the one AUC rule; lazy: the light export paths stay torch-free

    auc = auc_roc(labels, probabilities)
    accuracy = accuracy_score(labels, predicted_indices(probabilities, model.contract.threshold, model.contract.positive_index))
    return ModelScore(float(auc), float(accuracy), latency_ms(model, images[:1]), model.path.stat().st_size / 1e6)


def latency_ms(model: OnnxModel, one_image: np.ndarray, runs: int = 20) -> float:
    model.logits(one_image)  # warm-up: the first run allocates
    timings = []
    for _ in range(runs):
        started = time.perf_counter()
        model.logits(one_image)
        timings.append((time.perf_counter() - started) * 1000)
    return float(np.median(timings))


@dataclass
class QuantizationReport:
    fp32: ModelScore
    int8: ModelScore
    auc_drop: float
    max_auc_drop: float
    accepted: bool
    validation_images: int

    def to_dict(self) -> dict:
        return asdict(self)

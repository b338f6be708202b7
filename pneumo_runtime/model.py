"""An exported model on onnxruntime: contract checked, hash verified, session tuned for a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .contract import FEATURES_NAME, GUARD_NAME, INPUT_NAME, LOGITS_NAME, METADATA_KEY, ModelContract, read_sidecar, sidecar_path, verify_hash
from .decision import softmax
from .errors import ModelError

BATCH_DIMENSION = "batch"  # the symbolic first axis pneumo-export writes (export/onnx_export.py)


def contract_from_metadata(session: ort.InferenceSession) -> ModelContract:
    raw = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
    if raw is None:
        raise ModelError("the model carries no pneumo contract (neither a sidecar JSON nor ONNX metadata)")
    return ModelContract.from_dict(json.loads(raw))


def session_options(threads: int | None, batch_dimension: str | None = BATCH_DIMENSION) -> ort.SessionOptions:
    """CPU settings, each measured by ``python -m benchmarks`` (README, "Performance").

    ``batch_dimension``: the name of the input's symbolic batch axis, pinned to 1. Exported models
    keep the batch axis free, and with it unknown, onnxruntime cannot fold the "same"-padding
    arithmetic of EfficientNet-Lite (Shape, Gather, Ceil, Pad: about 400 nodes) nor fuse the pads
    into the convolutions, and it reorders the blocked NCHWc layout around every such pad. Pinned,
    the optimised ensemble shrinks from about 500 nodes to about 110; end to end a full-size film
    is 1.14-1.23x faster (python -m benchmarks.pinned_batch).
    """
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if batch_dimension:
        options.add_free_dimension_override_by_name(batch_dimension, 1)
    options.inter_op_num_threads = 1  # one graph path: inter-op threads would only idle
    if threads:
        options.intra_op_num_threads = threads
    # Threads that spin while waiting for work take the CPU from decoding, from other workers and
    # from everything else on a clinic laptop; measured, spinning buys nothing on a busy machine.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3  # errors only: warnings would clutter a clinician's terminal
    return options


class OnnxModel:
    """Loads ``model.onnx`` with its ``model.json`` contract.

    The sidecar is required by default because it carries the file's SHA-256; a bare ``.onnx``
    (contract read from its metadata) loads only with ``verify=False``.
    """

    def __init__(self, path: str | Path, threads: int | None = None, verify: bool = True):
        path = Path(path)
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        has_sidecar = sidecar_path(path).is_file()
        contract = read_sidecar(path) if has_sidecar or verify else None
        if verify and contract is not None:  # verify reads the sidecar above: never None here
            verify_hash(path, contract)
        try:
            self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for a corrupt graph
            raise ModelError(f"onnxruntime cannot load {path.name}: {str(exc).splitlines()[0][:200]}") from None
        embedded = contract_from_metadata(self.session)
        sidecar_only = {"onnx_sha256": contract.onnx_sha256, "population_check": contract.to_dict()["population_check"]} if contract else {}
        if contract is not None and contract.to_dict() != {**embedded.to_dict(), **sidecar_only}:
            # The .onnx is covered by the hash; the sidecar is not, so it must agree with the copy inside.
            raise ModelError(f"{sidecar_path(path).name} does not match the contract embedded in {path.name}: it was edited or mixed up")
        self.contract: ModelContract = contract or embedded
        self.path = path
        outputs = {o.name for o in self.session.get_outputs()}
        if LOGITS_NAME not in outputs:
            raise ModelError(f"{path.name} has no '{LOGITS_NAME}' output; was it exported by pneumo-export?")
        self.has_features = FEATURES_NAME in outputs
        self.has_guard = GUARD_NAME in outputs

    def logits(self, batch: np.ndarray) -> np.ndarray:
        """float32 (N, 3, S, S) preprocessed images -> (N, K) logits (before temperature)."""
        return self._run([LOGITS_NAME], batch)[0]

    def outputs(self, batch: np.ndarray, features: bool = False) -> dict[str, np.ndarray]:
        """Logits, plus the guard distance when the model has one, plus the feature map if asked."""
        names = [LOGITS_NAME] + ([GUARD_NAME] if self.has_guard else []) + ([FEATURES_NAME] if features else [])
        if features and not self.has_features:
            raise ModelError(f"{self.path.name} exports no feature map, so it cannot draw a heatmap")
        return dict(zip(names, self._run(names, batch), strict=True))

    def _run(self, outputs: list[str], batch: np.ndarray) -> list[np.ndarray]:
        """The session is specialised to one image, so a batch runs image by image. Measured on a
        CPU, that is also the fastest way: a batch of 32 through a free-batch session gave fewer
        images per second than 32 single runs (activations of a whole batch leave the caches)."""
        try:
            if len(batch) == 1:
                return self.session.run(outputs, {INPUT_NAME: np.ascontiguousarray(batch, np.float32)})
            runs = [self.session.run(outputs, {INPUT_NAME: np.ascontiguousarray(image[None], np.float32)}) for image in batch]
            return [np.concatenate(parts) for parts in zip(*runs, strict=True)] if runs else self._empty(outputs, batch)
        except Exception as exc:  # onnxruntime's own exception types are not part of its API
            raise ModelError(f"inference failed: {str(exc).splitlines()[0][:200]}") from None

    def _empty(self, outputs: list[str], batch: np.ndarray) -> list[np.ndarray]:
        """An empty batch gives empty outputs of the right width, as a free-batch session would."""
        probe = self.session.run(outputs, {INPUT_NAME: np.zeros((1, *batch.shape[1:]), np.float32)})
        return [part[:0] for part in probe]

    def calibrated_probabilities(self, logits: np.ndarray) -> np.ndarray:
        return softmax(logits, self.contract.temperature)


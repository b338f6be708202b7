"""One request's work, free of Gradio: prediction, heatmap, the words and numbers to show."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pneumo_runtime.decision import REJECTED
from pneumo_runtime.errors import ModelError
from pneumo_runtime.predictor import Prediction, Predictor
from pneumo_runtime.records import prediction_record
from pneumo_runtime.torch_twin import torch_twin

from .texts import recommendation
from .torch_explain import METHOD as GRADCAM_METHOD
from .torch_explain import TorchExplainer, TorchUnavailableError

EXPLAIN_MODES = ("auto", "captum", "cam", "off")
CAM_METHOD = "CAM from the ONNX model's feature map (equals Grad-CAM for this head)"


@dataclass(frozen=True)
class Analysis:
    prediction: Prediction
    details: dict  # plain JSON: what the API returns besides the label
    gray: np.ndarray | None = None  # the decoded image; None for /predict
    heatmap: np.ndarray | None = None  # [0, 1], same size as ``gray``; None when rejected or explanations are off
    attention: np.ndarray | None = None
    method: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)


def load_explainer(mode: str, checkpoint: str | Path | None, predictor: Predictor) -> tuple[TorchExplainer | None, str]:
    """The torch explainer (or None) and a one-line note on which method draws maps and why.

    ``captum`` insists and raises a ModelError; ``auto`` falls back to the runtime's CAM."""
    if mode not in EXPLAIN_MODES:
        raise ModelError(f"unknown explain mode {mode!r}; choose one of {', '.join(EXPLAIN_MODES)}")
    if mode in ("cam", "off"):
        return None, {"cam": CAM_METHOD, "off": "explanations are off"}[mode]
    if checkpoint is None:  # beside the model (pneumo-export, a checkout) or from pneumo-torch-weights
        checkpoint = torch_twin(predictor.model.path)
    if checkpoint is None:
        if mode == "captum":
            raise ModelError("--explain captum needs --checkpoint FILE: the torch checkpoint the ONNX model was exported from")
        return None, f"{CAM_METHOD}; no --checkpoint given for Captum"
    try:
        return TorchExplainer(checkpoint, predictor.contract), GRADCAM_METHOD
    except (TorchUnavailableError, ModelError) as exc:
        if mode == "captum":
            raise
        return None, f"{CAM_METHOD}; Captum not used: {exc}"


class DemoService:
    def __init__(self, predictor: Predictor, explainer: TorchExplainer | None = None, explain_mode: str = "cam", note: str = ""):
        self.predictor = predictor
        self.contract = predictor.contract
        self.explainer = explainer
        self.explain_mode = explain_mode
        self.note = note or (GRADCAM_METHOD if explainer else CAM_METHOD)

    def predict(self, source: str | Path | bytes, patient_age: str | float | None = None) -> Analysis:
        started = time.perf_counter()
        prediction = self.predictor.predict(source, patient_age=patient_age)
        return self._analysis(prediction, started)

    def explain(self, source: str | Path | bytes, patient_age: str | float | None = None) -> Analysis:
        started = time.perf_counter()
        if self.explain_mode == "off":
            return self._analysis(self.predictor.predict(source, patient_age=patient_age), started)
        explanation = self.predictor.explain(source, patient_age=patient_age)  # the runtime CAM costs one matrix product: always computed
        prediction, gray, heatmap, method, attention = explanation.prediction, explanation.image, explanation.heatmap, CAM_METHOD, None
        if heatmap is not None and self.explainer is not None:
            heatmap = self.explainer.gradcam_map(gray, explanation.target_class)
            attention = self.explainer.attention_map(gray)
            method = GRADCAM_METHOD
        if heatmap is None:
            method = ""
        return self._analysis(prediction, started, gray, heatmap, attention, method)

    def _analysis(self, prediction: Prediction, started: float, gray: np.ndarray | None = None, heatmap: np.ndarray | None = None,
                  attention: np.ndarray | None = None, method: str = "") -> Analysis:
        total_ms = (time.perf_counter() - started) * 1000
        details = {**prediction_record(prediction, self.contract, total_ms),
                   "recommendation": recommendation(prediction.decision, prediction.reason), "explanation_method": method or None}
        return Analysis(prediction, details, gray, heatmap, attention, method, {"total": total_ms})


def is_rejected(analysis: Analysis) -> bool:
    return analysis.prediction.decision == REJECTED

"""``Predictor``: image in, calibrated decision out, on onnxruntime alone."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Iterable

import numpy as np

from .cam import class_activation_map
from .contract import FEATURES_NAME, GUARD_NAME, LOGITS_NAME
from .decision import REJECTED, decisions
from .errors import InvalidImageError, PneumoError
from .guard import InputGuard
from .inputs import DEFAULT_MAX_PIXELS, LoadedImage, load_image
from .model import OnnxModel
from .preprocess import prepare_gray, to_model_input

Source = str | Path | bytes | np.ndarray


def models_folder() -> Path:
    return Path(str(resources.files("pneumo_runtime") / "models"))


def shipped_models() -> dict[str, Path]:
    """Models inside the package, by name: ``default``, ``default.int8``, ``three_class``, ..."""
    return {path.name.removesuffix(".onnx"): path for path in sorted(models_folder().glob("*.onnx"))}


def default_model_path() -> Path:
    """The model that ships inside the package (``pneumo_runtime/models/default.onnx``)."""
    return models_folder() / "default.onnx"


def resolve_model(model: str | Path | None) -> Path:
    """``None`` is the default model; a shipped model's name is that model; anything else is a path."""
    if model is None:
        return default_model_path()
    shipped = {} if Path(model).exists() else shipped_models()
    return shipped.get(str(model), Path(model))


@dataclass(frozen=True)
class Prediction:
    decision: str  # a class name (NORMAL, PNEUMONIA, ...), REFER or REJECTED
    reason: str
    label: str | None  # the model's label before the referral rule; None when rejected
    probabilities: dict[str, float] = field(default_factory=dict)  # calibrated; empty when rejected
    threshold: float | None = None
    uncertainty: float | None = None
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def p_pneumonia(self) -> float | None:
        """P(pneumonia); for a model with pneumonia sub-classes, everything that is not NORMAL."""
        if "PNEUMONIA" in self.probabilities or "NORMAL" not in self.probabilities:
            return self.probabilities.get("PNEUMONIA")
        return 1.0 - self.probabilities["NORMAL"]

    def to_dict(self) -> dict:
        return {**asdict(self), "p_pneumonia": self.p_pneumonia}


@dataclass(frozen=True)
class Explanation:
    prediction: Prediction
    image: np.ndarray  # the decoded grayscale image, uint8, at its own resolution
    heatmap: np.ndarray | None  # float32 in [0, 1], same size as ``image``; None when rejected
    target_class: str | None
    method: str = "CAM (runtime, equals Grad-CAM for this head)"


class Predictor:
    def __init__(self, model_path: str | Path | None = None, threads: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, verify: bool = True):
        self.model = OnnxModel(resolve_model(model_path), threads=threads, verify=verify)
        self.contract = self.model.contract
        self.max_pixels = max_pixels
        self.guard = InputGuard(self.contract.guard)

    def predict(self, source: Source) -> Prediction:
        return self._guarded(source, want_features=False)[0]

    def predict_batch(self, sources: Iterable[Source]) -> list[Prediction | PneumoError]:
        """One result per source, in order; a failure is returned in its slot, never raised."""
        results: list[Prediction | PneumoError] = []
        for source in sources:
            try:
                results.append(self.predict(source))
            except PneumoError as error:
                results.append(error)
        return results

    def explain(self, source: Source, target_class: str | None = None) -> Explanation:
        """Prediction plus a class activation map for ``target_class`` (default: the pneumonia class;
        with pneumonia sub-classes, the more probable one, since a map of "normal" shows nothing)."""
        prediction, loaded, features = self._guarded(source, want_features=True)
        if features is None:
            return Explanation(prediction, loaded.gray, None, None)
        classes = self.contract.classes
        target = target_class or self._default_target(prediction)
        heatmap = class_activation_map(features, np.array(self.contract.cam_weights), classes.index(target), loaded.gray.shape)
        return Explanation(prediction, loaded.gray, heatmap, target)

    def _default_target(self, prediction: Prediction) -> str:
        return max(self.contract.pneumonia_classes, key=lambda c: prediction.probabilities.get(c, 0.0))

    def _guarded(self, source: Source, want_features: bool) -> tuple[Prediction, LoadedImage, np.ndarray | None]:
        """The safety net: whatever an odd input makes OpenCV or numpy raise leaves as a PneumoError."""
        try:
            return self._run(source, want_features)
        except PneumoError:
            raise
        except MemoryError:
            raise InvalidImageError("not enough memory to process this image") from None
        except Exception as exc:  # the message is left out: a library's message may quote header values
            raise PneumoError(f"could not process this input ({type(exc).__name__})") from None

    def _run(self, source: Source, want_features: bool) -> tuple[Prediction, LoadedImage, np.ndarray | None]:
        started = time.perf_counter()
        loaded = load_image(source, self.max_pixels, reduce_to=self.contract.preprocess.input_size)
        decoded = time.perf_counter()
        prepared = prepare_gray(loaded.gray, self.contract.preprocess)
        timings = {"decode": (decoded - started) * 1000, "preprocess": (time.perf_counter() - decoded) * 1000}
        refusal = self.guard.before_inference(loaded, prepared)
        if refusal:
            return self._rejected(refusal, timings, started), loaded, None
        inference_started = time.perf_counter()
        outputs = self.model.outputs(to_model_input(prepared, self.contract.preprocess)[None], features=want_features)
        timings["inference"] = (time.perf_counter() - inference_started) * 1000
        distance = outputs.get(GUARD_NAME)
        refusal = self.guard.after_inference(None if distance is None else float(distance[0]))
        if refusal:
            return self._rejected(refusal, timings, started), loaded, None
        probabilities = self.model.calibrated_probabilities(outputs[LOGITS_NAME])
        labels, uncertainty, names = decisions(probabilities, self.contract)
        timings["total"] = (time.perf_counter() - started) * 1000
        prediction = Prediction(
            decision=names[0],
            reason=self._reason(names[0], float(uncertainty[0])),
            label=self.contract.classes[labels[0]],
            probabilities={c: float(p) for c, p in zip(self.contract.classes, probabilities[0])},
            threshold=self.contract.threshold,
            uncertainty=float(uncertainty[0]),
            timings_ms=timings,
        )
        return prediction, loaded, outputs[FEATURES_NAME][0] if want_features else None

    def _reason(self, decision: str, uncertainty: float) -> str:
        if decision == "REFER":
            return f"uncertain: {uncertainty:.2f} is above the referral cut-off {self.contract.uncertainty.cutoff:.2f}"
        if self.contract.threshold is not None and len(self.contract.classes) == 2:
            return f"P(PNEUMONIA) compared with the calibrated threshold {self.contract.threshold:.3f}"
        return "most probable class"

    @staticmethod
    def _rejected(reason: str, timings: dict[str, float], started: float) -> Prediction:
        timings["total"] = (time.perf_counter() - started) * 1000
        return Prediction(decision=REJECTED, reason=reason, label=None, timings_ms=timings)

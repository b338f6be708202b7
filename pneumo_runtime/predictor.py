"""``Predictor``: image in, calibrated decision out, on onnxruntime alone."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .cam import class_activation_map
from .contract import FEATURES_NAME, GUARD_NAME, LOGITS_NAME
from .decision import REJECTED, decisions
from .dicom import dicom_scope
from .errors import InvalidImageError, PneumoError
from .film_layout import layout_refusal, named_fault, undo_fault
from .guard import InputGuard
from .image_header import sniff_format
from .inputs import DEFAULT_MAX_PIXELS, SNIFF_BYTES, LoadedImage, load_image, read_source
from .model import OnnxModel
from .preprocess import prepare_gray, to_model_input
from .scope import ADULT_FILM, TURN_HINT, PopulationCheck, age_refusal, header_refusal, parse_age

Source = str | Path | bytes | np.ndarray
Age = str | float | None  # years, or DICOM's "003Y"; None: not stated


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
    image: np.ndarray | None  # the decoded grayscale image, uint8, at its own resolution; None when refused unread
    heatmap: np.ndarray | None  # float32 in [0, 1], same size as ``image``; None when rejected
    target_class: str | None
    method: str = "CAM (runtime, equals Grad-CAM for this head)"


class Predictor:
    """``patient_age``: the age in years stated for every film this predictor reads (the CLI's
    ``--patient-age``); a call's own ``patient_age`` wins. Outside 1-5 years every film is REJECTED
    (``scope``); a DICOM file's header is read for its age when none is stated."""

    def __init__(self, model_path: str | Path | None = None, threads: int | None = None,
                 max_pixels: int = DEFAULT_MAX_PIXELS, verify: bool = True, patient_age: Age = None):
        self.model = OnnxModel(resolve_model(model_path), threads=threads, verify=verify)
        self.contract = self.model.contract
        self.max_pixels = max_pixels
        self.guard = InputGuard(self.contract.guard)
        self.population = self.contract.population_check if self.model.has_features else None
        self.patient_age = parse_age(patient_age)

    def predict(self, source: Source, patient_age: Age = None) -> Prediction:
        return self._guarded(source, want_features=False, patient_age=patient_age)[0]

    def predict_batch(self, sources: Iterable[Source], patient_age: Age = None) -> list[Prediction | PneumoError]:
        """One result per source, in order; a failure is returned in its slot, never raised."""
        results: list[Prediction | PneumoError] = []
        for source in sources:
            try:
                results.append(self.predict(source, patient_age))
            except PneumoError as error:
                results.append(error)
        return results

    def explain(self, source: Source, target_class: str | None = None, patient_age: Age = None) -> Explanation:
        """Prediction plus a class activation map for ``target_class`` (default: the pneumonia class;
        with pneumonia sub-classes, the more probable one, since a map of "normal" shows nothing)."""
        prediction, loaded, features = self._guarded(source, want_features=True, patient_age=patient_age)
        if features is None or loaded is None:
            return Explanation(prediction, None if loaded is None else loaded.gray, None, None)
        classes = self.contract.classes
        target = target_class or self._default_target(prediction)
        heatmap = class_activation_map(features, np.array(self.contract.cam_weights), classes.index(target), loaded.gray.shape)
        return Explanation(prediction, loaded.gray, heatmap, target)

    def _default_target(self, prediction: Prediction) -> str:
        return max(self.contract.pneumonia_classes, key=lambda c: prediction.probabilities.get(c, 0.0))

    def _guarded(self, source: Source, want_features: bool, patient_age: Age) -> tuple[Prediction, LoadedImage | None, np.ndarray | None]:
        """The safety net: whatever an odd input makes OpenCV or numpy raise leaves as a PneumoError."""
        try:
            return self._run(source, want_features, parse_age(patient_age) if patient_age is not None else self.patient_age)
        except PneumoError:
            raise
        except MemoryError:
            raise InvalidImageError("not enough memory to process this image") from None
        except Exception as exc:  # the message is left out: a library's message may quote header values
            raise PneumoError(f"could not process this input ({type(exc).__name__})") from None

    def _run(self, source: Source, want_features: bool, age: float | None) -> tuple[Prediction, LoadedImage | None, np.ndarray | None]:
        started = time.perf_counter()
        timings: dict[str, float] = {}
        refusal = age_refusal(age)  # a stated age decides before anything is read
        if refusal:
            return self._rejected(refusal, timings, started), None, None
        if not isinstance(source, np.ndarray):
            source = read_source(source, self.max_pixels)
            if sniff_format(source[:SNIFF_BYTES]) == "dicom":  # the header, before any pixel
                header = dicom_scope(source)
                refusal = header_refusal(header, age)
                if refusal:
                    return self._rejected(refusal, timings, started), None, None
                age = age if age is not None else header.age_years
        loaded = load_image(source, self.max_pixels, reduce_to=self.contract.preprocess.input_size)
        decoded = time.perf_counter()
        prepared = prepare_gray(loaded.gray, self.contract.preprocess)
        timings.update(decode=(decoded - started) * 1000, preprocess=(time.perf_counter() - decoded) * 1000)
        refusal = self.guard.before_inference(loaded, prepared)
        if refusal:
            return self._rejected(self._named_cause(refusal, prepared), timings, started), loaded, None
        inference_started = time.perf_counter()
        outputs = self.model.outputs(self._model_input(prepared), features=want_features or self.population is not None)
        timings["inference"] = (time.perf_counter() - inference_started) * 1000
        distance = outputs.get(GUARD_NAME)
        refusal = self.guard.after_inference(None if distance is None else float(distance[0]))
        if refusal:
            return self._rejected(refusal, timings, started), loaded, None
        if self.population is not None:
            verdict = self.population.refusal(self.population.score(outputs[FEATURES_NAME]), age)
            if verdict:
                return self._rejected(verdict[1], timings, started, verdict[0]), loaded, None
        probabilities = self.model.calibrated_probabilities(outputs[LOGITS_NAME])
        labels, uncertainty, names = decisions(probabilities, self.contract)
        timings["total"] = (time.perf_counter() - started) * 1000
        prediction = Prediction(
            decision=names[0],
            reason=self._reason(names[0], float(uncertainty[0])),
            label=self.contract.classes[labels[0]],
            probabilities={c: float(p) for c, p in zip(self.contract.classes, probabilities[0], strict=True)},
            threshold=self.contract.threshold,
            uncertainty=float(uncertainty[0]),
            timings_ms=timings,
        )
        return prediction, loaded, outputs[FEATURES_NAME][0] if want_features else None

    def _model_input(self, prepared: np.ndarray) -> np.ndarray:
        return to_model_input(prepared, self.contract.preprocess)[None]

    def _named_cause(self, refusal: str, prepared: np.ndarray) -> str:
        """A layout refusal names a turned or negative film only when the model agrees. Undone, the
        film must look like a training child's; and a negative, as given, must not look like an
        adult's (the negative of a child's film does not: 99.8% of inverted training films score
        below the rejection cut-off). An upright adult's film matches the templates worse than a
        child's and can look turned or inverted; its reason is then the adult one."""
        population = self.population
        fault = named_fault(prepared) if population is not None and refusal == layout_refusal(prepared) else None
        if population is None or fault is None:
            return refusal
        undone_is_a_child = self._population_score(population, undo_fault(prepared, *fault)) <= population.refer_above
        as_given_not_adult = not fault[1] or self._population_score(population, prepared) <= population.reject_above
        return refusal if undone_is_a_child and as_given_not_adult else ADULT_FILM + TURN_HINT

    def _population_score(self, population: PopulationCheck, prepared: np.ndarray) -> float:
        return population.score(self.model.outputs(self._model_input(prepared), features=True)[FEATURES_NAME])

    def _reason(self, decision: str, uncertainty: float) -> str:
        if decision == "REFER":
            return f"uncertain: {uncertainty:.2f} is above the referral cut-off {self.contract.uncertainty.cutoff:.2f}"
        if self.contract.threshold is not None and len(self.contract.classes) == 2:
            return f"P(PNEUMONIA) compared with the calibrated threshold {self.contract.threshold:.3f}"
        return "most probable class"

    @staticmethod
    def _rejected(reason: str, timings: dict[str, float], started: float, decision: str = REJECTED) -> Prediction:
        """A refusal: no label, no probability (REFER here means "not ours to read", not "unsure")."""
        timings["total"] = (time.perf_counter() - started) * 1000
        return Prediction(decision=decision, reason=reason, label=None, timings_ms=timings)

"""The model contract: everything a runtime needs to use an exported model correctly.

It travels twice: as a JSON sidecar beside the ``.onnx`` (``<name>.json``, which also records the
SHA-256 of the ``.onnx`` file), and inside the ONNX ``metadata_props`` so that a bare ``.onnx``
still says what it is. The runtime reads classes, input size, normalisation, CLAHE, temperature,
threshold and uncertainty cut-off from here and nowhere else.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .errors import ModelError
from .guard import GuardSettings
from .preprocess import PreprocessSettings
from .scope import PopulationCheck

FORMAT_VERSION = 1
METADATA_KEY = "pneumo_contract"
INPUT_NAME = "image"
LOGITS_NAME = "logits"
FEATURES_NAME = "features"
GUARD_NAME = "guard_distance"  # optional output: distance of the image's features to training X-rays


@dataclass(frozen=True)
class UncertaintyRule:
    """Cases whose uncertainty exceeds ``cutoff`` are referred to a radiologist."""

    method: str = "entropy"  # binary entropy (bits) of the calibrated probability; normalised for K > 2
    cutoff: float | None = None  # None: never refer


@dataclass(frozen=True)
class ModelContract:
    architecture: str
    classes: tuple[str, ...]
    preprocess: PreprocessSettings
    temperature: float
    threshold: float | None  # on P(positive class) for binary models; None: argmax
    uncertainty: UncertaintyRule
    cam_weights: tuple[tuple[float, ...], ...]  # the head's linear weights (K x C): CAM without torch
    cam_bias: tuple[float, ...]
    guard: GuardSettings = field(default_factory=GuardSettings)
    model_version: str = ""
    threshold_rule: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)  # {"validation": {...}, "test": {...} or None}
    intended_use: str = ""
    disclaimer: str = ""
    data_citation: str = ""
    config_digest: str = ""
    training_config: dict[str, Any] = field(default_factory=dict)
    # Empty for a model as shipped. A site model (pneumo-adapt) records here the site, what was
    # adapted (batch-norm statistics, calibration), from which model, and on how many films.
    site_adaptation: dict[str, Any] = field(default_factory=dict)
    onnx_sha256: str = ""  # only in the sidecar: a file cannot carry its own hash
    # Only in the sidecar too, bound to the model file by its own digest (scope.PopulationCheck):
    # it is fitted after export on the exported model's features, so it cannot be inside the file.
    population_check: PopulationCheck | None = None
    format_version: int = FORMAT_VERSION

    @property
    def positive_index(self) -> int:
        return self.classes.index("PNEUMONIA") if "PNEUMONIA" in self.classes else len(self.classes) - 1

    @property
    def pneumonia_classes(self) -> list[str]:
        """Every class but NORMAL: PNEUMONIA, or its sub-classes (BACTERIAL, VIRAL)."""
        return [c for c in self.classes if c != "NORMAL"]

    def headline_metrics(self, split: str) -> dict[str, float]:
        """Flat headline numbers of a split. Validation metrics are stored flat; test metrics keep
        pneumo-evaluate's structure (values with CIs), read here at the operating point."""
        metrics = self.metrics.get(split) or {}
        if "threshold_free" not in metrics:
            return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        # Binary models report at their operating point; multi-class ones at the argmax.
        operating = metrics.get("at_threshold", {}).get("operating_point") or metrics.get("multiclass", {})
        flat = {"auc_roc": metrics["threshold_free"].get("auc_roc", {}).get("value")}
        flat.update({name: operating.get(name, {}).get("value") for name in ("accuracy", "sensitivity", "specificity", "balanced_accuracy")})
        flat["n_images"] = metrics.get("data", {}).get("n_images")
        return {k: float(v) for k, v in flat.items() if v is not None}

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["preprocess"] = self.preprocess.to_dict()
        data["classes"] = list(self.classes)
        data["cam_weights"] = [list(row) for row in self.cam_weights]
        data["cam_bias"] = list(self.cam_bias)
        data["population_check"] = self.population_check.to_dict() if self.population_check else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelContract:
        try:
            if int(data["format_version"]) > FORMAT_VERSION:
                raise ModelError(f"model contract version {data['format_version']} is newer than this runtime supports ({FORMAT_VERSION}); upgrade pneumo")
            values = dict(data)
            values["classes"] = tuple(data["classes"])
            values["preprocess"] = PreprocessSettings.from_dict(data["preprocess"])
            values["uncertainty"] = UncertaintyRule(**data["uncertainty"])
            values["guard"] = GuardSettings.from_dict(data.get("guard", {}))
            values["cam_weights"] = tuple(tuple(float(v) for v in row) for row in data["cam_weights"])
            values["cam_bias"] = tuple(float(v) for v in data["cam_bias"])
            population = data.get("population_check")
            values["population_check"] = PopulationCheck.from_dict(population) if population else None
            return cls(**values)
        except ModelError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelError(f"model contract is incomplete or malformed ({type(exc).__name__}: {exc})") from None

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1, sort_keys=True)


def config_digest(config: dict[str, Any]) -> str:
    """SHA-256 of a training config: ties an exported model to the torch checkpoint it came from."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def sidecar_path(onnx_path: str | Path) -> Path:
    return Path(onnx_path).with_suffix(".json")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_sidecar(onnx_path: str | Path) -> ModelContract:
    path = sidecar_path(onnx_path)
    try:
        return ModelContract.from_dict(json.loads(path.read_text()))
    except FileNotFoundError:
        raise ModelError(f"model contract not found: {path.name} must sit beside {Path(onnx_path).name}") from None
    except json.JSONDecodeError as exc:
        raise ModelError(f"model contract {path.name} is not valid JSON: {exc.msg}") from None


def verify_hash(onnx_path: str | Path, contract: ModelContract) -> None:
    """Refuse a model file that is not byte-for-byte the one its contract describes."""
    if not contract.onnx_sha256:
        raise ModelError(f"the contract of {Path(onnx_path).name} records no SHA-256; cannot verify the model")
    actual = file_sha256(onnx_path)
    if actual != contract.onnx_sha256:
        raise ModelError(f"{Path(onnx_path).name} failed its integrity check (SHA-256 {actual[:12]}... != {contract.onnx_sha256[:12]}...): the file was modified or damaged")
    if contract.population_check is not None:
        contract.population_check.verify(contract.onnx_sha256, Path(onnx_path).name)

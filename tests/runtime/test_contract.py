"""The model contract: what a runtime reads from it, field by field, and how it refuses a bad one."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace

import pytest

from pneumo_runtime.contract import (
    FORMAT_VERSION,
    ModelContract,
    UncertaintyRule,
    config_digest,
    file_sha256,
    read_sidecar,
    sidecar_path,
    verify_hash,
)
from pneumo_runtime.errors import ModelError
from pneumo_runtime.guard import GuardSettings
from pneumo_runtime.predictor import default_model_path


@pytest.fixture(scope="module")
def shipped() -> ModelContract:
    return read_sidecar(default_model_path())


def test_the_contract_round_trips_through_json_field_for_field(shipped):
    data = json.loads(shipped.to_json())
    assert ModelContract.from_dict(data) == shipped
    assert data["preprocess"] == shipped.preprocess.to_dict() and data["preprocess"]["input_size"] == 224
    assert data["classes"] == ["NORMAL", "PNEUMONIA"] and data["guard"]["min_symmetry"] == shipped.guard.min_symmetry
    assert data["cam_weights"] == [list(row) for row in shipped.cam_weights] and len(data["cam_weights"]) == 2
    assert data["cam_bias"] == list(shipped.cam_bias) and len(data["cam_bias"]) == 2
    assert data["uncertainty"] == {"method": "entropy", "cutoff": shipped.uncertainty.cutoff}
    assert shipped.to_json() == json.dumps(data, indent=1, sort_keys=True)  # stable text: the sidecar diff stays readable


def test_the_shipped_contract_carries_its_own_guard_and_rules():
    shipped = read_sidecar(default_model_path())  # read here: a shared fixture would hide what this test reads
    assert shipped.guard != GuardSettings() and shipped.guard.max_feature_distance is not None
    assert shipped.threshold == pytest.approx(0.8424, abs=1e-4) and shipped.uncertainty.cutoff == pytest.approx(0.2935, abs=1e-4)
    assert shipped.positive_index == 1 and shipped.pneumonia_classes == ["PNEUMONIA"]
    three = replace(shipped, classes=("NORMAL", "BACTERIAL", "VIRAL"))
    assert three.positive_index == 2 and three.pneumonia_classes == ["BACTERIAL", "VIRAL"]


def test_headline_metrics_of_a_flat_validation_split(shipped):
    contract = replace(shipped, metrics={"validation": {"auc_roc": 0.99, "n_images": 700, "passed": True, "rule": "youden"}})
    assert contract.headline_metrics("validation") == {"auc_roc": 0.99, "n_images": 700.0}  # no flag, no text
    assert contract.headline_metrics("test") == {}


def test_headline_metrics_of_a_test_split_read_at_the_operating_point(shipped):
    test = {"threshold_free": {"auc_roc": {"value": 0.95}},
            "at_threshold": {"operating_point": {"sensitivity": {"value": 0.9}, "specificity": {"value": 0.8}}},
            "data": {"n_images": 624}}
    assert replace(shipped, metrics={"test": test}).headline_metrics("test") == {"auc_roc": 0.95, "sensitivity": 0.9, "specificity": 0.8, "n_images": 624.0}
    multiclass = {"threshold_free": {"auc_roc": {"value": 0.9}}, "multiclass": {"accuracy": {"value": 0.7}, "balanced_accuracy": {"value": 0.6}}}
    assert replace(shipped, metrics={"test": multiclass}).headline_metrics("test") == {"auc_roc": 0.9, "accuracy": 0.7, "balanced_accuracy": 0.6}
    assert replace(shipped, metrics={"test": {"threshold_free": {}}}).headline_metrics("test") == {}


def test_a_newer_or_malformed_contract_is_refused_in_one_line(shipped):
    data = shipped.to_dict()
    with pytest.raises(ModelError) as newer:
        ModelContract.from_dict({**data, "format_version": FORMAT_VERSION + 1})
    assert str(newer.value) == f"model contract version {FORMAT_VERSION + 1} is newer than this runtime supports ({FORMAT_VERSION}); upgrade pneumo"
    assert ModelContract.from_dict({**data, "format_version": str(FORMAT_VERSION)}).format_version == str(FORMAT_VERSION)
    with pytest.raises(ModelError, match=r"^model contract is incomplete or malformed \(KeyError: 'classes'\)$"):
        ModelContract.from_dict({k: v for k, v in data.items() if k != "classes"})
    with pytest.raises(ModelError, match=r"^model contract is incomplete or malformed \(TypeError: "):
        ModelContract.from_dict({**data, "uncertainty": {"cut": 1}})
    with pytest.raises(ModelError, match=r"^model contract is incomplete or malformed \(ValueError: "):
        ModelContract.from_dict({**data, "cam_bias": ["x"]})
    assert ModelContract.from_dict({**data, "uncertainty": {"method": "entropy", "cutoff": None}}).uncertainty == UncertaintyRule()


def test_config_digest_is_the_sha256_of_the_sorted_config():
    config = {"lr": 0.001, "model": "efficientnet_lite0"}
    assert config_digest(config) == hashlib.sha256(b'{"lr": 0.001, "model": "efficientnet_lite0"}').hexdigest()
    assert config_digest(dict(reversed(config.items()))) == config_digest(config)


def test_sidecar_hash_and_their_errors(tmp_path, shipped):
    model = tmp_path / "model.onnx"
    model.write_bytes(bytes(range(256)) * 5000)  # over one 1 MiB read
    assert sidecar_path(model) == tmp_path / "model.json"
    assert file_sha256(model) == hashlib.sha256(model.read_bytes()).hexdigest()
    with pytest.raises(ModelError, match=r"^model contract not found: model.json must sit beside model.onnx$"):
        read_sidecar(model)
    (tmp_path / "model.json").write_text("{")
    with pytest.raises(ModelError, match=r"^model contract model.json is not valid JSON: Expecting property name enclosed in double quotes$"):
        read_sidecar(model)
    with pytest.raises(ModelError, match=r"^the contract of model.onnx records no SHA-256; cannot verify the model$"):
        verify_hash(model, replace(shipped, onnx_sha256=""))
    with pytest.raises(ModelError, match=r"^model.onnx failed its integrity check \(SHA-256 [0-9a-f]{12}\.\.\. != 000000000000\.\.\.\): the file was modified or damaged$"):
        verify_hash(model, replace(shipped, onnx_sha256="0" * 64))
    assert verify_hash(model, replace(shipped, onnx_sha256=file_sha256(model), population_check=None)) is None
    with pytest.raises(ModelError, match=r"^the population check in the contract of model.onnx does not belong to this model file"):
        verify_hash(model, replace(shipped, onnx_sha256=file_sha256(model)))  # sealed to the shipped file's hash, not this one


def test_preprocessing_settings_round_trip_every_field():
    from pneumo_runtime.preprocess import ClaheSettings, PreprocessSettings

    for settings in (PreprocessSettings(192, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), ClaheSettings(False, 3.0, 4), 0.9, 90),
                     PreprocessSettings(resize_jpeg_quality=None)):
        assert PreprocessSettings.from_dict(settings.to_dict()) == settings

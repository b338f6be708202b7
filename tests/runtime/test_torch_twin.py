"""Captum's torch twin of a shipped model: beside it in a checkout, from pneumo-torch-weights when installed."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from pneumo_runtime import torch_twin as torch_weights
from pneumo_runtime.predictor import default_model_path

REPO = Path(__file__).resolve().parents[2]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_checkout_finds_the_twin_beside_the_shipped_model():
    assert torch_weights.torch_twin(default_model_path()) == default_model_path().with_suffix(".pt")


def test_an_install_finds_the_twin_in_pneumo_torch_weights(tmp_path, monkeypatch):
    """As installed: the models folder holds no .pt; the weights distribution's package does."""
    (tmp_path / "default.onnx").write_bytes(b"")
    monkeypatch.setattr(torch_weights, "models_folder", lambda: tmp_path)
    monkeypatch.syspath_prepend(str(REPO / "weights"))
    monkeypatch.delitem(sys.modules, "pneumo_torch_weights", raising=False)
    twin = torch_weights.torch_twin(tmp_path / "default.onnx")
    assert twin is not None and twin.parent.name == "pneumo_torch_weights"
    assert digest(twin) == digest(default_model_path().with_suffix(".pt"))  # the shipped bytes, not a copy that can drift
    assert torch_weights.torch_twin(tmp_path / "default.int8.onnx") is None  # no twin for the quantised model


def test_an_exported_model_never_gets_a_shipped_twin(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "weights"))
    (tmp_path / "default.onnx").write_bytes(b"")
    assert torch_weights.torch_twin(tmp_path / "default.onnx") is None

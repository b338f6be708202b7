"""Captum's torch twin of a shipped model: from pneumo-torch-weights when installed, from weights/ in a bare checkout."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

from pneumo_runtime import torch_twin as torch_weights
from pneumo_runtime.predictor import default_model_path

REPO = Path(__file__).resolve().parents[2]
SHIPPED_WEIGHTS = REPO / "weights" / "pneumo_torch_weights"


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_torch_weights_live_in_the_weights_distribution_only():
    """Real files in weights/ (no symlinks), none in the torch-free runtime's models folder."""
    assert not list(default_model_path().parent.glob("*.pt"))
    for name in ("default", "three_class"):
        assert (SHIPPED_WEIGHTS / f"{name}.pt").is_file() and not (SHIPPED_WEIGHTS / f"{name}.pt").is_symlink()


def test_a_checkout_finds_the_twin_in_weights(monkeypatch):
    installed_or_checkout = torch_weights.torch_twin(default_model_path())
    assert installed_or_checkout is not None and digest(installed_or_checkout) == digest(SHIPPED_WEIGHTS / "default.pt")
    monkeypatch.setitem(sys.modules, "pneumo_torch_weights", None)  # not installed: the import fails
    assert torch_weights.torch_twin(default_model_path()) == SHIPPED_WEIGHTS / "default.pt"


def test_an_install_finds_the_twin_in_pneumo_torch_weights(tmp_path, monkeypatch):
    """As installed: the models folder holds no .pt; the weights distribution's package does."""
    (tmp_path / "default.onnx").write_bytes(b"")
    monkeypatch.setattr(torch_weights, "models_folder", lambda: tmp_path)
    monkeypatch.syspath_prepend(str(REPO / "weights"))
    monkeypatch.delitem(sys.modules, "pneumo_torch_weights", raising=False)
    twin = torch_weights.torch_twin(tmp_path / "default.onnx")
    assert twin is not None and twin.parent.name == "pneumo_torch_weights"
    assert digest(twin) == digest(SHIPPED_WEIGHTS / "default.pt")  # the shipped bytes, not a copy that can drift
    assert torch_weights.torch_twin(tmp_path / "default.int8.onnx") is None  # no twin for the quantised model


def test_an_exported_model_never_gets_a_shipped_twin(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "weights"))
    (tmp_path / "default.onnx").write_bytes(b"")
    assert torch_weights.torch_twin(tmp_path / "default.onnx") is None

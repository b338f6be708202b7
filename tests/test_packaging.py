"""What pip builds: a wheel PyPI accepts, without torch weights; the weights distribution pinned to it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import tomllib

import pneumo_runtime

REPO = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
WEIGHTS = REPO / "weights"


def test_the_weights_distribution_matches_this_release():
    sys.path.insert(0, str(WEIGHTS))
    try:
        import pneumo_torch_weights
    finally:
        sys.path.remove(str(WEIGHTS))
    assert pneumo_torch_weights.__version__ == pneumo_runtime.__version__
    assert f"pneumo-torch-weights=={pneumo_runtime.__version__}" in PYPROJECT["project"]["optional-dependencies"]["explain"]
    shipped = sorted(p.name for p in (REPO / "pneumo_runtime" / "models").glob("*.pt"))
    links = sorted((WEIGHTS / "pneumo_torch_weights").glob("*.pt"))
    assert [p.name for p in links] == shipped and all(p.is_symlink() for p in links)
    assert all(p.resolve() == (REPO / "pneumo_runtime" / "models" / p.name).resolve() for p in links)


def test_the_base_wheel_declares_no_torch_file():
    data = PYPROJECT["tool"]["setuptools"]["package-data"]
    assert not any(pattern.endswith(".pt") for patterns in data.values() for pattern in patterns)


@pytest.mark.slow
def test_the_wheel_is_small_and_holds_models_and_examples_but_no_torch_weights(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "-q", "-w", str(tmp_path)], check=True, timeout=600)
    wheel = next(tmp_path.glob("pneumo-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert wheel.stat().st_size < 100 * 2**20, f"{wheel.stat().st_size / 2**20:.1f} MB"
    assert not [n for n in names if n.endswith((".pt", ".pth"))]
    assert {"pneumo_runtime/models/default.onnx", "pneumo_runtime/models/default.json"} <= set(names)
    assert [n for n in names if n.startswith("pneumo/demo/examples/") and n.endswith(".jpeg")]
    assert "pneumo/demo/launch.py" in names and "pneumo/demo/rest.py" in names

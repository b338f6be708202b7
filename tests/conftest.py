"""Shared fixtures: real Kermany images copied into tests/fixtures (see its README)."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
# A test that needs a trained or exported model, or a running demo server, is slow by definition.
SLOW_FIXTURES = {"tiny_checkpoint", "tiny_three_class_checkpoint", "tiny_checkpoint_other_weights", "tiny_model", "checkpoint_factory", "demo_url"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow every test that uses a fixture which trains or exports, so `pytest -m "not slow"` stays fast."""
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def kermany_mini() -> Path:
    return FIXTURES / "kermany_mini"


@pytest.fixture(scope="session")
def fullres_images() -> list[Path]:
    return sorted((FIXTURES / "fullres").glob("*.jpeg"))


@pytest.fixture(scope="session")
def fixture_images(kermany_mini: Path) -> list[Path]:
    return sorted(kermany_mini.rglob("*.jpeg"))


@pytest.fixture(scope="session")
def kermany_224() -> Path:
    """The complete Kermany split beside the repo (../shared/data), as CI lays it out."""
    root = SHARED_DATA / "kermany_224"
    if not (root / "train").is_dir():
        pytest.skip("shared Kermany data not present")
    return root


def write_checkpoint(path: Path, model_name: str, data: Path, input_size: int = 64, pretrained: str = "none") -> Path:
    """A calibrated checkpoint with untrained weights: enough to exercise export and runtime."""
    import torch

    from pneumo.training.checkpoint import save_checkpoint
    from pneumo.training.config import TrainConfig
    from pneumo.training.fit.trainer import contract_for
    from pneumo.training.models import create_model
    torch.manual_seed(0)
    config = TrainConfig(model=model_name, pretrained=pretrained, input_size=input_size, data=str(data), val_fraction=0.5)
    model = create_model(model_name, 2, pretrained)
    save_checkpoint(path, {
        "model_state": model.state_dict(),
        "config": config.to_dict(),
        "classes": ["NORMAL", "PNEUMONIA"],
        "preprocess": contract_for(config, model.mean, model.std).to_dict(),
        "calibration": {
            "temperature": 1.5, "threshold": 0.5, "threshold_rule": {"rule": "youden", "target": None},
            "uncertainty": {"method": "entropy", "cutoff": 0.99}, "validation": {"auc": 0.5},
        },
    })
    return path




@pytest.fixture
def checkpoint_factory(tmp_path, kermany_mini):
    def make(model_name: str, **kwargs) -> Path:
        return write_checkpoint(tmp_path / f"{model_name}.pt", model_name, kermany_mini, **kwargs)

    return make


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, kermany_mini) -> Path:
    """An exported (untrained) custom_cnn at 64 px with its contract: fast runtime mechanics."""
    from pneumo.export.cli import main

    folder = tmp_path_factory.mktemp("tiny_model")
    checkpoint = write_checkpoint(folder / "tiny.pt", "custom_cnn", kermany_mini)
    # Untrained features are meaningless, so the feature guard is off: these tests are about mechanics.
    assert main(["--to", "onnx", "--checkpoint", str(checkpoint), "--out", str(folder), "--validate-images", str(kermany_mini), "--no-feature-guard"]) == 0
    return folder / "model.onnx"

"""Shared fixtures: real Kermany images copied into tests/fixtures (see its README)."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from pneumo_runtime.data_root import data_root

FIXTURES = Path(__file__).parent / "fixtures"
REPO = Path(__file__).parent.parent
SHARED_DATA = data_root()  # ../shared/data unless the environment says otherwise
# A test that needs a trained or exported model, or a running demo (Gradio) server, is slow by definition.
SLOW_FIXTURES = {"tiny_checkpoint", "tiny_three_class_checkpoint", "tiny_checkpoint_other_weights", "tiny_model", "checkpoint_factory", "demo_url", "guarded_url"}


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
    from pneumo.training.fit.trainer import preprocess_for
    from pneumo.training.models import create_model
    torch.manual_seed(0)
    config = TrainConfig(model=model_name, pretrained=pretrained, input_size=input_size, data=str(data), val_fraction=0.5)
    model = create_model(model_name, 2, pretrained)
    save_checkpoint(path, {
        "model_state": model.state_dict(),
        "config": config.to_dict(),
        "classes": ["NORMAL", "PNEUMONIA"],
        "preprocess": preprocess_for(config, model.mean, model.std).to_dict(),
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
def adult_film() -> Path:
    """A real adult's frontal chest film (Hannover collection, CC BY 3.0), read from ../shared only:
    the first that the input guard passes, so that the population check is what answers it."""
    from pneumo_runtime.inputs import load_image
    from pneumo_runtime.predictor import Predictor
    from pneumo_runtime.preprocess import PreprocessSettings, prepare_gray

    films = sorted((SHARED_DATA / "adult_cxr" / "adults" / "hannover").glob("*.jpg"))
    if not films:
        pytest.skip("../shared/data/adult_cxr not present")
    guard = Predictor(threads=1).guard
    return next(f for f in films if guard.before_inference(load_image(f, reduce_to=224), prepare_gray(load_image(f, reduce_to=224).gray, PreprocessSettings())) is None)


@pytest.fixture(scope="session")
def population_data(tmp_path_factory, kermany_mini) -> Path:
    """A small corpus for fitting a population check: the fixture children as kermany_224/train, and
    ten adults of each collection in ../shared, linked (never copied: their licences)."""
    adults = SHARED_DATA / "adult_cxr" / "adults"
    if not adults.is_dir():
        pytest.skip("../shared/data/adult_cxr not present")
    root = tmp_path_factory.mktemp("population")
    (root / "kermany_224").mkdir()
    (root / "kermany_224" / "train").symlink_to(kermany_mini / "train")
    for source in sorted(p.name for p in adults.iterdir() if p.is_dir()):
        folder = root / "adult_cxr" / "adults" / source
        folder.mkdir(parents=True)
        for film in sorted((adults / source).glob("*.jpg"))[:10]:
            (folder / film.name).symlink_to(film)
    return root


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, kermany_mini) -> Path:
    """An exported (untrained) custom_cnn at 64 px with its contract: fast runtime mechanics."""
    from pneumo.export.export_cli import main

    folder = tmp_path_factory.mktemp("tiny_model")
    checkpoint = write_checkpoint(folder / "tiny.pt", "custom_cnn", kermany_mini)
    # Untrained features are meaningless, so the feature guard is off: these tests are about mechanics.
    assert main(["--to", "onnx", "--checkpoint", str(checkpoint), "--out", str(folder), "--validate-images", str(kermany_mini), "--no-feature-guard",
                 "--no-population-check"]) == 0
    return folder / "model.onnx"


ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def example_xrays() -> list[Path]:
    files = sorted((REPO / "examples").glob("*.jpeg"))
    assert files, "examples/*.jpeg missing"
    return files


@pytest.fixture(scope="session")
def colour_photo(tmp_path_factory) -> Path:
    """Not an X-ray: a saturated colour gradient, square like a chest film so only colour gives it away."""
    import cv2

    ramp = np.linspace(0, 255, 256, dtype=np.uint8)
    image = np.stack([np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)), np.full((256, 256), 200, np.uint8)], axis=2)
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    cv2.imwrite(str(path), image)
    return path

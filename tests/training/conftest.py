"""Tiny real checkpoints for the evaluation tests: one epoch of custom_cnn at 64 px on the fixtures.

Session-scoped: training (and the calibration that ends it) runs once per test session.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pneumo.training.fit.train_cli import main as train_main


def train_tiny(data: Path, out: Path, *extra: str) -> Path:
    code = train_main(["--data", str(data), "--out", str(out), "--model", "custom_cnn", "--input-size", "64", "--epochs", "1",
                       "--val-fraction", "0.34", "--batch-size", "4", "--threads", "2", *extra])
    assert code == 0
    return out / "best.pt"


@pytest.fixture(scope="session")
def tiny_checkpoint(kermany_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(kermany_mini, tmp_path_factory.mktemp("tiny_binary"))


@pytest.fixture(scope="session")
def tiny_three_class_checkpoint(kermany_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny(kermany_mini, tmp_path_factory.mktemp("tiny_three"), "--task", "three_class")


@pytest.fixture(scope="session")
def tiny_checkpoint_other_weights(kermany_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Same validation split as ``tiny_checkpoint`` (same seed), other weights: an ensemble partner."""
    return train_tiny(kermany_mini, tmp_path_factory.mktemp("tiny_binary_lr"), "--lr", "0.003")

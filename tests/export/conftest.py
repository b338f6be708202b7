"""A calibrated checkpoint for any architecture, with untrained (tiny) weights, built in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pneumo.training.checkpoint import save_checkpoint
from pneumo.training.config import TrainConfig
from pneumo.training.engine import contract_for
from pneumo.training.models import create_model


def write_checkpoint(path: Path, model_name: str, data: Path, input_size: int = 64, pretrained: str = "none") -> Path:
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

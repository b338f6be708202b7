"""One real epoch on real fixture images, a checkpoint that reloads, and a resume that continues."""

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from pneumo.training.checkpoint import load_checkpoint, model_from_checkpoint
from pneumo.training.config import load_yaml
from pneumo.training.data.dataset import XrayDataset
from pneumo.training.data.samples import discover_kermany
from pneumo.training.fit.train_cli import main

pytestmark = pytest.mark.slow  # every test here trains a model


def train(data: Path, out: Path, *extra: str) -> int:
    return main(["--data", str(data), "--out", str(out), "--val-fraction", "0.34", "--batch-size", "4", "--threads", "2", *extra])


def predictions(checkpoint: Path, data: Path) -> np.ndarray:
    loaded = model_from_checkpoint(checkpoint)
    dataset = XrayDataset(discover_kermany(data, "train", "binary"), loaded.preprocess)
    batch = torch.stack([dataset[i][0] for i in range(len(dataset))])
    with torch.no_grad():
        return torch.softmax(loaded.model(batch), 1).numpy()


@pytest.mark.parametrize(("config", "model"), [("experiments/custom_cnn", "custom_cnn"), ("release/binary", "efficientnet_lite0")])
def test_one_epoch_writes_a_checkpoint_that_reloads_and_predicts_the_same(config, model, kermany_mini, tmp_path):
    repo = Path(__file__).parents[3]
    out = tmp_path / "run"
    assert train(kermany_mini, out, "--config", str(repo / "configs" / f"{config}.yaml"), "--epochs", "1") == 0
    for name in ("best.pt", "last.pt", "config.yaml", "history.csv", "history.json", "curves.png"):
        assert (out / name).is_file(), name
    checkpoint = load_checkpoint(out / "best.pt")
    assert checkpoint["classes"] == ["NORMAL", "PNEUMONIA"]
    assert checkpoint["preprocess"]["clahe"]["clip_limit"] == 2.0
    assert set(checkpoint["val_metrics"]) >= {"auc", "accuracy", "loss"}
    assert checkpoint["data_summary"]["train"]["images"] + checkpoint["data_summary"]["val"]["images"] == 16
    assert load_yaml(out / "config.yaml")["model"] == model
    if model == "efficientnet_lite0":  # the release recipe selects on the shifted validation split
        assert checkpoint["run_state"]["best_metric"] == checkpoint["val_metrics"]["shift_auc"]
        assert (out / "epoch_01.pt").is_file()
    first, second = predictions(out / "best.pt", kermany_mini), predictions(out / "best.pt", kermany_mini)
    assert first.shape == (16, 2)
    np.testing.assert_array_equal(first, second)


def test_resume_continues_exactly_where_the_run_stopped(kermany_mini, tmp_path):
    common = ("--model", "custom_cnn", "--input-size", "64", "--ema-decay", "0.9")
    assert train(kermany_mini, tmp_path / "straight", *common, "--epochs", "2") == 0
    assert train(kermany_mini, tmp_path / "stopped", *common, "--epochs", "1") == 0
    assert main(["--resume", str(tmp_path / "stopped"), "--epochs", "2"]) == 0
    straight, resumed = load_checkpoint(tmp_path / "straight" / "last.pt"), load_checkpoint(tmp_path / "stopped" / "last.pt")
    assert resumed["run_state"]["epoch"] == 2 and len(resumed["run_state"]["history"]) == 2
    for key, tensor in straight["train_state"].items():
        torch.testing.assert_close(resumed["train_state"][key], tensor, msg=key)
    assert resumed["val_metrics"] == pytest.approx(straight["val_metrics"], nan_ok=True)


def test_corrupt_checkpoint_is_a_one_line_error(tmp_path, capsys):
    broken = tmp_path / "last.pt"
    broken.write_bytes(b"not a checkpoint")
    assert main(["--resume", str(broken)]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_init_from_continues_a_checkpoint_under_a_new_field_of_view(tiny_checkpoint, kermany_mini, tmp_path):
    common = ("--model", "custom_cnn", "--input-size", "64", "--epochs", "1", "--lr", "1e-6", "--dropout", "0.5")
    assert train(kermany_mini, tmp_path / "fov", *common, "--init-from", str(tiny_checkpoint), "--ellipse-mask", "1.0") == 0
    source, continued = load_checkpoint(tiny_checkpoint), load_checkpoint(tmp_path / "fov" / "last.pt")
    assert continued["preprocess"]["ellipse_mask"] == 1.0 and source["preprocess"]["ellipse_mask"] == 0.0
    # a learning rate of 1e-6 barely moves the weights: the run started from the source, not from scratch
    for key, tensor in source["model_state"].items():
        if tensor.is_floating_point() and "running" not in key:
            torch.testing.assert_close(continued["train_state"][key], tensor, atol=1e-3, rtol=0, msg=key)
    assert model_from_checkpoint(tmp_path / "fov" / "best.pt").preprocess.ellipse_mask == 1.0


def test_init_from_a_logit_ensemble_keeps_its_members(tiny_checkpoint, tiny_checkpoint_other_weights, kermany_mini, tmp_path):
    from pneumo.export.contract_builder import model_version
    from pneumo.training.combine import main as average_main

    assert average_main([str(tiny_checkpoint), str(tiny_checkpoint_other_weights), "--combine", "logits", "--min-gain", "-1",
                         "--data", str(kermany_mini), "--out", str(tmp_path / "ensemble"), "--threads", "2"]) == 0
    assert load_checkpoint(tmp_path / "ensemble" / "best.pt")["ensemble_members"] == 2
    common = ("--model", "custom_cnn", "--input-size", "64", "--epochs", "1")
    assert train(kermany_mini, tmp_path / "cont", *common, "--init-from", str(tmp_path / "ensemble" / "best.pt")) == 0
    continued = load_checkpoint(tmp_path / "cont" / "best.pt")
    assert continued["ensemble_members"] == 2
    assert model_version(continued).startswith("custom_cnn-ens2-e1-")  # still says it is an ensemble
    assert re.fullmatch(r"custom_cnn-e1-[0-9a-f]{8}", model_version(load_checkpoint(tiny_checkpoint)))  # a single run: no "ens"
    assert model_from_checkpoint(tmp_path / "cont" / "best.pt").model(torch.zeros(1, 3, 64, 64)).shape == (1, 2)


def test_init_from_another_task_is_a_one_line_error(tiny_three_class_checkpoint, kermany_mini, tmp_path, capsys):
    assert train(kermany_mini, tmp_path / "bad", "--model", "custom_cnn", "--input-size", "64", "--epochs", "1",
                 "--init-from", str(tiny_three_class_checkpoint)) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("pneumo-train: error: init_from") and "BACTERIAL" in error

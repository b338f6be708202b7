"""DDP under torchrun: two CPU processes (gloo) train like one process on the same global batch.

Parity setting: BatchNorm layers are frozen (``--freeze-batchnorm``; their scale and shift still
train), dropout and augmentation are off, the loss is unweighted, and the optimiser is SGD at a
constant rate. BatchNorm in training mode normalises each process's half batch by that half's
statistics, and torch has no SyncBatchNorm on CPU, so with it the runs would differ by design,
not by error; dropout and augmentation draw other random numbers in each process; a class-
weighted loss averages per process before DDP averages the processes; and Adam's first step is
lr * sign(gradient), which turns summation-order noise in near-zero gradients into differences
of order lr. What is left differs only in floating-point summation order: measured 4e-9 after
one epoch and 7e-9 after a resumed second (weights move by up to 2.5e-3); tolerance 1e-6.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from pneumo.training.checkpoint import load_checkpoint, model_from_checkpoint
from pneumo.training.config import ConfigError, TrainConfig
from pneumo.training.fit import distributed
from pneumo.training.fit.train_cli import main as train_main
from pneumo.training.fit.trainer import seed_everything
from pneumo.training.fit.wise_ft import interpolate_states
from pneumo.training.models import create_model

PARITY = ("--model", "custom_cnn", "--input-size", "64", "--val-fraction", "0.34", "--batch-size", "4", "--threads", "1",
          "--freeze-batchnorm", "--dropout", "0", "--augment", "none", "--no-class-weights", "--optimizer", "sgd", "--lr", "0.05", "--scheduler", "none")
TOLERANCE = 1e-6


def torchrun(*arguments: str) -> str:
    """Two processes on this machine (c10d rendezvous on a free port); their stderr."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "pneumo.training.fit.train_cli", *arguments]
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stderr


def max_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[key].double() - b[key].double()).abs().max().item() for key in a if a[key].is_floating_point())


@pytest.fixture(scope="module")
def runs(kermany_mini: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """One epoch on two processes, then resumed for a second; the same in one process, 1 and 2 epochs."""
    root = tmp_path_factory.mktemp("ddp")
    data = ("--data", str(kermany_mini))
    first_log = torchrun(*data, "--out", str(root / "two"), *PARITY, "--epochs", "1", "--keep-epoch-checkpoints")
    for name, epochs in (("one", "1"), ("one_two_epochs", "2")):
        assert train_main([*data, "--out", str(root / name), *PARITY, "--epochs", epochs]) == 0
    resume_log = torchrun("--resume", str(root / "two"), "--epochs", "2")
    return {"root": root, "first_log": first_log, "resume_log": resume_log}


@pytest.mark.slow
def test_two_processes_train_the_same_weights_as_one_on_the_same_global_batch(runs, kermany_mini):
    root = runs["root"]
    one, two = load_checkpoint(root / "one" / "last.pt"), load_checkpoint(root / "two" / "epoch_01.pt")
    seed_everything(42)
    initial = create_model("custom_cnn", 2, "none", 0.0).state_dict()
    assert max_difference(one["train_state"], initial) > 1e-3  # the epoch did move the weights
    assert max_difference(two["train_state"], one["train_state"]) < TOLERANCE
    assert two["data_summary"] == one["data_summary"]  # the same patient split in every process
    for name in ("loss", "auc", "accuracy"):  # gathered over both processes: the whole validation split
        assert two["val_metrics"][name] == pytest.approx(one["val_metrics"][name], abs=1e-5)
    assert runs["first_log"].count("epoch 1: train loss") == 1  # rank 0 alone logs
    # the checkpoint is an ordinary one: calibrated (by rank 0), loads, predicts like the one-process model
    best = load_checkpoint(root / "two" / "best.pt")
    assert best["calibration"]["validation"]["n_images"] == one["data_summary"]["val"]["images"]
    # "two" was resumed for a second epoch, which may have become its best: compare it with the
    # one-process run of as many epochs.
    same_epochs = root / ("one" if best["run_state"]["epoch"] == 1 else "one_two_epochs") / "best.pt"
    assert load_checkpoint(same_epochs)["run_state"]["epoch"] == best["run_state"]["epoch"]
    loaded, reference = model_from_checkpoint(root / "two" / "best.pt"), model_from_checkpoint(same_epochs)
    images = torch.rand(3, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model(images), reference.model(images), atol=1e-4, rtol=0)


@pytest.mark.slow
def test_resume_under_ddp_continues_like_one_process(runs):
    straight = load_checkpoint(runs["root"] / "one_two_epochs" / "last.pt")
    resumed = load_checkpoint(runs["root"] / "two" / "last.pt")
    assert "resumed from last.pt after epoch 1" in runs["resume_log"]
    assert resumed["run_state"]["epoch"] == 2 and len(resumed["run_state"]["history"]) == 2
    assert max_difference(resumed["train_state"], straight["train_state"]) < TOLERANCE
    for row, expected in zip(resumed["run_state"]["history"], straight["run_state"]["history"], strict=True):
        assert row["train_loss"] == pytest.approx(expected["train_loss"], abs=1e-5)  # summed over both processes
        assert row["val_loss"] == pytest.approx(expected["val_loss"], abs=1e-5)


def test_global_batch_must_split_evenly_over_processes():
    assert distributed.local_batch_size(32, 4) == 8
    with pytest.raises(ConfigError, match="does not split evenly"):
        distributed.local_batch_size(30, 4)


def test_one_process_is_the_identity(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    context = distributed.start()
    assert not context.enabled and context.is_main and context.world_size == 1
    rows = np.arange(6.0).reshape(3, 2)
    np.testing.assert_array_equal(distributed.gather_rows(np.arange(3), rows, 3), rows)
    assert distributed.sum_across(1.5, 2.0) == [1.5, 2.0]


def test_each_process_scores_every_nth_image_and_none_twice():
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.arange(7.0), torch.zeros(7)), batch_size=3)
    seen = []
    for rank in range(3):
        context = distributed.Distributed(rank=rank, world_size=3)
        for indices, images in distributed.iterate_own(loader, context):
            assert (indices % 3 == rank).all()
            np.testing.assert_array_equal(images.numpy(), indices)
            seen += indices.tolist()
    assert sorted(seen) == list(range(7))


def test_torchrun_needs_an_explicit_out_folder_and_no_cv(monkeypatch, kermany_mini, capsys):
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert train_main(["--data", str(kermany_mini), "--model", "custom_cnn"]) == 2
    assert "--out" in capsys.readouterr().err
    assert train_main(["--data", str(kermany_mini), "--cv", "2", "--out", "x"]) == 2
    assert "--cv" in capsys.readouterr().err


def test_wise_ft_interpolates_floats_and_keeps_integer_buffers():
    start = {"w": torch.zeros(3), "n": torch.tensor(1)}
    tuned = {"w": torch.full((3,), 2.0), "n": torch.tensor(7)}
    mixed = interpolate_states(start, tuned, 0.25)
    torch.testing.assert_close(mixed["w"], torch.full((3,), 0.5))
    assert int(mixed["n"]) == 7
    assert TrainConfig().wise_ft == 1.0  # plain fine-tuning unless asked

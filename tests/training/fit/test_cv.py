"""pneumo-train --cv K: patient-grouped folds, each a calibrated run, metrics as mean ± std."""

import csv
import json

import numpy as np
import pytest
import torch

from pneumo.training.fit.train_cli import main


def fold_rows(path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow  # trains or builds large networks
def test_cv_runs_patient_grouped_folds_and_summarises_them(kermany_mini, tmp_path):
    out = tmp_path / "cv"
    assert main(["--data", str(kermany_mini), "--out", str(out), "--model", "custom_cnn", "--input-size", "64", "--epochs", "1",
                 "--batch-size", "4", "--threads", "2", "--cv", "2"]) == 0
    held_out_images = []
    for fold in ("fold1", "fold2"):
        train, held_out = fold_rows(out / fold / "train.csv"), fold_rows(out / fold / "val.csv")
        assert not {r["patient"] for r in train} & {r["patient"] for r in held_out}  # no patient on both sides
        held_out_images += [r["path"].split("/")[-1] for r in held_out]
        assert "calibration" in torch.load(out / fold / "best.pt", map_location="cpu", weights_only=True)
    assert sorted(held_out_images) == sorted(p.name for p in (kermany_mini / "train").rglob("*.jpeg"))  # each image held out once
    summary = json.loads((out / "cv_summary.json").read_text())
    auc = summary["metrics"]["auc_roc"]
    assert len(auc["folds"]) == 2
    assert auc["mean"] == pytest.approx(np.mean(auc["folds"])) and auc["std"] == pytest.approx(np.std(auc["folds"], ddof=1))
    assert "± " in (out / "cv_summary.md").read_text()


def test_cv_needs_two_folds(kermany_mini, tmp_path, capsys):
    assert main(["--data", str(kermany_mini), "--out", str(tmp_path), "--model", "custom_cnn", "--cv", "1"]) == 2
    assert "at least 2 folds" in capsys.readouterr().err

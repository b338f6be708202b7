"""pneumo-evaluate end to end on real (tiny) checkpoints: numbers match an independent scikit-learn
computation on the saved predictions, and nothing is tuned on the evaluated split."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, matthews_corrcoef, recall_score, roc_auc_score

from pneumo.training.evaluation.evaluate_cli import main
from pneumo.training.evaluation.sources import CheckpointSource, MeanProbabilitySource, model_inputs
from pneumo_runtime.decision import entropy_uncertainty

FAST = ["--bootstrap", "50", "--mc-passes", "4", "--threads", "2"]


def evaluate(model: list[Path], data: Path, out: Path, *extra: str) -> int:
    return main(["--model", *map(str, model), "--data", str(data), "--split", "train", "--out", str(out), *FAST, *extra])


def read_predictions(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def binary_report(tiny_checkpoint, kermany_mini, tmp_path_factory):
    before = tiny_checkpoint.read_bytes()
    out = tmp_path_factory.mktemp("binary_report")
    assert evaluate([tiny_checkpoint], kermany_mini, out) == 0
    assert tiny_checkpoint.read_bytes() == before  # evaluation never writes into the model
    return out


def test_headline_numbers_match_scikit_learn_on_the_saved_predictions(binary_report, tiny_checkpoint):
    metrics = json.loads((binary_report / "metrics.json").read_text())
    rows = read_predictions(binary_report / "predictions.csv")
    labels = np.array([row["label"] == "PNEUMONIA" for row in rows], int)
    p = np.array([float(row["p_PNEUMONIA"]) for row in rows])
    stored = torch.load(tiny_checkpoint, map_location="cpu", weights_only=True)["calibration"]
    assert metrics["calibration"]["threshold"] == stored["threshold"]  # the operating point came from validation
    assert metrics["calibration"]["temperature"] == stored["temperature"]
    point = metrics["at_threshold"]["operating_point"]
    predictions = (p >= stored["threshold"]).astype(int)
    assert point["accuracy"]["value"] == pytest.approx(accuracy_score(labels, predictions), abs=1e-6)
    assert point["sensitivity"]["value"] == pytest.approx(recall_score(labels, predictions), abs=1e-6)
    assert point["specificity"]["value"] == pytest.approx(recall_score(labels, predictions, pos_label=0), abs=1e-6)
    assert point["mcc"]["value"] == pytest.approx(matthews_corrcoef(labels, predictions), abs=1e-6)
    at_half = metrics["at_threshold"]["0.5"]
    assert at_half["sensitivity"]["value"] == pytest.approx(recall_score(labels, p >= 0.5), abs=1e-6)
    free = metrics["threshold_free"]
    assert free["auc_roc"]["value"] == pytest.approx(roc_auc_score(labels, p), abs=1e-4)
    assert free["brier"]["value"] == pytest.approx(brier_score_loss(labels, p), abs=1e-4)
    assert free["log_loss"]["value"] == pytest.approx(log_loss(labels, np.stack([1 - p, p], 1)), abs=1e-4)
    assert metrics["data"]["n_images"] == len(rows) == 16


def test_uncertainty_and_decisions_follow_the_runtime_rule(binary_report):
    metrics = json.loads((binary_report / "metrics.json").read_text())
    rows = read_predictions(binary_report / "predictions.csv")
    probabilities = np.array([[float(row["p_NORMAL"]), float(row["p_PNEUMONIA"])] for row in rows])
    uncertainty = np.array([float(row["uncertainty_entropy"]) for row in rows])
    np.testing.assert_allclose(uncertainty, entropy_uncertainty(probabilities), atol=1e-5)
    threshold, cutoff = metrics["calibration"]["threshold"], metrics["calibration"]["uncertainty"]["cutoff"]
    for row, u, p in zip(rows, uncertainty, probabilities[:, 1], strict=True):
        expected = "REFER" if u > cutoff else ("PNEUMONIA" if p >= threshold else "NORMAL")
        assert row["decision"] == expected
    for method in ("entropy", "tta", "mc_dropout"):
        entry = metrics["uncertainty"][method]
        assert len(entry["selective"]["coverage"]) == len(entry["selective"]["accuracy"])
        assert entry["selective"]["coverage"][-1] == 1.0
        assert entry["selective"]["accuracy"][-1] == pytest.approx(entry["accuracy_all"]["value"])
    assert metrics["uncertainty"]["tta"]["cutoff_source"].startswith("chosen on the validation split")


def test_three_class_model_is_evaluated_per_class(tiny_three_class_checkpoint, kermany_mini, tmp_path):
    assert evaluate([tiny_three_class_checkpoint], kermany_mini, tmp_path, "--no-tta") == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    rows = read_predictions(tmp_path / "predictions.csv")
    classes = ["NORMAL", "BACTERIAL", "VIRAL"]
    labels = np.array([classes.index(row["label"]) for row in rows])
    probabilities = np.array([[float(row[f"p_{c}"]) for c in classes] for row in rows])
    assert metrics["calibration"]["threshold"] is None
    assert set(metrics["multiclass"]["per_class"]) == set(classes)
    assert metrics["threshold_free"]["auc_roc"]["value"] == pytest.approx(roc_auc_score(labels, probabilities, multi_class="ovr"), abs=1e-4)
    assert metrics["multiclass"]["accuracy"]["value"] == pytest.approx(accuracy_score(labels, probabilities.argmax(1)))
    assert np.array(metrics["multiclass"]["confusion_matrix"]["rows_true_columns_predicted"]).shape == (3, 3)


def test_ensemble_averages_member_probabilities(tiny_checkpoint, tiny_checkpoint_other_weights, kermany_mini, tmp_path):
    second = tiny_checkpoint_other_weights
    members = [CheckpointSource(tiny_checkpoint), CheckpointSource(second)]
    batch = model_inputs(np.random.default_rng(0).integers(0, 256, (3, 64, 64), dtype=np.uint8), members[0].preprocess)
    expected = np.mean([torch.softmax(torch.from_numpy(m.logits(batch)), 1).numpy() for m in members], axis=0)
    ensemble_logits = MeanProbabilitySource(members).logits(batch)
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(ensemble_logits), 1).numpy(), expected, atol=1e-6)
    assert evaluate([tiny_checkpoint, second], kermany_mini, tmp_path / "report", "--no-tta") == 0
    metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    assert metrics["model"]["kind"] == "ensemble" and len(metrics["model"]["members"]) == 2
    assert metrics["calibration"]["origin"].startswith("fitted on the validation split")


def test_user_errors_are_one_line(tiny_checkpoint, tiny_three_class_checkpoint, kermany_mini, tmp_path, capsys):
    assert evaluate([tmp_path / "missing.pt"], kermany_mini, tmp_path / "a") == 2
    assert evaluate([tiny_checkpoint, tiny_three_class_checkpoint], kermany_mini, tmp_path / "b") == 2
    assert main(["--model", str(tiny_checkpoint), "--data", str(kermany_mini), "--split", "test", "--out", str(tmp_path / "c")]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 3 and all(line.startswith("pneumo-evaluate: error: ") for line in errors)


def test_onnx_export_evaluates_like_its_checkpoint(binary_report, tiny_checkpoint, kermany_mini, population_data, tmp_path):
    from pneumo.export.export_cli import main as export_main

    assert export_main(["--to", "onnx", "--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "onnx"), "--guard-images", "16",
                        "--population-data", str(population_data)]) == 0
    assert evaluate([tmp_path / "onnx" / "model.onnx"], kermany_mini, tmp_path / "report", "--no-tta") == 0
    onnx_metrics = json.loads((tmp_path / "report" / "metrics.json").read_text())
    torch_metrics = json.loads((binary_report / "metrics.json").read_text())
    for key in ("temperature", "threshold"):  # calibration travelled into the export unchanged
        assert onnx_metrics["calibration"][key] == pytest.approx(torch_metrics["calibration"][key])
    assert onnx_metrics["calibration"]["uncertainty"]["cutoff"] == pytest.approx(torch_metrics["calibration"]["uncertainty"]["cutoff"])
    assert onnx_metrics["uncertainty"]["mc_dropout"]["available"] is False
    onnx_rows, torch_rows = read_predictions(tmp_path / "report" / "predictions.csv"), read_predictions(binary_report / "predictions.csv")
    assert [r["image"] for r in onnx_rows] == [r["image"] for r in torch_rows]
    for column in ("logit_NORMAL", "logit_PNEUMONIA"):
        np.testing.assert_allclose([float(r[column]) for r in onnx_rows], [float(r[column]) for r in torch_rows], atol=1e-4)


def test_the_site_view_gives_predictive_values_at_the_evaluated_prevalence(binary_report):
    metrics = json.loads((binary_report / "metrics.json").read_text())
    point, site = metrics["at_threshold"]["operating_point"], metrics["site"]
    assert site["prevalence"] == pytest.approx(0.5)  # 8 NORMAL, 8 PNEUMONIA
    fn, tp = point["confusion_matrix"]["rows_true_columns_predicted"][1]
    tn, fp = point["confusion_matrix"]["rows_true_columns_predicted"][0]
    if tp + fp:  # at a prevalence equal to the evaluated one, Bayes gives back the observed PPV
        assert site["ppv"]["value"] == pytest.approx(tp / (tp + fp), abs=1e-9)
    assert "## At this site" in (binary_report / "report.md").read_text()

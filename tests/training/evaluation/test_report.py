"""The report folder: metrics.json, report.md and every figure, drawn from metrics.json alone."""

import json
import re

import pytest

from pneumo.training.evaluation.evaluate_cli import main
from pneumo.training.evaluation.report import FIGURES, render_markdown, write_report

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report_dir(tiny_checkpoint, kermany_mini, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["--model", str(tiny_checkpoint), "--data", str(kermany_mini), "--split", "train", "--out", str(out),
                 "--bootstrap", "30", "--mc-passes", "3", "--no-tta", "--threads", "2"]) == 0
    return out


def test_report_and_every_plot_exist(report_dir):
    markdown = (report_dir / "report.md").read_text()
    linked = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", markdown)
    assert set(FIGURES) <= set(linked)
    for name in linked:
        data = (report_dir / name).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 5000, name
    assert "not a diagnostic device" in markdown
    assert "kermany_mini / train" in markdown  # the split the numbers come from is named


def test_report_is_a_function_of_metrics_json_alone(report_dir, tmp_path):
    metrics = json.loads((report_dir / "metrics.json").read_text())
    write_report(metrics, tmp_path)
    assert (tmp_path / "report.md").read_text() == (report_dir / "report.md").read_text()
    for name in FIGURES:
        assert (tmp_path / name).is_file()


def test_report_quotes_the_numbers_of_metrics_json(report_dir):
    metrics = json.loads((report_dir / "metrics.json").read_text())
    markdown = (report_dir / "report.md").read_text()
    auc = metrics["threshold_free"]["auc_roc"]
    assert f"AUC-ROC {auc['value']:.3f} ({auc['ci_low']:.3f}–{auc['ci_high']:.3f})" in markdown
    sensitivity = metrics["at_threshold"]["operating_point"]["sensitivity"]
    assert f"{sensitivity['value']:.3f} ({sensitivity['ci_low']:.3f}–{sensitivity['ci_high']:.3f})" in markdown
    assert f"{metrics['calibration']['temperature']:.3f}" in markdown
    reliability = metrics["curves"]["reliability"]
    assert sum(b["count"] for b in reliability["calibrated"]) == metrics["data"]["n_images"]


def test_an_int8_contracts_validation_line_shows_its_own_figures_and_no_placeholders(report_dir):
    metrics = json.loads((report_dir / "metrics.json").read_text())
    # What an INT8 contract carries: its own AUC and accuracy, the FP32 model's calibration.
    metrics["calibration"]["validation"] = {"accuracy": 0.949, "auc_roc": 0.998, "n_images": 746,
                                            "note": "measured on the INT8 model; temperature and threshold are the FP32 model's"}
    markdown = render_markdown(metrics)
    line = next(row for row in markdown.splitlines() if row.startswith("- Validation"))
    assert "None" not in line and "n/a" not in line
    assert "746 images" in line and "auc_roc 0.998" in line and "INT8 model" in line

"""Each benchmark section runs for one iteration (``python -m benchmarks --quick``) so that none can
rot. Nothing here asserts a time: only that every section ran and its results were written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.__main__ import SECTIONS
from benchmarks.common import FULLRES, KERMANY

REPO = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (FULLRES.is_dir() and KERMANY.is_dir()), reason="needs ../shared/data")]


@pytest.mark.parametrize("section", SECTIONS)
def test_section_runs_once_and_writes_json_markdown_and_plot(section: str, tmp_path: Path):
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--quick", "--sections", section, "--out", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=900, env={"OMP_NUM_THREADS": "1", **__import__("os").environ})
    assert done.returncode == 0, done.stderr[-2000:]
    written = sorted(tmp_path.iterdir())
    assert {p.suffix for p in written} == {".json", ".md", ".png"}
    report = json.loads(next(p for p in written if p.suffix == ".json").read_text())
    assert report["quick"] is True
    assert report["machine"]["cores"] >= 1 and report["machine"]["cpu"]
    assert "onnxruntime" in report["machine"]["libraries"]
    assert "error" not in report["sections"][section]
    markdown = next(p for p in written if p.suffix == ".md").read_text()
    assert report["machine"]["cpu"] in markdown


def test_int8_variants_quantises_scores_and_times_one_variant(tmp_path: Path):
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, "-m", "benchmarks.int8_variants", "--val-images", "8", "--calibration-images", "4", "--rounds", "1",
                           "--films", "1", "--variants", "qdq-per-tensor", "--out", str(tmp_path), "--results", str(tmp_path)],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(next(tmp_path.glob("*-int8.json")).read_text())
    row = report["variants"]["qdq-per-tensor"]
    assert 0.0 <= row["auc"] <= 1.0 and row["size_mb"] > 0
    assert (tmp_path / "default.qdq-per-tensor.onnx").is_file()

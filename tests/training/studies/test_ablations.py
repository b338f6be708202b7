"""The ablation study runs each variant once, changes exactly what its name says, and resumes."""

import json

import pytest
import yaml

from pneumo.training.config import load_yaml
from pneumo.training.studies.ablations import main

pytestmark = pytest.mark.slow  # trains one model per variant


def test_variants_change_one_setting_and_finished_ones_are_not_retrained(kermany_mini, tmp_path):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"model": "custom_cnn", "pretrained": "none", "input_size": 64, "batch_size": 4,
                                      "val_fraction": 0.34, "augment": "robust"}))
    out = tmp_path / "study"
    argv = ["--config", str(recipe), "--data", str(kermany_mini), "--out", str(out), "--threads", "2", "--only", "recipe", "CLAHE off"]
    assert main(argv) == 0
    results = json.loads((out / "ablations.json").read_text())["results"]
    assert list(results) == ["recipe", "CLAHE off"]
    assert all({"auc", "shift_auc", "loss"} <= set(metrics) for metrics in results.values())
    assert load_yaml(out / "recipe" / "config.yaml")["clahe"] is True
    assert load_yaml(out / "clahe-off" / "config.yaml")["clahe"] is False
    assert load_yaml(out / "clahe-off" / "config.yaml")["epochs"] == 1
    stamp = (out / "recipe" / "history.json").stat().st_mtime_ns
    assert main(argv) == 0  # a second call reuses the finished runs
    assert (out / "recipe" / "history.json").stat().st_mtime_ns == stamp
    assert "| CLAHE off |" in (out / "ablations.md").read_text()

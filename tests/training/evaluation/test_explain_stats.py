"""Explanation statistics: the summary numbers on known maps, and a real run on a tiny custom_cnn."""

import json

import numpy as np
import pytest

from pneumo.training.evaluation.evaluate_cli import main
from pneumo.training.evaluation.explain_stats import GRID, centre_of_mass, class_statistics, mean_pairwise_correlation


def blob(x: float, y: float) -> np.ndarray:
    """A Gaussian spot centred at (x, y), in image fractions."""
    coordinates = (np.arange(GRID) + 0.5) / GRID
    return np.exp(-((coordinates[None, :] - x) ** 2 + (coordinates[:, None] - y) ** 2) / 0.002)


def test_centre_of_mass_finds_a_known_spot_and_skips_empty_maps():
    centres = centre_of_mass(np.stack([blob(0.25, 0.6), np.zeros((GRID, GRID))]))
    assert centres[0] == pytest.approx([0.25, 0.6], abs=0.01)
    assert np.isnan(centres[1]).all()


def test_consistency_is_one_for_identical_maps_and_low_for_disjoint_ones():
    assert mean_pairwise_correlation(np.stack([blob(0.3, 0.3)] * 3)) == pytest.approx(1.0)
    assert mean_pairwise_correlation(np.stack([blob(0.2, 0.2), blob(0.8, 0.8)])) < 0.1


def test_class_statistics_separate_the_classes():
    maps = np.stack([blob(0.3, 0.5), blob(0.32, 0.5), blob(0.7, 0.5), blob(0.72, 0.5)])
    stats = class_statistics(maps, np.array([0, 0, 1, 1]), ["NORMAL", "PNEUMONIA"])
    assert stats["NORMAL"]["centre_of_mass_mean"][0] == pytest.approx(0.31, abs=0.01)
    assert stats["PNEUMONIA"]["centre_of_mass_mean"][0] == pytest.approx(0.71, abs=0.01)
    assert np.array(stats["NORMAL"]["mean_heatmap"]).shape == (GRID, GRID)


def test_explain_stats_on_a_real_checkpoint(tiny_checkpoint, kermany_mini, tmp_path):
    pytest.importorskip("captum", reason="Grad-CAM statistics need captum (the 'explain' extra)")
    assert main(["--model", str(tiny_checkpoint), "--data", str(kermany_mini), "--split", "train", "--out", str(tmp_path),
                 "--bootstrap", "10", "--mc-passes", "0", "--no-tta", "--explain-stats", "--explain-max-images", "10", "--threads", "2"]) == 0
    explain = json.loads((tmp_path / "metrics.json").read_text())["explain"]
    assert explain["n_images"] == 10 and explain["subset"] is True
    for kind in ("gradcam", "attention"):  # custom_cnn has an attention map too
        assert sum(entry["n_images"] for entry in explain[kind].values()) == 10
        assert (tmp_path / f"explain_{kind}.png").is_file()
    attention = explain["attention"]["NORMAL"]
    assert 0 <= attention["centre_of_mass_mean"][0] <= 1 and -1 <= attention["consistency_mean_pairwise_correlation"] <= 1
    assert f"explain_{kind}.png" in (tmp_path / "report.md").read_text()

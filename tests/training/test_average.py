"""Weight averaging (greedy soup): the arithmetic, the validation-only selection, and its refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pneumo.training.average import AverageError, average_states, check_compatible, main
from pneumo.training.checkpoint import load_checkpoint, model_from_checkpoint
from pneumo.training.config import TrainConfig
from pneumo.training.engine import select_samples


def test_average_states_means_floats_and_keeps_integer_buffers() -> None:
    first = {"w": torch.tensor([1.0, 2.0]), "steps": torch.tensor(3)}
    second = {"w": torch.tensor([3.0, 6.0]), "steps": torch.tensor(9)}
    averaged = average_states([first, second])
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0]))
    assert averaged["steps"].item() == 3


def test_split_seed_fixes_the_validation_patients_whatever_the_training_seed(kermany_mini: Path) -> None:
    def validation(**overrides) -> list[str]:
        config = TrainConfig(data=str(kermany_mini), val_fraction=0.34, **overrides)
        return sorted(str(s.path) for s in select_samples(config)[1])

    assert validation(seed=7, split_seed=42) == validation(seed=42)
    assert validation(seed=7) != validation(seed=42)  # without it, the seed moves the split


def test_greedy_soup_chooses_on_validation_and_writes_a_calibrated_checkpoint(
    tiny_checkpoint: Path, tiny_checkpoint_other_weights: Path, kermany_mini: Path, tmp_path: Path
) -> None:
    code = main([str(tiny_checkpoint), str(tiny_checkpoint_other_weights), "--data", str(kermany_mini), "--out", str(tmp_path), "--threads", "2"])
    assert code == 0
    summary = json.loads((tmp_path / "soup.json").read_text())
    singles = [c for c in summary["candidates"] if c["kind"] == "single"]
    assert len(singles) == 2
    best_single = max(c[summary["monitor"]] for c in singles)
    assert summary["chosen_metrics"][summary["monitor"]] >= best_single  # an average is kept only if it beats the best one
    soup = load_checkpoint(tmp_path / "best.pt")
    assert "calibration" in soup and "optimizer_state" not in soup
    if len(summary["chosen"]) == 2:
        parts = [load_checkpoint(p)["model_state"] for p in (tiny_checkpoint, tiny_checkpoint_other_weights)]
        key = next(k for k, v in parts[0].items() if v.is_floating_point())
        assert torch.allclose(soup["model_state"][key], (parts[0][key] + parts[1][key]) / 2)
        assert len(soup["averaged_from"]) == 2
    model_from_checkpoint(tmp_path / "best.pt")  # rebuilds like any checkpoint


def test_checkpoints_of_other_tasks_are_refused(tiny_checkpoint: Path, tiny_three_class_checkpoint: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    checkpoints = {str(p): load_checkpoint(p) for p in (tiny_checkpoint, tiny_three_class_checkpoint)}
    with pytest.raises(AverageError, match="task"):
        check_compatible(checkpoints)
    assert main([str(tiny_checkpoint), str(tiny_three_class_checkpoint), "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("average: error:") and not (tmp_path / "best.pt").exists()

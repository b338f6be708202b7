"""Combining checkpoints (weight average or logit ensemble): the arithmetic, the validation-only
greedy selection, what the result rebuilds into, and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from pneumo.training.checkpoint import load_checkpoint, model_from_checkpoint
from pneumo.training.combine import AverageError, average_states, check_compatible, main
from pneumo.training.config import TrainConfig
from pneumo.training.data.split import select_samples
from pneumo.training.models import create_model
from pneumo.training.models.ensemble import ensemble_of


def test_average_states_means_floats_and_keeps_integer_buffers() -> None:
    first = {"w": torch.tensor([1.0, 2.0]), "steps": torch.tensor(3)}
    second = {"w": torch.tensor([3.0, 6.0]), "steps": torch.tensor(9)}
    averaged = average_states([first, second])
    assert torch.equal(averaged["w"], torch.tensor([2.0, 4.0]))
    assert averaged["steps"].item() == 3


@pytest.mark.slow  # trains or builds large networks
def test_the_ensemble_is_one_classifier_whose_logits_are_the_members_mean() -> None:
    torch.manual_seed(0)
    members = [create_model("custom_cnn", 2, dropout=0.0).eval() for _ in range(3)]
    ensemble = ensemble_of(members)
    images = torch.randn(4, 3, 64, 64)
    with torch.no_grad():
        expected = torch.stack([m(images) for m in members]).mean(dim=0)
        assert torch.allclose(ensemble(images), expected, atol=1e-5)
        feature_map = ensemble.features(images)
    assert feature_map.shape[1] == 3 * members[0].classifier.fc.in_features  # one map: the runtime's CAM still applies
    assert ensemble.gradcam_layer()(images).shape == feature_map.shape


def test_split_seed_fixes_the_validation_patients_whatever_the_training_seed(kermany_mini: Path) -> None:
    def validation(**overrides) -> list[str]:
        config = TrainConfig(data=str(kermany_mini), val_fraction=0.34, **overrides)
        return sorted(str(s.path) for s in select_samples(config)[1])

    assert validation(seed=7, split_seed=42) == validation(seed=42)
    assert validation(seed=7) != validation(seed=42)  # without it, the seed moves the split


@pytest.mark.parametrize("combine", ["weights", "logits"])
def test_greedy_combination_chooses_on_validation_and_writes_a_calibrated_checkpoint(
    combine: str, tiny_checkpoint: Path, tiny_checkpoint_other_weights: Path, kermany_mini: Path, tmp_path: Path
) -> None:
    inputs = [tiny_checkpoint, tiny_checkpoint_other_weights]
    code = main([*map(str, inputs), "--combine", combine, "--data", str(kermany_mini), "--out", str(tmp_path), "--threads", "2"])
    assert code == 0
    summary = json.loads((tmp_path / "combination.json").read_text())
    singles = [c for c in summary["candidates"] if c["kind"] == "single"]
    assert len(singles) == 2 and summary["combine"] == combine
    best_single = max(c[summary["monitor"]] for c in singles)
    assert summary["chosen_metrics"][summary["monitor"]] >= best_single  # a combination is kept only if it beats the best one
    result = load_checkpoint(tmp_path / "best.pt")
    assert "calibration" in result and "optimizer_state" not in result
    rebuilt = model_from_checkpoint(tmp_path / "best.pt").model  # rebuilds like any checkpoint
    # Whichever way validation went, best.pt is exactly the chosen members combined (one member: itself).
    chosen = summary["chosen"]
    assert 1 <= len(chosen) <= 2
    assert len(result.get("combined_from", {}).get("ingredients", chosen[:1])) == len(chosen)
    members = [model_from_checkpoint(Path(name)).model for name in chosen]
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        if combine == "logits":
            assert torch.allclose(rebuilt(images), torch.stack([m(images) for m in members]).mean(dim=0), atol=1e-5)
        else:
            key = next(k for k, v in members[0].state_dict().items() if v.is_floating_point())
            assert torch.allclose(rebuilt.state_dict()[key], torch.stack([m.state_dict()[key] for m in members]).mean(dim=0))


def test_checkpoints_of_other_tasks_are_refused(tiny_checkpoint: Path, tiny_three_class_checkpoint: Path, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    checkpoints = {str(p): load_checkpoint(p) for p in (tiny_checkpoint, tiny_three_class_checkpoint)}
    with pytest.raises(AverageError, match="task"):
        check_compatible(checkpoints)
    assert main([str(tiny_checkpoint), str(tiny_three_class_checkpoint), "--out", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("python -m pneumo.training.combine: error:") and not (tmp_path / "best.pt").exists()


def test_a_member_is_kept_only_for_a_gain_above_min_gain() -> None:
    higher_is_better, lower_is_better = TrainConfig(monitor="shift_auc"), TrainConfig(monitor="shift_loss")
    assert higher_is_better.improves(0.9953, 0.9947, 0.0005)
    assert not higher_is_better.improves(0.99533, 0.99531, 0.0005)  # a tie in practice costs a whole model
    assert lower_is_better.improves(0.18, 0.19, 0.005) and not lower_is_better.improves(0.188, 0.19, 0.005)


def test_an_ensemble_scored_from_its_members_cached_logits_scores_as_the_ensemble_itself(
    tiny_checkpoint: Path, tiny_checkpoint_other_weights: Path, kermany_mini: Path
) -> None:
    from pneumo.training.calibration.calibrate import validation_dataset
    from pneumo.training.config import config_from_dict
    from pneumo.training.fit.trainer import ValidationScorer
    from pneumo_runtime.preprocess import PreprocessSettings

    checkpoints = [load_checkpoint(p) for p in (tiny_checkpoint, tiny_checkpoint_other_weights)]
    config = config_from_dict({**checkpoints[0]["config"], "data": str(kermany_mini), "shift_validation": True})
    val_set = validation_dataset(config, PreprocessSettings.from_dict(checkpoints[0]["preprocess"]), config.data)
    scorer = ValidationScorer(val_set, config, torch.device("cpu"))
    members = [model_from_checkpoint(p).model for p in (tiny_checkpoint, tiny_checkpoint_other_weights)]
    member_logits = [scorer.logits(m) for m in members]
    from_cache = scorer.metrics({split: sum(logits[split] for logits in member_logits) / 2 for split in member_logits[0]})
    direct = scorer.score(ensemble_of(members))
    assert set(from_cache) == set(direct) and "shift_auc" in direct
    assert all(abs(from_cache[k] - direct[k]) < 1e-5 for k in direct)

"""Film corners: the corner-swap check (what it changes, and that a field of view makes a model immune) and the
corner-swap augmentation that trains a model to ignore them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pneumo.training.checkpoint import model_from_checkpoint
from pneumo.training.config import ConfigError, config_from_dict
from pneumo.training.data.dataset import XrayDataset
from pneumo.training.data.samples import discover_kermany
from pneumo.training.fit.trainer import Trainer
from pneumo.training.studies.corner_reliance import corner_reliance, corner_swapped, main
from pneumo_runtime.preprocess import field_of_view

from ..conftest import train_tiny


def test_corner_swap_replaces_only_the_corners_and_takes_them_from_the_other_class(kermany_mini: Path, tiny_checkpoint: Path) -> None:
    contract = model_from_checkpoint(tiny_checkpoint).preprocess
    dataset = XrayDataset(discover_kermany(kermany_mini, "train", "binary"), contract)
    swapped = corner_swapped(dataset)
    corners = field_of_view(*dataset.images.shape[1:], 1.0) == 0
    assert np.array_equal(swapped.images[:, ~corners], dataset.images[:, ~corners])  # the lungs are untouched
    assert dataset.images is not swapped.images and not np.array_equal(swapped.images, dataset.images)
    for index, label in enumerate(dataset.labels):
        donors = [j for j in range(len(dataset)) if np.array_equal(dataset.images[j][corners], swapped.images[index][corners])]
        assert donors and all(dataset.labels[j] != label for j in donors)


def test_the_seam_control_takes_corners_from_another_image_of_the_same_class(kermany_mini: Path, tiny_checkpoint: Path) -> None:
    contract = model_from_checkpoint(tiny_checkpoint).preprocess
    dataset = XrayDataset(discover_kermany(kermany_mini, "train", "binary"), contract)
    same = corner_swapped(dataset, donors="same")
    corners = field_of_view(*dataset.images.shape[1:], 1.0) == 0
    assert np.array_equal(same.images[:, ~corners], dataset.images[:, ~corners])
    for index, label in enumerate(dataset.labels):
        donors = [j for j in range(len(dataset)) if j != index and np.array_equal(dataset.images[j][corners], same.images[index][corners])]
        assert donors and all(dataset.labels[j] == label for j in donors)  # a seam, but the corners' class is unchanged


@pytest.mark.slow  # trains or builds large networks
def test_a_model_that_hides_the_corners_is_unaffected_by_construction(kermany_mini: Path, tmp_path: Path) -> None:
    masked = train_tiny(kermany_mini, tmp_path / "masked", "--ellipse-mask", "1.0")
    result = corner_reliance(masked)
    assert result["ellipse_mask"] == 1.0
    assert result["auc_own_corners"] == result["auc_swapped_corners"] == result["auc_same_class_corners"]
    assert result["mean_abs_change_p"] < 1e-6 and result["mean_abs_change_p_same_class"] < 1e-6


def test_scoring_under_a_field_of_view_the_model_was_not_trained_with(tiny_checkpoint: Path) -> None:
    own, masked = corner_reliance(tiny_checkpoint), corner_reliance(tiny_checkpoint, ellipse_mask=1.0)
    assert own["ellipse_mask"] == 0.0 and masked["ellipse_mask"] == 1.0
    assert masked["mean_abs_change_p"] < 1e-6  # the mask hides exactly what the swap changes
    assert {"shift_auc", "loss", "normals_mean_p_swapped"} <= set(own)


def test_the_command_reports_every_checkpoint(tiny_checkpoint: Path, tmp_path: Path, capsys) -> None:
    assert main([str(tiny_checkpoint), "--out", str(tmp_path / "new" / "r.json"), "--threads", "2"]) == 0  # the folder is made
    assert '"auc_swapped_corners"' in capsys.readouterr().out and (tmp_path / "new" / "r.json").is_file()
    assert main([str(tmp_path / "missing.pt")]) == 2


def _corner_values(dataset: XrayDataset, index: int) -> torch.Tensor:
    return dataset[index][0][:, torch.from_numpy(dataset.corners)]


@pytest.mark.parametrize("task", ["binary", "three_class"])
def test_corner_swap_augmentation_shows_another_class_corners_and_leaves_the_lungs(task: str, kermany_mini: Path,
                                                                                    tiny_checkpoint: Path) -> None:
    contract = model_from_checkpoint(tiny_checkpoint).preprocess
    samples = discover_kermany(kermany_mini, "train", task)
    plain, swapping = XrayDataset(samples, contract), XrayDataset(samples, contract, corner_swap=1.0)
    lungs = torch.from_numpy(~plain.corners)
    corners = [_corner_values(plain, j) for j in range(len(plain))]
    torch.manual_seed(0)
    donor_classes: set[int] = set()
    for index in list(range(len(plain))) * 3:
        image = swapping[index][0]
        assert torch.equal(image[:, lungs], plain[index][0][:, lungs])
        donors = [j for j in range(len(plain)) if torch.equal(image[:, ~lungs], corners[j])]
        assert donors and all(plain.labels[j] != plain.labels[index] for j in donors)
        if plain.labels[index] == 0:
            donor_classes.update(int(plain.labels[j]) for j in donors)
    assert donor_classes == set(range(1, len(plain.by_class)))  # every other class gives corners


def test_corner_swap_probability_is_honoured_and_checked(kermany_mini: Path, tiny_checkpoint: Path) -> None:
    contract = model_from_checkpoint(tiny_checkpoint).preprocess
    half = XrayDataset(discover_kermany(kermany_mini, "train", "binary"), contract, corner_swap=0.5)
    own = XrayDataset(half.samples, contract)[0][0]
    torch.manual_seed(1)
    swapped = sum(not torch.equal(half[0][0], own) for _ in range(200))
    assert 70 <= swapped <= 130
    with pytest.raises(ConfigError, match="corner_swap"):
        config_from_dict({"corner_swap": 1.5})
    with pytest.raises(ConfigError, match="hides the corners"):
        config_from_dict({"corner_swap": 0.5, "ellipse_mask": 1.0})
    normals = [sample for sample in half.samples if sample.label == 0]
    with pytest.raises(ValueError, match="two classes"):
        XrayDataset(normals, contract, corner_swap=0.5)


@pytest.mark.slow  # trains or builds large networks
def test_a_run_swaps_corners_in_training_only(kermany_mini: Path, tmp_path: Path) -> None:
    config = config_from_dict({"data": str(kermany_mini), "model": "custom_cnn", "input_size": 64, "val_fraction": 0.34,
                               "augment": "none", "corner_swap": 1.0, "threads": 2})
    trainer = Trainer(config, tmp_path / "run")
    train_plain = XrayDataset(trainer.train_set.samples, trainer.preprocess)
    val_plain = XrayDataset(trainer.val_set.samples, trainer.preprocess)
    lungs = torch.from_numpy(~train_plain.corners)
    assert trainer.train_loader.dataset is trainer.train_set
    image = trainer.train_set[0][0]
    assert torch.equal(image[:, lungs], train_plain[0][0][:, lungs]) and not torch.equal(image, train_plain[0][0])
    assert all(torch.equal(trainer.val_set[i][0], val_plain[i][0]) for i in range(len(val_plain)))
    assert "corner_swap: 1.0" in (tmp_path / "run" / "config.yaml").read_text()

"""Reduced-resolution members (models/resolution.py): what they cannot see, the grid they keep,
and the mixed-resolution ensembles they join (flat member means, rebuilt from a checkpoint)."""

from __future__ import annotations

import pytest
import torch

from pneumo.export.contract_builder import architecture
from pneumo.training.checkpoint import ensemble_fields, rebuild_model
from pneumo.training.combine import AverageError, check_compatible
from pneumo.training.config import ConfigError, TrainConfig, config_from_dict
from pneumo.training.models import create_model
from pneumo.training.models.ensemble import ensemble_of, member_count, member_downsample_factors
from pneumo_runtime.preprocess import PreprocessSettings


def _model(factor: int, seed: int) -> torch.nn.Module:
    torch.manual_seed(seed)
    return create_model("custom_cnn", 2, dropout=0.0, input_downsample=factor).eval()


@pytest.mark.parametrize("name", ["custom_cnn", "efficientnet_lite0"])
def test_a_half_resolution_model_keeps_the_full_resolution_grid(name: str) -> None:
    full, half = (create_model(name, 2, "none", input_downsample=k).eval() for k in (1, 2))
    images = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert half.features(images).shape == full.features(images).shape


def test_a_half_resolution_model_cannot_see_detail_finer_than_two_pixels() -> None:
    half, full = _model(2, 0), _model(1, 0)
    images = torch.randn(2, 3, 64, 64)
    checkerboard = (torch.arange(64)[:, None] + torch.arange(64)[None, :]) % 2 * 2.0 - 1.0  # zero mean in every 2x2 block
    with torch.no_grad():
        torch.testing.assert_close(half(images + checkerboard), half(images))
        assert not torch.allclose(full(images + checkerboard), full(images))  # a full-resolution model does see it


def test_an_ensemble_and_one_more_model_make_a_flat_mean_over_all_members() -> None:
    members = [_model(1, 0), _model(1, 1), _model(2, 2)]
    pair = ensemble_of(members[:2])
    trio = ensemble_of([pair, members[2]])
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = torch.stack([m(images) for m in members]).mean(dim=0)  # each member 1/3, not the pair 1/2
        torch.testing.assert_close(trio(images), expected)
    assert member_count(trio) == 3 and member_downsample_factors(trio) == [1, 1, 2]


def test_a_mixed_resolution_ensemble_rebuilds_from_its_checkpoint() -> None:
    trio = ensemble_of([ensemble_of([_model(1, 0), _model(1, 1)]), _model(2, 2)])
    config = TrainConfig(model="custom_cnn", dropout=0.0)
    checkpoint = {"model_state": trio.state_dict(), "config": config.to_dict(), "classes": ["NORMAL", "PNEUMONIA"],
                  "preprocess": PreprocessSettings(input_size=64).to_dict(), **ensemble_fields(trio)}
    assert checkpoint["ensemble_input_downsample"] == [1, 1, 2]
    rebuilt = rebuild_model(checkpoint).model
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(rebuilt(images), trio(images))
    assert architecture(checkpoint) == "custom_cnn x3 (seeing 224, 224, 112 px), mean of logits"


def test_input_downsample_must_divide_the_input_size() -> None:
    assert config_from_dict({"input_downsample": 2}).input_downsample == 2
    with pytest.raises(ConfigError, match="input_downsample=3"):
        config_from_dict({"input_downsample": 3})


def test_weights_are_averaged_only_between_the_same_network() -> None:
    def checkpoint(factor: int) -> dict:
        return {"config": TrainConfig(input_downsample=factor).to_dict(), "classes": ["NORMAL", "PNEUMONIA"], "preprocess": {}}

    pair = {"full.pt": checkpoint(1), "half.pt": checkpoint(2)}
    check_compatible(pair, "logits")  # a logit ensemble may mix resolutions
    with pytest.raises(AverageError, match="input_downsample"):
        check_compatible(pair, "weights")

"""One member of a logit ensemble as a model of its own: its logits are the ingredient's, up to a
constant (the ensemble keeps only the mean bias), and the members' mean is the ensemble."""

from pathlib import Path

import pytest
import torch

from pneumo.training.checkpoint import load_checkpoint, model_from_checkpoint
from pneumo.training.combine import main as combine
from pneumo.training.ensemble_member import main as extract


@pytest.mark.slow
def test_members_rebuild_the_ensemble_and_their_ingredients(tiny_checkpoint: Path, tiny_checkpoint_other_weights: Path, kermany_mini: Path,
                                                            tmp_path: Path) -> None:
    ingredients = [tiny_checkpoint, tiny_checkpoint_other_weights]
    assert combine([*map(str, ingredients), "--combine", "logits", "--min-gain", "-1", "--data", str(kermany_mini),
                    "--out", str(tmp_path / "ensemble"), "--threads", "1"]) == 0
    ensemble_path = tmp_path / "ensemble" / "best.pt"
    assert load_checkpoint(ensemble_path)["ensemble_members"] == 2
    for member in (1, 2):
        assert extract([str(ensemble_path), "--member", str(member), "--out", str(tmp_path / f"m{member}"), "--data", str(kermany_mini),
                        "--threads", "1"]) == 0
    members = [model_from_checkpoint(tmp_path / f"m{m}" / "best.pt") for m in (1, 2)]
    assert all("calibration" in m.checkpoint and "ensemble_members" not in m.checkpoint for m in members)
    ensemble = model_from_checkpoint(ensemble_path).model
    originals = [model_from_checkpoint(p).model for p in ingredients]
    order = load_checkpoint(ensemble_path)["combined_from"]["ingredients"]  # members in the order they were kept
    images = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        logits = [m.model(images) for m in members]
        assert torch.allclose(torch.stack(logits).mean(dim=0), ensemble(images), atol=1e-5)
        for member_logits, name in zip(logits, order, strict=True):
            original = originals[[str(p) for p in ingredients].index(name["checkpoint"])](images)
            shift = member_logits - original
            assert torch.allclose(shift, shift[0].expand_as(shift), atol=1e-5)  # the same bias shift on every image
    assert extract([str(ensemble_path), "--member", "3", "--out", str(tmp_path / "m3"), "--threads", "1"]) == 2

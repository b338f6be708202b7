"""Training sees exactly what the Predictor feeds the model, and augments it at the one right place.

The Dataset and the Predictor each call the runtime's preprocessing, but through their own decode
(the Predictor lets the JPEG decoder shrink a large film first). So the tensors themselves are
compared: the Dataset's against the array the Predictor hands to onnxruntime, on the training
copies and on full-size films, with and without the field-of-view mask.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import albumentations as A
import numpy as np
import pytest

from pneumo.training.data.dataset import XrayDataset
from pneumo.training.data.samples import discover_kermany
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.predictor import Predictor
from pneumo_runtime.preprocess import field_of_view, prepare_gray


@pytest.fixture(scope="module")
def kermany_like(tmp_path_factory, fixture_images, fullres_images) -> Path:
    """The fixture films under train/ as Kermany lays them out, the full-size ones included (links)."""
    root = tmp_path_factory.mktemp("kermany_like")
    for path in [*fixture_images, *fullres_images]:
        label = "NORMAL" if "IM-" in path.name else "PNEUMONIA"
        (root / "train" / label).mkdir(parents=True, exist_ok=True)
        (root / "train" / label / path.name).symlink_to(path)
    return root


def predictor_model_inputs(predictor: Predictor, paths: list[Path]) -> list[np.ndarray]:
    """What the Predictor hands to the model for each file (the real model runs as usual)."""
    seen: list[np.ndarray] = []
    outputs = predictor.model.outputs

    def recording(batch, features=False):
        seen.append(np.array(batch[0]))
        return outputs(batch, features=features)

    predictor.model.outputs = recording
    try:
        for path in paths:
            predictor.predict(path)
    finally:
        del predictor.model.outputs
    assert len(seen) == len(paths), "a film was rejected before the model saw it"
    return seen


@pytest.mark.parametrize("ellipse_mask", [0.0, 0.9])
def test_the_dataset_tensor_is_the_predictors_model_input(kermany_like, ellipse_mask):
    predictor = Predictor(threads=1)
    predictor.contract = replace(predictor.contract, preprocess=replace(predictor.contract.preprocess, ellipse_mask=ellipse_mask))
    samples = discover_kermany(kermany_like, "train", "binary")
    assert len(samples) == 18 and sum(min(decode_image(s.path).shape) > 224 for s in samples) == 2  # two full-size films
    dataset = XrayDataset(samples, predictor.contract.preprocess)
    expected = predictor_model_inputs(predictor, [s.path for s in samples])
    for index, sample in enumerate(samples):
        assert dataset[index][0].numpy().tobytes() == expected[index].tobytes(), sample.path.name
    if ellipse_mask:
        corner = expected[0][:, 0, 0]
        assert corner.tolist() == [-1.0] * 3  # black after normalisation: the mask was on


def test_augmentation_comes_after_clahe_and_before_the_field_of_view_mask(kermany_like):
    """The augmentation receives the resized, CLAHE'd image (so CLAHE cannot undo its jitter), and
    the mask is applied to its output (so the field of view stays crisp wherever the anatomy moved)."""
    contract = replace(Predictor(threads=1).contract.preprocess, ellipse_mask=0.9)
    sample = discover_kermany(kermany_like, "train", "binary")[0]
    received: list[np.ndarray] = []

    def white_out(image, **_):
        received.append(image.copy())
        return np.full_like(image, 255)

    dataset = XrayDataset([sample], contract, augmentation=A.Compose([A.Lambda(image=white_out, p=1.0)]))
    tensor = dataset[0][0].numpy()
    assert len(received) == 1
    np.testing.assert_array_equal(received[0], prepare_gray(decode_image(sample.path, reduce_to=224), contract))
    inside = field_of_view(224, 224, 0.9).astype(bool)
    assert (tensor[:, inside] == 1.0).all() and (tensor[:, ~inside] == -1.0).all()

"""Training augmentation and the seeded shifts used for validation under perturbation."""

import numpy as np
import pytest

from pneumo.training.data.augment import build_augmentation, validation_shift


@pytest.fixture
def xray_like() -> np.ndarray:
    rng = np.random.default_rng(0)
    image = np.full((224, 224), 40, np.uint8)
    image[30:200, 20:100] = 150  # two bright "lungs" on a dark background, plus texture
    image[30:200, 124:204] = 150
    return np.clip(image + rng.normal(0, 10, image.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("level", ["standard", "strong", "robust"])
def test_every_level_keeps_shape_and_dtype_and_changes_the_image(level, xray_like):
    augmentation = build_augmentation(level, hflip=True, seed=1)
    outputs = [augmentation(image=xray_like)["image"] for _ in range(8)]
    assert all(o.shape == xray_like.shape and o.dtype == np.uint8 for o in outputs)
    assert sum(not np.array_equal(o, xray_like) for o in outputs) >= 6


def test_no_augmentation_is_none():
    assert build_augmentation("none", hflip=True) is None


def test_validation_shift_repeats_exactly_after_reseeding(xray_like):
    shift = validation_shift(seed=7)
    first = [shift(image=xray_like)["image"] for _ in range(5)]
    shift.set_random_seed(7)
    again = [shift(image=xray_like)["image"] for _ in range(5)]
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert len({o.tobytes() for o in first}) == 5  # and each image gets a different shift

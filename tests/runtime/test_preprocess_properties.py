"""Properties of preprocessing (Hypothesis): the Kermany 224 px training copies are already what the
resize makes, so preprocessing leaves them as they are up to CLAHE, and the resize is idempotent:
an image it made passes through it again unchanged, whatever size it came from."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pneumo_runtime.inputs import decode_image
from pneumo_runtime.preprocess import PreprocessSettings, prepare_gray, preprocess, resize_like_training, to_model_input

TRAINING_COPIES = sorted((Path(__file__).parents[1] / "fixtures" / "kermany_mini").rglob("*.jpeg"))
CONTRACT = PreprocessSettings()
copies = st.sampled_from(TRAINING_COPIES)


@settings(max_examples=16, deadline=None)
@given(copies, st.sampled_from([0.0, 0.9]))
def test_a_training_copy_is_only_equalised(path, ellipse_mask):
    contract = replace(CONTRACT, ellipse_mask=ellipse_mask)
    copy = decode_image(path)
    assert copy.shape == (224, 224)
    assert resize_like_training(copy, contract) is copy  # no resize, no second JPEG generation
    np.testing.assert_array_equal(prepare_gray(copy, contract), contract.clahe.apply(copy))
    np.testing.assert_array_equal(preprocess(copy, contract), to_model_input(contract.clahe.apply(copy), contract))


@settings(max_examples=25, deadline=None)
@given(copies, st.integers(64, 900), st.integers(64, 900), st.sampled_from([None, 75, 95]))
def test_the_resize_is_idempotent(path, width, height, quality):
    """A training copy brought to any other size, then resized: resizing that result again changes nothing."""
    contract = replace(CONTRACT, resize_jpeg_quality=quality)
    other_size = cv2.resize(decode_image(path), (width, height), interpolation=cv2.INTER_LINEAR)
    once = resize_like_training(other_size, contract)
    assert once.shape == (224, 224) and once.dtype == np.uint8
    np.testing.assert_array_equal(resize_like_training(once, contract), once)
    np.testing.assert_array_equal(preprocess(once, contract), preprocess(other_size, contract))

"""Preprocessing step by step against an independent computation with OpenCV and numpy: the
resize and its interpolation, the JPEG re-encoding, CLAHE, the field of view, the normalisation
per channel and the conversion to 8-bit gray. Byte-exact, since a model is only as good as the
agreement between the pixels it was trained on and the pixels it is given."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from pneumo_runtime.errors import InvalidImageError
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.preprocess import (
    ClaheSettings,
    PreprocessSettings,
    field_of_view,
    prepare_gray,
    to_grayscale,
    to_model_input,
    to_uint8,
)


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_GRAYSCALE)


def clahe(image: np.ndarray, clip: float = 2.0, tiles: int = 8) -> np.ndarray:
    return cv2.createCLAHE(clipLimit=clip, tileGridSize=(tiles, tiles)).apply(image)


def test_the_documented_defaults():
    """Every model trained without saying otherwise gets these: 224 px, CLAHE 2.0 on 8 x 8 tiles,
    JPEG quality 75 after a resize, no field-of-view mask, inputs scaled to [-1, 1]."""
    assert PreprocessSettings() == PreprocessSettings(224, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), ClaheSettings(True, 2.0, 8), 0.0, 75)


def test_a_full_size_film_is_shrunk_by_area_re_encoded_and_equalised(fullres_images):
    film = decode_image(fullres_images[0])
    expected = clahe(jpeg_round_trip(cv2.resize(film, (224, 224), interpolation=cv2.INTER_AREA), 75))
    np.testing.assert_array_equal(prepare_gray(film, PreprocessSettings()), expected)
    other = PreprocessSettings(input_size=160, clahe=ClaheSettings(True, 3.0, 4), resize_jpeg_quality=90)
    expected = clahe(jpeg_round_trip(cv2.resize(film, (160, 160), interpolation=cv2.INTER_AREA), 90), 3.0, 4)
    np.testing.assert_array_equal(prepare_gray(film, other), expected)


@pytest.mark.parametrize("shape, interpolation", [((150, 100), cv2.INTER_LINEAR), ((224, 100), cv2.INTER_LINEAR), ((100, 224), cv2.INTER_LINEAR),
                                                  ((300, 100), cv2.INTER_AREA), ((100, 300), cv2.INTER_AREA)])
def test_a_film_is_enlarged_linearly_and_shrunk_by_area_if_either_side_is_larger(fullres_images, shape, interpolation):
    film = cv2.resize(decode_image(fullres_images[1]), shape[::-1], interpolation=cv2.INTER_AREA)
    settings = PreprocessSettings(clahe=ClaheSettings(enabled=False), resize_jpeg_quality=None)
    np.testing.assert_array_equal(prepare_gray(film, settings), cv2.resize(film, (224, 224), interpolation=interpolation))


def test_clahe_switched_off_returns_the_image_itself():
    image = np.arange(224 * 224, dtype=np.uint32).reshape(224, 224).astype(np.uint8)
    assert ClaheSettings(enabled=False).apply(image) is image


@pytest.mark.parametrize("height, width, ellipse", [(40, 60, 1.0), (64, 64, 0.7), (33, 21, 1.3)])
def test_field_of_view_is_the_centred_ellipse_through_pixel_centres(height, width, ellipse):
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    inside = ((rows - height / 2) / (ellipse * height / 2)) ** 2 + ((cols - width / 2) / (ellipse * width / 2)) ** 2 <= 1.0
    mask = field_of_view(height, width, ellipse)
    assert mask.dtype == np.float32 and mask.shape == (height, width) and not mask.flags.writeable
    np.testing.assert_array_equal(mask, inside.astype(np.float32))


def test_model_input_masks_then_normalises_each_channel_with_its_own_mean_and_std():
    rng = np.random.default_rng(3)
    image = rng.integers(0, 256, (48, 48), dtype=np.uint8)
    settings = PreprocessSettings(input_size=48, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225), ellipse_mask=0.9)
    scaled = image.astype(np.float32) / 255.0 * field_of_view(48, 48, 0.9)
    expected = np.stack([(scaled - np.float32(m)) / np.float32(s) for m, s in zip(settings.mean, settings.std, strict=True)])
    out = to_model_input(image, settings)
    assert out.dtype == np.float32 and out.shape == (3, 48, 48)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)
    unmasked = to_model_input(image, PreprocessSettings(input_size=48))
    np.testing.assert_allclose(unmasked, np.broadcast_to(image.astype(np.float32) / 255.0 * 2 - 1, (3, 48, 48)), atol=1e-6)


def test_to_grayscale_reads_colour_as_opencv_stores_it():
    blue_bgr = np.zeros((8, 8, 3), np.uint8)
    blue_bgr[..., 0] = 255
    assert to_grayscale(blue_bgr)[0, 0] == 29  # 0.114 x 255: blue weighs least, so channel 0 is blue
    blue_bgra = np.dstack([blue_bgr, np.full((8, 8), 255, np.uint8)])
    assert to_grayscale(blue_bgra)[0, 0] == 29
    single = np.full((8, 8, 1), 77, np.uint8)
    assert to_grayscale(single).shape == (8, 8) and to_grayscale(single)[0, 0] == 77
    with pytest.raises(InvalidImageError, match=r"^unsupported image with 2 channels$"):
        to_grayscale(np.zeros((8, 8, 2), np.uint8))
    with pytest.raises(InvalidImageError, match=r"^unsupported image shape \(2, 8, 8, 3\)$"):
        to_grayscale(np.zeros((2, 8, 8, 3), np.uint8))


def test_to_uint8_stretches_the_range_actually_used():
    twelve_bit = np.array([[1000, 2500, 4000]], np.uint16)
    assert to_uint8(twelve_bit).tolist() == [[0, 128, 255]]  # 1500 x 255 / 3000 = 127.5, rounded half to even: 128
    assert to_uint8(np.array([[-1.0, 0.0, 1.0]])).tolist() == [[0, 128, 255]]
    mask = to_uint8(np.array([[True, False]]))
    assert mask.dtype == np.uint8 and mask.tolist() == [[255, 0]]
    flat = to_uint8(np.full((2, 2), 3000, np.uint16))
    assert flat.dtype == np.uint8 and flat.tolist() == [[0, 0], [0, 0]]
    eight = np.array([[7, 9]], np.uint8)
    assert to_uint8(eight) is eight

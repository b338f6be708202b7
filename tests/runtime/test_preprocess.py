from pathlib import Path

import cv2
import numpy as np
import pytest

from pneumo_runtime import ClaheSettings, ImageDecodeError, InvalidImageError, PreprocessSettings, preprocess
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.preprocess import prepare_gray, to_model_input


def test_preprocessing_is_byte_identical_twice(fullres_images):
    contract = PreprocessSettings()
    first = preprocess(decode_image(fullres_images[0]), contract)
    second = preprocess(decode_image(fullres_images[0].read_bytes()), contract)
    assert first.dtype == np.float32 and first.shape == (3, 224, 224)
    assert first.tobytes() == second.tobytes()


def test_fullres_images_decode_to_2d_uint8(fullres_images):
    for path in fullres_images:
        gray = decode_image(path)
        assert gray.ndim == 2 and gray.dtype == np.uint8 and min(gray.shape) > 224


def test_clahe_changes_the_image_and_can_be_switched_off(fixture_images):
    gray = decode_image(fixture_images[0])
    on = prepare_gray(gray, PreprocessSettings())
    off = prepare_gray(gray, PreprocessSettings(clahe=ClaheSettings(enabled=False)))
    assert np.array_equal(off, gray)  # already 224 px: nothing but CLAHE could change it
    assert not np.array_equal(on, off)
    stronger = prepare_gray(gray, PreprocessSettings(clahe=ClaheSettings(clip_limit=4.0, tile_grid=4)))
    assert not np.array_equal(stronger, on)


def test_normalisation_uses_the_contract_mean_and_std():
    contract = PreprocessSettings(input_size=64, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    white = np.full((64, 64), 255, np.uint8)
    out = to_model_input(white, contract)
    assert out.shape == (3, 64, 64)
    np.testing.assert_allclose(out[:, 0, 0], (1 - np.array(contract.mean)) / np.array(contract.std), rtol=1e-6)


def test_resize_squashes_to_the_input_size(fullres_images):
    gray = decode_image(fullres_images[0])
    assert prepare_gray(gray, PreprocessSettings(input_size=300)).shape == (300, 300)


def test_contract_round_trips_through_a_dict():
    contract = PreprocessSettings(256, (0.1, 0.2, 0.3), (0.4, 0.5, 0.6), ClaheSettings(False, 3.0, 4))
    assert PreprocessSettings.from_dict(contract.to_dict()) == contract


def test_sixteen_bit_and_rgba_images_become_8_bit_gray(tmp_path: Path):
    ramp16 = np.tile(np.linspace(1000, 4000, 128).astype(np.uint16), (128, 1))  # 12-bit data in 16 bits
    gray = decode_image(cv2.imencode(".png", ramp16)[1].tobytes())
    assert gray.dtype == np.uint8 and gray.min() == 0 and gray.max() == 255
    ramp8 = np.tile(np.arange(0, 256, 4, dtype=np.uint8), (64, 1))
    rgba = np.dstack([ramp8] * 3 + [np.full((64, 64), 255, np.uint8)])
    assert decode_image(cv2.imencode(".png", rgba)[1].tobytes()).shape == (64, 64)


@pytest.mark.parametrize("payload", [b"", b"this is not an image", b"\xff\xd8\xff\xe0" + b"\x00" * 20])
def test_undecodable_bytes_raise_a_typed_error(payload: bytes):
    with pytest.raises(ImageDecodeError):
        decode_image(payload)


def test_missing_file_and_tiny_image_are_refused(tmp_path: Path):
    with pytest.raises(ImageDecodeError, match="file not found"):
        decode_image(tmp_path / "missing.png")
    with pytest.raises(InvalidImageError, match="too small"):
        decode_image(cv2.imencode(".png", np.zeros((8, 8), np.uint8))[1].tobytes())


def test_field_of_view_blacks_out_the_corners_and_keeps_the_centre():
    contract = PreprocessSettings(input_size=64, ellipse_mask=1.0)
    white = np.full((64, 64), 255, np.uint8)
    masked, unmasked = to_model_input(white, contract), to_model_input(white, PreprocessSettings(input_size=64))
    black = (0.0 - 0.5) / 0.5  # a black pixel after the default normalisation
    for row, col in ((0, 0), (0, 63), (63, 0), (63, 63), (3, 8)):  # corners and corner text
        assert np.all(masked[:, row, col] == black)
    for row, col in ((32, 32), (32, 1), (1, 32), (50, 50)):  # centre, edge midpoints, inside the diagonal
        assert np.all(masked[:, row, col] == unmasked[:, row, col])
    share_hidden = float(np.mean(masked[0] == black))
    assert share_hidden == pytest.approx(1 - np.pi / 4, abs=0.02)  # what an inscribed ellipse leaves out


def test_field_of_view_follows_the_contract_and_old_contracts_keep_the_whole_image():
    contract = PreprocessSettings(ellipse_mask=1.1)
    assert PreprocessSettings.from_dict(contract.to_dict()) == contract
    old = contract.to_dict()
    del old["ellipse_mask"]  # written before the field existed
    assert PreprocessSettings.from_dict(old).ellipse_mask == 0.0
    image = np.random.default_rng(0).integers(0, 256, (224, 224), np.uint8)
    wider, narrower = to_model_input(image, contract), to_model_input(image, PreprocessSettings(ellipse_mask=0.8))
    assert np.sum(wider[0] == -1.0) < np.sum(narrower[0] == -1.0)


def test_resize_reproduces_the_training_copies_and_leaves_input_sized_images_alone():
    from pneumo_runtime.preprocess import resize_like_training

    rng = np.random.default_rng(0)
    square = rng.integers(0, 256, (224, 224), dtype=np.uint8)
    assert resize_like_training(square, PreprocessSettings()) is square  # a 224 px copy is used as it is
    film = cv2.GaussianBlur(rng.integers(0, 256, (900, 700), dtype=np.uint8), (0, 0), 3)
    plain = resize_like_training(film, PreprocessSettings(resize_jpeg_quality=None))
    reencoded = resize_like_training(film, PreprocessSettings())
    assert plain.shape == reencoded.shape == (224, 224)
    assert 0 < np.abs(plain.astype(int) - reencoded).mean() < 3  # JPEG q75 noise, not a different image
    # Contracts written before the field existed come from models trained on the copies: re-encode too.
    old = PreprocessSettings().to_dict()
    del old["resize_jpeg_quality"]
    assert PreprocessSettings.from_dict(old).resize_jpeg_quality == 75

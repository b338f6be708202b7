import struct
import zlib

import cv2
import numpy as np
import pytest

from pneumo_runtime.errors import ImageDecodeError, InvalidImageError, PneumoError
from pneumo_runtime.inputs import decode_image, load_image


def png_bytes(image: np.ndarray) -> bytes:
    return cv2.imencode(".png", image)[1].tobytes()


@pytest.mark.parametrize("suffix", [".png", ".bmp", ".jpg"])
def test_gray_rgb_and_rgba_encodings_give_the_same_gray_image(fixture_images, suffix):
    gray = cv2.imread(str(fixture_images[0]), cv2.IMREAD_GRAYSCALE)
    as_bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    variants = [gray, as_bgr] + ([cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA)] if suffix == ".png" else [])
    decoded = [decode_image(cv2.imencode(suffix, v)[1].tobytes()) for v in variants]
    for image in decoded:
        assert image.shape == gray.shape and image.dtype == np.uint8
        assert np.abs(image.astype(int) - decoded[0]).max() <= 1
    assert load_image(cv2.imencode(suffix, as_bgr)[1].tobytes()).colourfulness < 1.0


def test_sixteen_bit_png_keeps_its_contrast(fixture_images):
    gray = cv2.imread(str(fixture_images[0]), cv2.IMREAD_GRAYSCALE)
    sixteen = gray.astype(np.uint16) * 16  # 12-bit data stored in 16 bits
    decoded = decode_image(png_bytes(sixteen))
    assert decoded.max() == 255 and np.corrcoef(decoded.ravel(), gray.ravel())[0, 1] > 0.999


def test_exif_orientation_is_applied(fixture_images):
    image = cv2.imread(str(fixture_images[0]), cv2.IMREAD_GRAYSCALE)[:, :200]  # not square, to see the turn
    jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    # An APP1 Exif segment whose only tag is Orientation = 6 (rotate 90 degrees clockwise to view).
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
    rotated = decode_image(jpeg[:2] + app1 + jpeg[2:])
    assert rotated.shape == (image.shape[1], image.shape[0])
    expected = cv2.rotate(decode_image(jpeg), cv2.ROTATE_90_CLOCKWISE)
    assert np.abs(rotated.astype(int) - expected).mean() < 2


def test_a_decompression_bomb_is_refused_from_its_header():
    # A valid PNG header claiming 100,000 x 100,000 pixels, followed by a few bytes of data.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    bomb = b"\x89PNG\r\n\x1a\n" + chunk + b"\x00" * 64
    with pytest.raises(InvalidImageError, match="too large.*pixel limit"):
        decode_image(bomb)
    with pytest.raises(InvalidImageError, match="too large"):
        decode_image(png_bytes(np.zeros((300, 300), np.uint8) + 7), max_pixels=200 * 200)


def test_truncated_and_broken_files_raise_typed_errors(fullres_images):
    data = fullres_images[0].read_bytes()
    for broken in (data[:200], data[:20], b"\xff\xd8\xff" + b"\x00" * 100, b"%PDF-1.4 not an image", b""):
        with pytest.raises(PneumoError):
            decode_image(broken)


@pytest.mark.parametrize(
    "image, message",
    [
        (np.full((256, 256), 128, np.uint8), "constant"),
        (np.zeros((256, 256), np.uint8), "constant"),
        (np.random.default_rng(0).integers(0, 255, (16, 300), dtype=np.uint8), "too small"),
    ],
)
def test_empty_constant_and_tiny_images_are_refused(image, message):
    with pytest.raises(InvalidImageError, match=message):
        decode_image(png_bytes(image))


def test_numpy_arrays_in_rgb_float_and_16_bit(fixture_images):
    gray = cv2.imread(str(fixture_images[0]), cv2.IMREAD_GRAYSCALE)
    rgb = np.dstack([gray] * 3)
    np.testing.assert_array_equal(decode_image(rgb), gray)
    assert np.abs(decode_image(gray.astype(np.float32) / 255).astype(int) - gray).max() <= 1
    assert decode_image(gray.astype(np.uint16) * 200).max() == 255
    with pytest.raises(InvalidImageError):
        decode_image(np.zeros((2, 2, 2, 2), np.uint8))


def test_unsupported_formats_and_folders_are_clear_errors(tmp_path):
    gif = b"GIF89a" + b"\x00" * 100
    with pytest.raises(ImageDecodeError, match="JPEG, PNG, BMP or DICOM"):
        decode_image(gif)
    with pytest.raises(ImageDecodeError, match="is a folder"):
        decode_image(tmp_path)

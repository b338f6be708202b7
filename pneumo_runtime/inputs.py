"""Every input a user may hand us -> one 2-D uint8 grayscale image, or a typed one-line error.

Accepted: JPEG, PNG and BMP (8 or 16 bit; gray, RGB or RGBA; EXIF orientation applied), DICOM
(with the optional pydicom), encoded bytes, and numpy arrays (RGB order, as Gradio and PIL give).
The pixel count is checked from the header before anything is decoded.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .dicom import decode_dicom, dicom_size
from .errors import ImageDecodeError, InvalidImageError
from .image_header import image_size, sniff_format
from .preprocess import PreprocessContract, prepare_gray, to_grayscale, to_model_input, to_uint8

DEFAULT_MAX_PIXELS = 50_000_000  # a large digital radiograph is ~4300 x 3500 = 15 MP
MIN_SIDE = 32  # below this an image carries no usable chest anatomy
MIN_DYNAMIC_RANGE = 8  # gray levels: less is a blank or constant image


@dataclass(frozen=True)
class LoadedImage:
    gray: np.ndarray  # 2-D uint8
    colourfulness: float  # Hasler-Suesstrunk colourfulness of the original; 0 for gray sources
    source_format: str


def read_source(source: str | Path | bytes) -> bytes:
    if isinstance(source, (bytes, bytearray, memoryview)):
        return bytes(source)
    path = Path(source)
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise ImageDecodeError(f"{path.name} is a folder, not an image") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read {path.name}: {exc.strerror or exc}") from None


def check_pixels(width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise InvalidImageError(f"image too large: {width}x{height} px is over the {max_pixels:,} pixel limit")


def load_image(source: str | Path | bytes | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS, reduce_to: int | None = None) -> LoadedImage:
    """``reduce_to``: a large JPEG may be decoded at 1/2, 1/4 or 1/8 scale, keeping its shorter
    side at least this long. The reduction happens inside the JPEG decoder, several times faster
    than a full decode, and brings CLAHE close to the scale the model was trained at."""
    if isinstance(source, np.ndarray):
        loaded = _from_array(source, max_pixels)
    else:
        loaded = _from_bytes(read_source(source), max_pixels, reduce_to)
    gray = loaded.gray
    if min(gray.shape) < MIN_SIDE:
        raise InvalidImageError(f"image too small ({gray.shape[1]}x{gray.shape[0]} px, need {MIN_SIDE}+)")
    if int(gray.max()) - int(gray.min()) < MIN_DYNAMIC_RANGE:
        raise InvalidImageError("blank or constant image: nothing to analyse")
    return loaded


def decode_image(source: str | Path | bytes | np.ndarray, max_pixels: int = DEFAULT_MAX_PIXELS, reduce_to: int | None = None) -> np.ndarray:
    """The grayscale image alone: what preprocessing and training need."""
    return load_image(source, max_pixels, reduce_to).gray


_REDUCED_COLOUR = {1: cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR, 2: cv2.IMREAD_REDUCED_COLOR_2, 4: cv2.IMREAD_REDUCED_COLOR_4, 8: cv2.IMREAD_REDUCED_COLOR_8}


def _reduction(kind: str, width: int, height: int, reduce_to: int | None) -> int:
    if kind != "jpeg" or not reduce_to:
        return 1
    return max((f for f in _REDUCED_COLOUR if min(width, height) // f >= reduce_to), default=1)


def model_input(source: str | Path | bytes | np.ndarray, contract: PreprocessContract) -> np.ndarray:
    """A file exactly as the Predictor sees it: float32 (3, S, S). For batch tools and export."""
    return to_model_input(prepare_gray(decode_image(source, reduce_to=contract.input_size), contract), contract)


def _from_bytes(data: bytes, max_pixels: int, reduce_to: int | None = None) -> LoadedImage:
    if not data:
        raise ImageDecodeError("empty file")
    kind = sniff_format(data)
    if kind == "dicom":
        width, height, _ = dicom_size(data)
        check_pixels(width, height, max_pixels)
        return LoadedImage(to_uint8(decode_dicom(data)), 0.0, kind)
    if kind == "unknown":
        raise ImageDecodeError("not a supported image (JPEG, PNG, BMP or DICOM expected)")
    width, height = image_size(data, kind)
    check_pixels(width, height, max_pixels)
    # ANYDEPTH keeps 16 bits; ANYCOLOR keeps colour for the guard. Unlike IMREAD_UNCHANGED, these
    # flags (and the REDUCED ones) let OpenCV apply the EXIF orientation. Alpha is dropped.
    flags = _REDUCED_COLOUR[_reduction(kind, width, height, reduce_to)]
    decoded = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    if decoded is None:
        raise ImageDecodeError(f"broken or truncated {kind.upper()} file")
    return LoadedImage(to_grayscale(decoded), colourfulness(decoded, "BGR"), kind)


def _from_array(array: np.ndarray, max_pixels: int) -> LoadedImage:
    if array.ndim not in (2, 3) or array.size == 0:
        raise InvalidImageError(f"an image array must be 2-D or 3-D, got shape {array.shape}")
    check_pixels(array.shape[1], array.shape[0], max_pixels)
    if array.dtype.kind == "f":
        finite = np.nan_to_num(array.astype(np.float64))
        array = np.clip(finite * 255.0, 0, 255).astype(np.uint8) if finite.max() <= 1.0 else to_uint8(finite)
    elif array.dtype.kind not in "uib":
        raise InvalidImageError(f"unsupported array type {array.dtype}")
    if array.ndim == 3 and array.shape[2] in (3, 4):
        array = np.ascontiguousarray(array[:, :, 2::-1] if array.shape[2] == 3 else array[:, :, [2, 1, 0, 3]])
    return LoadedImage(to_grayscale(array), colourfulness(array, "BGR"), "array")


def colourfulness(image: np.ndarray, order: str) -> float:
    """0 for gray images stored as RGB; natural colour photos score 20-100 (Hasler & Suesstrunk 2003)."""
    if image.ndim != 3 or image.shape[2] < 3:
        return 0.0
    small = image[:: max(1, image.shape[0] // 256), :: max(1, image.shape[1] // 256), :3].astype(np.float64)
    if image.dtype == np.uint16:
        small /= 257.0
    blue, green, red = (small[..., i] for i in range(3)) if order == "BGR" else (small[..., 2 - i] for i in range(3))
    rg, yb = red - green, 0.5 * (red + green) - blue
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))

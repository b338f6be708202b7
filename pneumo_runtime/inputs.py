"""Every input a user may hand us -> one 2-D uint8 grayscale image, or a typed one-line error.

Accepted: JPEG, PNG and BMP (8 or 16 bit; gray, RGB or RGBA; EXIF orientation applied), DICOM
(with the optional pydicom), encoded bytes, and numpy arrays (RGB order, as Gradio and PIL give).
The pixel count is checked from the header before anything is decoded.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from .dicom import decode_dicom, dicom_size
from .errors import ImageDecodeError, InvalidImageError
from .image_header import image_size, sniff_format
from .preprocess import PreprocessSettings, prepare_gray, to_grayscale, to_model_input, to_uint8

DEFAULT_MAX_PIXELS = 50_000_000  # a large digital radiograph is ~4300 x 3500 = 15 MP
MIN_SIDE = 32  # below this an image carries no usable chest anatomy
MIN_DYNAMIC_RANGE = 8  # gray levels: less is a blank or constant image
SNIFF_BYTES = 132  # enough for every signature, DICOM's at offset 128 included
# Largest size a file may have, in bytes per pixel of ``max_pixels``: each format's worst case with
# room to spare (a 16-bit RGBA PNG stored uncompressed needs 8; a quality-100 JPEG of noise about 4;
# BMP at most 4; DICOM 2 per sample, 3 samples). A larger file cannot hold a permitted image.
SIZE_FACTORS = {"jpeg": 8.0, "png": 9.0, "bmp": 4.0, "dicom": 8.0}
METADATA_ALLOWANCE = 64 << 20  # bytes: EXIF, ICC profiles, DICOM private tags


@dataclass(frozen=True)
class LoadedImage:
    gray: np.ndarray  # 2-D uint8
    colourfulness: float  # Hasler-Suesstrunk colourfulness of the original; 0 for gray sources
    source_format: str


def read_source(source: str | Path | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """The bytes of an input, read safely: see ``safe_read``. Bytes given directly are capped too."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        check_file_size(len(data), sniff_format(data[:SNIFF_BYTES]), max_pixels)
        return data
    return safe_read(Path(source), max_pixels)


def safe_read(path: Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> bytes:
    """Only a regular file is read (a symlink counts as what it points to), and never past the size
    cap of its format: a FIFO, a device such as /dev/zero or a growing file cannot make us read forever.

    Messages never name the file: a file name may identify a patient, and the caller knows the path.
    """
    try:
        refuse_non_regular(os.stat(path).st_mode)  # stat follows symlinks: the target is judged
        # O_NONBLOCK: should the path be swapped for a FIFO after the stat, opening it does not hang.
        handle = os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)), "rb")
    except FileNotFoundError:
        raise ImageDecodeError("file not found") from None
    except OSError as exc:
        raise ImageDecodeError(f"cannot read the file: {exc.strerror or type(exc).__name__}") from None
    with handle:
        status = os.fstat(handle.fileno())
        refuse_non_regular(status.st_mode)  # what was opened, not what was looked at
        head = handle.read(SNIFF_BYTES)
        kind = sniff_format(head)
        if kind not in SIZE_FACTORS:
            return head  # not an image we read: the format check refuses it without the rest
        cap = check_file_size(status.st_size, kind, max_pixels)
        data = head + handle.read(cap + 1 - len(head))  # bounded even if the file grows meanwhile
        check_file_size(len(data), kind, max_pixels)
        return data


def refuse_non_regular(mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    what = ("a folder" if stat.S_ISDIR(mode) else "a named pipe (FIFO)" if stat.S_ISFIFO(mode)
            else "a socket" if stat.S_ISSOCK(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a regular file")
    raise ImageDecodeError(f"this path is {what}, not an image file: only regular files are read")


def size_cap(kind: str, max_pixels: int) -> int:
    """The most bytes a file of this format may hold for an image of ``max_pixels`` pixels."""
    return int(max_pixels * SIZE_FACTORS[kind]) + METADATA_ALLOWANCE


def check_file_size(size: int, kind: str, max_pixels: int) -> int:
    if kind not in SIZE_FACTORS:
        return size
    cap = size_cap(kind, max_pixels)
    if size > cap:
        raise InvalidImageError(f"file too large: {size:,} bytes is over the {cap:,} byte limit for a {kind.upper()} "
                                f"of at most {max_pixels:,} pixels")
    return cap


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
        loaded = _from_bytes(read_source(source, max_pixels), max_pixels, reduce_to)
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


def model_input(source: str | Path | bytes | np.ndarray, settings: PreprocessSettings) -> np.ndarray:
    """A file exactly as the Predictor sees it: float32 (3, S, S). For batch tools and export."""
    return to_model_input(prepare_gray(decode_image(source, reduce_to=settings.input_size), settings), settings)


def _from_bytes(data: bytes, max_pixels: int, reduce_to: int | None = None) -> LoadedImage:
    if not data:
        raise ImageDecodeError("empty file")
    kind = sniff_format(data)
    if kind == "dicom":
        width, height, frames = dicom_size(data)
        check_pixels(width, height * frames, max_pixels)
        if frames > 1:
            raise InvalidImageError("multi-frame DICOM is not supported: export the single radiograph")
        return LoadedImage(to_uint8(decode_dicom(data)), 0.0, kind)
    if kind not in SIZE_FACTORS:
        what = "not a supported image" if kind == "unknown" else f"{kind.upper()} files are not supported"
        raise ImageDecodeError(f"{what} (JPEG, PNG, BMP or DICOM expected)")
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
        # NaN and infinities count as 0; the clip keeps max - min finite, so the stretch cannot overflow.
        finite = np.clip(np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0), -1e300, 1e300)
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

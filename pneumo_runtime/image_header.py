"""Image dimensions from the file header, read before decoding, so that a decompression bomb
(a small file that decodes to gigapixels) is refused without allocating it."""

from __future__ import annotations

import struct

from .errors import ImageDecodeError

# JPEG start-of-frame markers carry the size; DHT (C4), JPG (C8) and DAC (CC) share the range.
_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def sniff_format(data: bytes) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:2] == b"BM":
        return "bmp"
    if data[128:132] == b"DICM":
        return "dicom"
    # Recognised only to name them in the refusal: a user learns what to convert.
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:5] == b"%PDF-":
        return "pdf"
    return "unknown"


def image_size(data: bytes, kind: str) -> tuple[int, int]:
    """(width, height) from a JPEG, PNG or BMP header."""
    try:
        if kind == "png":
            return struct.unpack(">II", data[16:24])
        if kind == "bmp":
            width, height = struct.unpack("<ii", data[18:26])
            return abs(width), abs(height)  # a negative height means a top-down bitmap
        if kind == "jpeg":
            return _jpeg_size(data)
    except struct.error:
        pass
    raise ImageDecodeError(f"truncated {kind.upper()} header")


def _jpeg_size(data: bytes) -> tuple[int, int]:
    offset = 2
    while offset + 9 <= len(data):
        if data[offset] != 0xFF:
            raise ImageDecodeError("corrupt JPEG header")
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        if marker in _SOF_MARKERS:
            height, width = struct.unpack(">HH", data[offset + 5:offset + 9])
            return width, height
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            offset += 2
            continue
        (length,) = struct.unpack(">H", data[offset + 2:offset + 4])
        offset += 2 + length
    raise ImageDecodeError("truncated JPEG: no frame header")

"""The hostile-input corpus: every input class a user (or an attacker) may hand pneumo, each with
the behaviour written down beside it.

``build_corpus(folder, film)`` writes the files into ``folder`` from one real chest film and returns
the cases. Three expectations exist:

- ``SAME``: a valid film in another encoding; its decision must equal the source film's.
- ``REFUSED``: a one-line error whose text matches ``reason`` (a regular expression).
- ``REJECTED``: decoded, then rejected by the input guard (not a chest X-ray), with ``reason``.
- ``NOT_CONFIDENT``: never a confident NORMAL/PNEUMONIA: REJECTED or REFER.

``demo`` says how the demo's upload API is expected to see the case: ``None`` when an upload cannot
carry it (a browser uploads bytes, never a FIFO or a device), else the same expectation.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

SAME, REFUSED, REJECTED, NOT_CONFIDENT = "same decision as the source film", "refused", "REJECTED", "REJECTED or REFER"
PATIENT_NAME = "Zoë^Müller-Łukasik"  # known, non-ASCII: must never appear in any output
PATIENT_ID = "PID-7731-SECRET"


@dataclass(frozen=True)
class Case:
    name: str  # what the input is, for the README table and the test ids
    path: Path
    expect: str
    reason: str = ""  # regular expression the refusal message must match
    demo: bool = True  # False: an upload cannot carry this input (special files)
    demo_reason: str = ""  # the demo's refusal, where its upload check answers first (file type)


def build_corpus(folder: Path, film: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    gray = cv2.imread(str(film), cv2.IMREAD_GRAYSCALE)
    jpeg = film.read_bytes()
    png = cv2.imencode(".png", gray)[1].tobytes()
    rng = np.random.default_rng(23)
    cases: list[Case] = []

    def add(name: str, file: str, data: bytes | None, expect: str, reason: str = "", demo: bool = True) -> None:
        path = folder / file
        if data is not None:
            path.write_bytes(data)
        # The demo's upload box accepts only the suffixes the runtime reads; others are refused at upload.
        by_type = "Invalid file type" if path.suffix.lower() in (".gif", ".tiff", ".tif") else ""
        cases.append(Case(name, path, expect, reason, demo, by_type))

    add("the source film (JPEG)", "source.jpeg", jpeg, SAME)
    add("zero bytes", "empty.jpeg", b"", REFUSED, "empty file")
    add("truncated JPEG (first half)", "truncated.jpeg", jpeg[: len(jpeg) // 2], REFUSED, "broken or truncated JPEG")
    add("truncated PNG (first half)", "truncated.png", png[: len(png) // 2], REFUSED, "broken or truncated PNG")
    add("random bytes", "random.jpeg", rng.bytes(4096), REFUSED, "not a supported image")
    add("text named .jpg", "notes.jpg", b"Patient seen on Monday, chest clear.\n" * 20, REFUSED, "not a supported image")
    add("HTML named .jpg", "page.jpg", b"<!DOCTYPE html><html><body><img src=x.jpg></body></html>\n", REFUSED, "not a supported image")
    add("JPEG header followed by junk", "junk_after_header.jpeg", jpeg[:600] + rng.bytes(20000), REFUSED, "JPEG")
    add("JPEG frame headers intact, scan data junk", "junk_scan.jpeg", _junk_scan(jpeg, rng), REJECTED, "not a (chest X-ray|frontal chest film)")
    add("PNG header claiming 60000x60000 (decompression bomb)", "bomb.png", _png_header_only(60_000, 60_000), REFUSED, "too large")
    add("1x1 image", "one_pixel.png", cv2.imencode(".png", np.full((1, 1), 128, np.uint8))[1].tobytes(), REFUSED, "too small")
    add("10000x20 image", "strip.png", cv2.imencode(".png", rng.integers(0, 255, (20, 10_000), dtype=np.uint8))[1].tobytes(), REFUSED, "too small")
    add("all black", "black.png", cv2.imencode(".png", np.zeros_like(gray))[1].tobytes(), REFUSED, "blank or constant")
    add("all white", "white.png", cv2.imencode(".png", np.full_like(gray, 255))[1].tobytes(), REFUSED, "blank or constant")
    add("16-bit PNG", "sixteen_bit.png", cv2.imencode(".png", gray.astype(np.uint16) * 257)[1].tobytes(), SAME)
    add("RGBA PNG", "rgba.png", cv2.imencode(".png", cv2.cvtColor(gray, cv2.COLOR_GRAY2BGRA))[1].tobytes(), SAME)
    add("CMYK JPEG", "cmyk.jpeg", _pil_bytes(Image.fromarray(gray).convert("CMYK"), "JPEG", quality=95), SAME)
    add("progressive JPEG", "progressive.jpeg", _pil_bytes(Image.fromarray(gray), "JPEG", quality=95, progressive=True), SAME)
    add("palette GIF", "palette.gif", _pil_bytes(Image.fromarray(gray).convert("P"), "GIF"), REFUSED, "GIF files are not supported")
    add("multi-page TIFF", "pages.tiff", _multipage_tiff(gray), REFUSED, "TIFF files are not supported")
    add("float TIFF", "float.tiff", _pil_bytes(Image.fromarray(gray.astype(np.float32) / 255.0, mode="F"), "TIFF"), REFUSED, "TIFF files are not supported")
    add("EXIF-rotated JPEG (stored sideways, orientation 6)", "exif_rotated.jpeg", _exif_rotated(gray), SAME)
    add("non-ASCII file name", "Röntgen_胸部_çà.jpeg", jpeg, SAME)
    add("inverted (negative) film", "inverted.png", cv2.imencode(".png", 255 - gray)[1].tobytes(), NOT_CONFIDENT)

    # Special files: only regular files are read, whatever the name says.
    os.symlink("/dev/zero", folder / "endless.jpeg")
    add("symlink to /dev/zero", "endless.jpeg", None, REFUSED, "device, not an image file", demo=False)
    os.mkfifo(folder / "pipe.jpeg")
    add("FIFO (named pipe)", "pipe.jpeg", None, REFUSED, "named pipe.*not an image file", demo=False)
    (folder / "x.jpg").mkdir()
    add("directory named x.jpg", "x.jpg", None, REFUSED, "folder, not an image file", demo=False)

    # DICOM, written with pydicom from the same film.
    twelve = gray.astype(np.uint16) * 16
    add("DICOM MONOCHROME2, 12 bits in 16", "mono2.dcm", dicom_bytes(twelve), SAME)
    add("DICOM MONOCHROME1", "mono1.dcm", dicom_bytes(4095 - twelve, photometric="MONOCHROME1"), SAME)
    add("DICOM 16-bit", "sixteen_bit.dcm", dicom_bytes(gray.astype(np.uint16) * 257, bits_stored=16), SAME)
    add("DICOM with non-ASCII patient name", "non_ascii_name.dcm", dicom_bytes(twelve, charset="ISO_IR 192"), SAME)
    add("DICOM without pixel data", "no_pixels.dcm", dicom_bytes(twelve, with_pixel_data=False), REFUSED, "holds no image|without an image")
    add("DICOM multi-frame", "multiframe.dcm", dicom_bytes(np.stack([twelve, twelve]), frames=2), REFUSED, "multi-frame")
    add("DICOM compressed (JPEG 2000) without a decoder", "jpeg2000.dcm", dicom_bytes(twelve, compressed=True), REFUSED, "cannot decode DICOM pixel data")
    add("DICOM header declaring 60000x60000", "huge_header.dcm", dicom_bytes(twelve[:64, :64], declare=(60_000, 60_000)), REFUSED, "too large")
    return cases


def _pil_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _multipage_tiff(gray: np.ndarray) -> bytes:
    pages = [Image.fromarray(gray), Image.fromarray(255 - gray)]
    buffer = io.BytesIO()
    pages[0].save(buffer, "TIFF", save_all=True, append_images=pages[1:])
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk + struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))


def _junk_scan(jpeg: bytes, rng: np.random.Generator) -> bytes:
    """Every marker segment up to and including start-of-scan kept; the entropy-coded data replaced by noise."""
    offset = 2
    while jpeg[offset + 1] != 0xDA:  # walk the segments: an EXIF thumbnail holds markers of its own
        offset += 2 + struct.unpack(">H", jpeg[offset + 2:offset + 4])[0]
    header_end = offset + 2 + struct.unpack(">H", jpeg[offset + 2:offset + 4])[0]
    return jpeg[:header_end] + rng.bytes(len(jpeg) - header_end)


def _exif_rotated(gray: np.ndarray) -> bytes:
    """The film stored turned 90 degrees counter-clockwise, with EXIF orientation 6 (turn clockwise to view)."""
    stored = cv2.imencode(".jpg", cv2.rotate(gray, cv2.ROTATE_90_COUNTERCLOCKWISE), [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()
    tiff = b"II*\x00" + struct.pack("<I", 8) + struct.pack("<H", 1) + struct.pack("<HHII", 0x0112, 3, 1, 6) + struct.pack("<I", 0)
    app1 = b"\xff\xe1" + struct.pack(">H", len(tiff) + 8) + b"Exif\x00\x00" + tiff
    return stored[:2] + app1 + stored[2:]


def dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2", bits_stored: int = 12, frames: int = 1,
                charset: str | None = None, with_pixel_data: bool = True, compressed: bool = False,
                declare: tuple[int, int] | None = None) -> bytes:
    """A secondary-capture DICOM of ``pixels`` (uint16), carrying a known patient name and ID."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.encaps import encapsulate
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        JPEG2000Lossless,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = JPEG2000Lossless if compressed else ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    if charset:
        ds.SpecificCharacterSet = charset
    ds.PatientName = PATIENT_NAME if charset else "Doe^Jane"
    ds.PatientID = PATIENT_ID
    ds.Modality, ds.SOPClassUID, ds.SOPInstanceUID = "CR", meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = declare or pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    if compressed:  # a frame this runtime has no decoder for
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])
    elif with_pixel_data:
        ds.PixelData = np.ascontiguousarray(pixels, np.uint16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


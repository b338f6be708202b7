"""DICOM through the optional pydicom (``pip install 'pneumo[dicom]'``).

Pixel values go through the modality LUT (rescale slope/intercept), then the VOI LUT or window,
then MONOCHROME1 is inverted so that bone is always bright. Nothing from the header is logged or
put in an error message: DICOM headers carry patient identity.
"""

from __future__ import annotations

import io

import numpy as np

from .errors import ImageDecodeError, InvalidImageError
from .scope import DicomScope, dicom_age


def _pydicom():
    try:
        import pydicom
        from pydicom import pixels
    except ImportError:
        raise ImageDecodeError("DICOM input needs pydicom: pip install 'pneumo[dicom]'") from None
    return pydicom, pixels


def dicom_size(data: bytes) -> tuple[int, int, int]:
    """(width, height, frames) from the header alone, for the pixel limit and the frame check."""
    pydicom, _ = _pydicom()
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
        return int(dataset.Columns), int(dataset.Rows), int(getattr(dataset, "NumberOfFrames", 1) or 1)
    except Exception:
        raise ImageDecodeError("unreadable DICOM header (or a DICOM without an image)") from None


def dicom_scope(data: bytes) -> DicomScope:
    """The tags that decide scope (age, body part, view, modality), from the header alone. The
    values stay in memory: they are compared, never logged or echoed beyond a defined term."""
    pydicom, _ = _pydicom()
    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:
        raise ImageDecodeError("unreadable DICOM header (or a DICOM without an image)") from None

    def text(keyword: str) -> str:
        return str(getattr(dataset, keyword, "") or "")

    age = dicom_age(text("PatientAge"), text("PatientBirthDate"), [text("StudyDate"), text("AcquisitionDate"), text("SeriesDate")])
    return DicomScope(age_years=age, body_part=text("BodyPartExamined"), view_position=text("ViewPosition"), modality=text("Modality"))


def decode_dicom(data: bytes) -> np.ndarray:
    """A single-frame grayscale DICOM -> float64 2-D array, display-ready (higher = brighter)."""
    pydicom, pixels = _pydicom()
    try:
        dataset = pydicom.dcmread(io.BytesIO(data))
    except Exception:
        raise ImageDecodeError("unreadable DICOM file") from None
    if int(getattr(dataset, "NumberOfFrames", 1) or 1) > 1:
        raise InvalidImageError("multi-frame DICOM is not supported: export the single radiograph")
    if not any(tag in dataset for tag in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InvalidImageError("this DICOM file holds no image (no pixel data)")
    try:
        array = dataset.pixel_array
    except Exception:
        syntax = getattr(getattr(dataset, "file_meta", None), "TransferSyntaxUID", None)
        name = getattr(syntax, "name", None) or "unknown transfer syntax"
        raise ImageDecodeError(f"cannot decode DICOM pixel data ({name}); convert it to uncompressed DICOM or PNG") from None
    photometric = str(getattr(dataset, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if array.ndim != 2 or photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise InvalidImageError(f"DICOM is {photometric} with shape {array.shape}: a grayscale radiograph is expected")
    values = pixels.apply_voi_lut(pixels.apply_modality_lut(array, dataset), dataset).astype(np.float64)
    if photometric == "MONOCHROME1":  # in MONOCHROME1, low values are white
        values = values.max() + values.min() - values
    return values

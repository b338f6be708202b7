"""DICOM files built with pydicom from a real X-ray."""

import cv2
import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import ExplicitVRLittleEndian, JPEG2000Lossless, SecondaryCaptureImageStorage, generate_uid

from pneumo_runtime.errors import ImageDecodeError, InvalidImageError
from pneumo_runtime.inputs import decode_image


def dicom_bytes(pixels: np.ndarray, photometric: str = "MONOCHROME2", syntax=ExplicitVRLittleEndian, frames: int = 1, **extra) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = syntax
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientName, ds.PatientID = "Doe^Jane", "SECRET-123"
    ds.Modality, ds.SOPClassUID, ds.SOPInstanceUID = "CR", meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape[-2:]
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in extra.items():
        setattr(ds, key, value)
    if syntax.is_compressed:  # a compressed syntax with a frame this runtime cannot decode
        ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + b"\x00" * 64])
    else:
        ds.PixelData = pixels.astype(np.uint16).tobytes()
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def xray12(fullres_images) -> np.ndarray:
    gray = cv2.imread(str(fullres_images[0]), cv2.IMREAD_GRAYSCALE)
    return cv2.resize(gray, (512, 512)).astype(np.uint16) * 16  # 12-bit values


def test_monochrome1_and_monochrome2_of_the_same_anatomy_decode_identically(xray12):
    mono2 = decode_image(dicom_bytes(xray12))
    mono1 = decode_image(dicom_bytes(4095 - xray12, "MONOCHROME1"))
    assert mono2.dtype == np.uint8 and mono2.shape == (512, 512)
    np.testing.assert_array_equal(mono1, mono2)


def test_dicom_pixels_match_the_source_image(xray12, fullres_images):
    reference = cv2.resize(cv2.imread(str(fullres_images[0]), cv2.IMREAD_GRAYSCALE), (512, 512))
    assert np.corrcoef(decode_image(dicom_bytes(xray12)).ravel(), reference.ravel())[0, 1] > 0.99


def test_rescale_and_window_are_applied(xray12):
    plain = decode_image(dicom_bytes(xray12))
    rescaled = decode_image(dicom_bytes(xray12, RescaleSlope=2, RescaleIntercept=-1024))
    np.testing.assert_array_equal(plain, rescaled)  # a linear rescale alone does not change the picture
    windowed = decode_image(dicom_bytes(xray12, WindowCenter=1024, WindowWidth=512))
    assert (windowed == 255).mean() > (plain == 255).mean() + 0.1  # a narrow window saturates


def test_multiframe_compressed_and_garbage_dicom_are_refused_without_patient_data(xray12):
    frames = np.stack([xray12, xray12])
    cases = [
        (dicom_bytes(frames, frames=2), InvalidImageError, "multi-frame"),
        (dicom_bytes(xray12, syntax=JPEG2000Lossless), ImageDecodeError, "cannot decode DICOM pixel data"),
        (b"\x00" * 128 + b"DICM" + b"\x01" * 64, ImageDecodeError, "DICOM"),
    ]
    for data, error, message in cases:
        with pytest.raises(error, match=message) as info:
            decode_image(data)
        assert "SECRET" not in str(info.value) and "Doe" not in str(info.value)

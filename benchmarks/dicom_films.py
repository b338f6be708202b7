"""DX films (DICOM) built from the Kermany JPEGs, as a modality would send them: for the DICOM node's
tests and benchmarks. The patient fields are made up and easy to search for in logs and file names."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

from .common import DATA


@dataclass(frozen=True)
class Patient:
    name: str = "Sentinel^Pneumo"
    patient_id: str = "PID-7731-SENTINEL"
    birth_date: str = "20190412"
    accession: str = "ACC9907SNTL"

    def identifiers(self) -> list[str]:
        """What must never appear in a log line, an error or a file name."""
        return [self.name, self.name.replace("^", " "), self.patient_id, self.birth_date, self.accession]


def kermany_test_films(count: int, data: Path = DATA) -> list[Path]:
    """The first ``count`` official test films, NORMAL and PNEUMONIA alternating."""
    root = data / "kermany_224" / "test"
    normal, pneumonia = sorted((root / "NORMAL").glob("*.jpeg")), sorted((root / "PNEUMONIA").glob("*.jpeg"))
    films = [film for pair in zip(normal, pneumonia, strict=False) for film in pair]  # the shorter class ends the pairs
    if len(films) < count:
        raise FileNotFoundError(f"{root} holds fewer than {count} test films")
    return films[:count]


def dx_film(jpeg: Path, study_uid: str, age: str = "005Y", patient: Patient = Patient(), instance: int = 1) -> bytes:
    """One DX "for presentation" film, 12 bits in 16, MONOCHROME2, explicit VR little endian."""
    gray = cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)
    if gray is None:
        raise FileNotFoundError(jpeg)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex, ds.PatientAge = patient.name, patient.patient_id, patient.birth_date, "F", age
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid(entropy_srcs=[study_uid, "series"])
    ds.StudyID, ds.AccessionNumber, ds.StudyDate, ds.StudyTime, ds.ReferringPhysicianName = "1", patient.accession, "20261207", "090000", ""
    ds.SeriesNumber, ds.InstanceNumber = 1, instance
    ds.Modality, ds.BodyPartExamined, ds.ViewPosition = "DX", "CHEST", "PA"
    ds.PresentationIntentType, ds.ImageType = "FOR PRESENTATION", ["ORIGINAL", "PRIMARY"]
    ds.Manufacturer, ds.PatientOrientation, ds.ImagerPixelSpacing, ds.PixelSpacing = "test", ["L", "F"], [0.2, 0.2], [0.2, 0.2]
    ds.Rows, ds.Columns = gray.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = (gray.astype(np.uint16) * 16).tobytes()
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()

"""The results a PACS files beside an analysed film: a DICOM Structured Report and a secondary capture.

**SR** (highdicom ``ComprehensiveSR``): the TID 1500 Measurement Report, holding one TID 1501
"Measurement and Qualitative Evaluation Group" whose source image is the analysed film, an
image-level group, since the model judges the whole film and marks no region. It carries

* the decision as a qualitative evaluation (concept DCM 121071 "Finding"): SNOMED CT "Pneumonia"
  (233604007) or "Normal" (17621005); REFER, REJECTED and other classes use the local scheme 99PNEUMO;
* when decided, P(pneumonia) and the threshold as measurements (UCUM "1");
* the reason and "NOT FOR DIAGNOSTIC USE" as TEXT items;
* the algorithm (TID 4019): name ``pneumo``, the model version, its ONNX SHA-256 as a parameter;
* VerificationFlag UNVERIFIED, CompletionFlag COMPLETE.

**Secondary capture** (highdicom ``SCImage``), for every film that was not rejected: the film, its
heatmap and the decision burned in, for viewers that do not render SR.

Identifying tags are copied only as far as a PACS needs to file the results in the film's study
(``FILING_TAGS``); the birth date is left empty.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import cv2
import highdicom as hd
import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.sr.coding import Code
from pydicom.uid import generate_uid

from pneumo.demo.overlay import MAX_SIDE, blend
from pneumo_runtime.contract import ModelContract
from pneumo_runtime.decision import REJECTED
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.notices import DISCLAIMER
from pneumo_runtime.predictor import Explanation, Prediction

NOT_FOR_DIAGNOSIS = "NOT FOR DIAGNOSTIC USE"
MANUFACTURER = "pneumo"
SR_SERIES = (9901, f"pneumo second opinion SR - {NOT_FOR_DIAGNOSIS.lower()}")
SC_SERIES = (9902, f"pneumo heatmap - {NOT_FOR_DIAGNOSIS.lower()}")
HEATMAP_OPACITY = 0.45
MIN_WIDTH = 512  # px of the secondary capture
SCHEME = "99PNEUMO"  # local coding scheme for what SNOMED CT and DCM do not name

FINDING = Code("121071", "DCM", "Finding")
DECISION_CODES = {
    "PNEUMONIA": Code("233604007", "SCT", "Pneumonia"),
    "NORMAL": Code("17621005", "SCT", "Normal"),
    "REFER": Code("REFER", SCHEME, "Uncertain: referred to a clinician"),
    REJECTED: Code("REJECTED", SCHEME, "Rejected: outside the intended use"),
}
P_PNEUMONIA = Code("P_PNEUMONIA", SCHEME, "P(pneumonia), calibrated")
THRESHOLD = Code("THRESHOLD", SCHEME, "Decision threshold on P(pneumonia)")
REASON = Code("REASON", SCHEME, "Reason")
NOTICE = Code("NOTICE", SCHEME, "Notice")
NO_UNITS = Code("1", "UCUM", "no units")
CHEST_XRAY = Code("399208008", "SCT", "Plain chest X-ray")

# What a PACS needs to put the results into the film's patient and study: nothing more is copied.
FILING_TAGS = ("SpecificCharacterSet", "PatientName", "PatientID", "PatientSex", "StudyInstanceUID", "StudyID", "StudyDate", "StudyTime",
               "AccessionNumber", "ReferringPhysicianName", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID", "Modality", "InstanceNumber")


@dataclass(frozen=True)
class Results:
    prediction: Prediction
    objects: dict[str, Dataset]  # "sr.dcm" and, unless rejected, "sc.dcm"

    def encoded(self) -> dict[str, bytes]:
        return {name: encode(dataset) for name, dataset in self.objects.items()}


def encode(dataset: Dataset) -> bytes:
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def read_header(data: bytes) -> Dataset:
    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except Exception:
        raise PneumoError("unreadable DICOM header") from None


def filing_header(source: Dataset) -> Dataset:
    """The source's filing tags alone; type 2 attributes highdicom reads are present, maybe empty."""
    header = Dataset()
    for keyword in FILING_TAGS:
        if keyword in source:
            setattr(header, keyword, source.data_element(keyword).value)
    for keyword in ("PatientName", "PatientID", "PatientSex", "StudyID", "StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName"):
        if keyword not in header:
            setattr(header, keyword, None)
    header.PatientBirthDate = None  # not needed to file the results: left empty
    missing = [keyword for keyword in ("StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "SOPInstanceUID") if not header.get(keyword)]
    if missing:
        raise PneumoError(f"the DICOM header lacks {', '.join(missing)}: results cannot be filed in its study")
    return header


def _series_uid(header: Dataset, kind: str) -> str:
    """One pneumo series per study and kind, the same on every film and every restart."""
    return generate_uid(entropy_srcs=[str(header.StudyInstanceUID), "pneumo", kind])


def structured_report(header: Dataset, prediction: Prediction, contract: ModelContract) -> hd.sr.ComprehensiveSR:
    evaluations = [hd.sr.QualitativeEvaluation(FINDING, DECISION_CODES.get(prediction.decision, Code(prediction.decision, SCHEME, prediction.decision)))]
    measurements = []
    if prediction.p_pneumonia is not None:
        measurements.append(hd.sr.Measurement(P_PNEUMONIA, round(prediction.p_pneumonia, 4), NO_UNITS))
    if prediction.threshold is not None and prediction.decision != REJECTED:
        measurements.append(hd.sr.Measurement(THRESHOLD, round(prediction.threshold, 4), NO_UNITS))
    algorithm = hd.sr.AlgorithmIdentification(name="pneumo", version=contract.model_version or "unknown",
                                              parameters=[f"onnx_sha256={contract.onnx_sha256 or 'unknown'}"])
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="pneumo second opinion"),
        algorithm_id=algorithm,
        source_images=[hd.sr.SourceImageForMeasurementGroup(header.SOPClassUID, header.SOPInstanceUID)],
        measurements=measurements or None,
        qualitative_evaluations=evaluations,
    )
    for name, text in ((REASON, prediction.reason), (NOTICE, f"{NOT_FOR_DIAGNOSIS}. {DISCLAIMER}")):
        group[0].ContentSequence.append(hd.sr.TextContentItem(name=name, value=text[:1024], relationship_type=hd.sr.RelationshipTypeValues.CONTAINS))
    device = hd.sr.DeviceObserverIdentifyingAttributes(uid=_series_uid(header, "device"), name="pneumo", model_name=contract.model_version or "unknown")
    context = hd.sr.ObservationContext(observer_device_context=hd.sr.ObserverContext(observer_type=codes.cid270.Device, observer_identifying_attributes=device))
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=CHEST_XRAY, imaging_measurements=[group])
    number, description = SR_SERIES
    sr = hd.sr.ComprehensiveSR(
        evidence=[header], content=report[0], series_instance_uid=_series_uid(header, "sr"), series_number=number,
        sop_instance_uid=generate_uid(), instance_number=int(header.get("InstanceNumber") or 1), manufacturer=MANUFACTURER,
        is_complete=True, is_final=False, is_verified=False,
    )
    sr.SeriesDescription = description
    return sr


def burned_in(explanation: Explanation, contract: ModelContract) -> np.ndarray:
    """RGB uint8: the film with its heatmap, under a band that states the decision and the notice."""
    gray, heatmap = explanation.image, explanation.heatmap
    if max(gray.shape) > 2 * MAX_SIDE:  # a full-size film: halve it cheaply first, blend's area filter then has a quarter of the pixels
        size = (gray.shape[1] * 2 * MAX_SIDE // max(gray.shape), gray.shape[0] * 2 * MAX_SIDE // max(gray.shape))
        gray, heatmap = cv2.resize(gray, size, interpolation=cv2.INTER_LINEAR), cv2.resize(heatmap, size, interpolation=cv2.INTER_LINEAR)
    picture = blend(gray, heatmap, HEATMAP_OPACITY, contract.preprocess.ellipse_mask)
    if picture.shape[1] < MIN_WIDTH:  # a small film is enlarged so the burned-in text stays legible
        height = round(picture.shape[0] * MIN_WIDTH / picture.shape[1])
        picture = cv2.resize(picture, (MIN_WIDTH, height), interpolation=cv2.INTER_LINEAR)
    width = picture.shape[1]
    prediction = explanation.prediction
    scale = width / 768
    line_height = round(34 * scale)
    lines = [f"pneumo: {prediction.decision}"]
    if prediction.p_pneumonia is not None:
        lines[0] += f"   P(pneumonia) {prediction.p_pneumonia:.2f}" + (f" / threshold {prediction.threshold:.2f}" if prediction.threshold is not None else "")
    lines += [f"{NOT_FOR_DIAGNOSIS} - second opinion", f"model {contract.model_version or 'unknown'}"]
    band = np.zeros((line_height * len(lines) + line_height // 2, width, 3), np.uint8)
    for index, text in enumerate(lines):
        colour, size = ((255, 255, 255), 0.85) if index == 0 else ((255, 200, 0), 0.75) if index == 1 else ((200, 200, 200), 0.6)
        cv2.putText(band, text, (round(10 * scale), line_height * (index + 1)), cv2.FONT_HERSHEY_SIMPLEX, size * scale, colour,
                    max(1, round(2 * scale)), cv2.LINE_AA)
    return np.ascontiguousarray(np.vstack([band, picture]))


def secondary_capture(header: Dataset, explanation: Explanation, contract: ModelContract) -> hd.sc.SCImage:
    number, description = SC_SERIES
    capture = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=header, pixel_array=burned_in(explanation, contract), photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8, coordinate_system=hd.CoordinateSystemNames.PATIENT, series_instance_uid=_series_uid(header, "sc"),
        series_number=number, sop_instance_uid=generate_uid(), instance_number=int(header.get("InstanceNumber") or 1),
        manufacturer=MANUFACTURER, patient_orientation=("L", "F"),
    )
    capture.SeriesDescription = description
    capture.BurnedInAnnotation = "YES"
    capture.ImageComments = f"{NOT_FOR_DIAGNOSIS}: heatmap of pneumo's second opinion"
    return capture


def build_results(source: Dataset, explanation: Explanation | None, contract: ModelContract, refusal: str | None = None) -> Results:
    """The SR (always) and the secondary capture (when a heatmap exists). ``refusal``: the one-line
    message of a ``PneumoError`` the film raised: the SR then says REJECTED with it as the reason."""
    header = filing_header(source)
    if explanation is None:
        prediction = Prediction(decision=REJECTED, reason=refusal or "could not process this input", label=None)
        return Results(prediction, {"sr.dcm": structured_report(header, prediction, contract)})
    objects: dict[str, Dataset] = {"sr.dcm": structured_report(header, explanation.prediction, contract)}
    if explanation.heatmap is not None and explanation.prediction.decision != REJECTED:
        objects["sc.dcm"] = secondary_capture(header, explanation, contract)
    return Results(explanation.prediction, objects)

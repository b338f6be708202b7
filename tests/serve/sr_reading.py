"""Reading pneumo's SR back: the decision, the reason and the film it refers to."""

from __future__ import annotations

import pydicom


def content_items(dataset):
    for item in getattr(dataset, "ContentSequence", []):
        yield item
        yield from content_items(item)


def concept(item) -> str:
    return str(item.ConceptNameCodeSequence[0].CodeValue) if "ConceptNameCodeSequence" in item else ""


def decision(sr: pydicom.Dataset) -> str:
    for item in content_items(sr):
        if concept(item) == "121071":
            code = item.ConceptCodeSequence[0]
            return {"233604007": "PNEUMONIA", "17621005": "NORMAL"}.get(str(code.CodeValue), str(code.CodeValue))
    raise AssertionError("the SR holds no decision")


def text(sr: pydicom.Dataset, code_value: str) -> str:
    return next(str(item.TextValue) for item in content_items(sr) if concept(item) == code_value)


def referenced_film(sr: pydicom.Dataset) -> str:
    """The SOP Instance UID of the analysed film (the SR's evidence)."""
    return str(sr.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID)

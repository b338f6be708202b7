"""The one JSON shape of a prediction, for every front end: the REST service, the demo's details,
the DICOM node, and (projected onto its columns) each row of ``pneumo-predict``.

It is ``Prediction.to_dict()`` (the prediction's own fields and ``p_pneumonia``) without the
per-stage timings, plus what a reader needs beside it from the model's contract: the referral
cut-off, the model version and the disclaimer. A front end adds its own keys on top; it never
rebuilds these.
"""

from __future__ import annotations

from typing import Any

from .contract import ModelContract
from .predictor import Prediction


def prediction_record(prediction: Prediction, contract: ModelContract, processing_ms: float | None = None) -> dict[str, Any]:
    """``prediction`` as JSON-ready data; ``processing_ms`` defaults to the prediction's own total time."""
    record = prediction.to_dict()
    timings = record.pop("timings_ms", {}) or {}
    total = processing_ms if processing_ms is not None else timings.get("total", 0.0)
    return {**record, "uncertainty_cutoff": contract.uncertainty.cutoff, "model_version": contract.model_version,
            "processing_ms": round(float(total), 1), "disclaimer": contract.disclaimer}

"""One JSON shape of a prediction (pneumo_runtime.records) in every front end: REST, demo, CLI rows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pneumo_runtime.batch import COLUMNS, row
from pneumo_runtime.predictor import Predictor
from pneumo_runtime.records import prediction_record

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.jpeg"))


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor()


def comparable(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "processing_ms"}  # a time, never equal twice


def test_the_record_is_the_prediction_and_its_contract(predictor):
    prediction = predictor.predict(EXAMPLES[0])
    record = prediction_record(prediction, predictor.contract)
    json.dumps(record, allow_nan=False)  # strict JSON
    assert "timings_ms" not in record and record["processing_ms"] >= 0
    assert {k: record[k] for k in ("decision", "label", "probabilities", "threshold", "uncertainty", "reason")} == \
        {k: getattr(prediction, k) for k in ("decision", "label", "probabilities", "threshold", "uncertainty", "reason")}
    assert record["p_pneumonia"] == prediction.p_pneumonia and record["model_version"] == predictor.contract.model_version
    cli_row = row(EXAMPLES[0], prediction)
    assert tuple(cli_row) == COLUMNS and cli_row["prediction"] == record["decision"]
    assert all(cli_row[k] == record[k] for k in ("p_pneumonia", "uncertainty", "threshold", "reason"))


def test_rest_and_demo_answer_with_the_record(predictor):
    from fastapi.testclient import TestClient

    from pneumo.demo.analysis import DemoService
    from pneumo.serve.rest import create_app

    expected = comparable(prediction_record(predictor.predict(EXAMPLES[0]), predictor.contract))
    with TestClient(create_app(predictor)) as client:
        answer = client.post("/v1/predict", files={"file": ("x.jpeg", EXAMPLES[0].read_bytes(), "image/jpeg")}).json()
    assert comparable(answer) == expected
    details = DemoService(predictor).predict(EXAMPLES[0]).details
    assert {k: v for k, v in comparable(details).items() if k in expected} == expected and expected.keys() <= details.keys()

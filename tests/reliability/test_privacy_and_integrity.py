"""No patient tag value and no file name in any message or log line; a model that is not the one its
contract describes, or a contract that is not one, is refused with one line."""

from __future__ import annotations

import json
import logging
import shutil

import cv2
import numpy as np
import pytest
from cli_process import run_cli
from corpus import PATIENT_ID, PATIENT_NAME, dicom_bytes

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Prediction, default_model_path

SECRETS = [PATIENT_ID, "Zoë", "Müller", "Łukasik", "Doe", "Jane"]
FILE_NAME_MARK = "Kowalski-Anna-1961"  # a file name as a clinic might write it: must not leak either


@pytest.fixture(scope="module")
def patient_files(tmp_path_factory, source_film) -> list:
    folder = tmp_path_factory.mktemp("patients")
    twelve = cv2.imread(str(source_film), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16
    variants = {
        "ok": dicom_bytes(twelve, charset="ISO_IR 192"),
        "nopixels": dicom_bytes(twelve, charset="ISO_IR 192", with_pixel_data=False),
        "compressed": dicom_bytes(twelve, charset="ISO_IR 192", compressed=True),
        "frames": dicom_bytes(np.stack([twelve, twelve]), charset="ISO_IR 192", frames=2),
        "huge": dicom_bytes(twelve[:64, :64], charset="ISO_IR 192", declare=(60_000, 60_000)),
    }
    variants["truncated"] = variants["ok"][:900]  # the header with the name, then nothing
    variants["bitflip"] = variants["ok"][:1200] + bytes(b ^ 0x5A for b in variants["ok"][1200:1400]) + variants["ok"][1400:]
    paths = []
    for label, data in variants.items():
        path = folder / f"{FILE_NAME_MARK}_{label}.dcm"
        path.write_bytes(data)
        paths.append(path)
    (folder / f"{FILE_NAME_MARK}_broken.jpeg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    return [*paths, folder / f"{FILE_NAME_MARK}_broken.jpeg", folder / f"{FILE_NAME_MARK}_missing.png"]


def leaks(text: str) -> list[str]:
    return [secret for secret in [*SECRETS, FILE_NAME_MARK] if secret in text]


def test_the_patient_name_is_really_in_the_files(patient_files):
    assert PATIENT_NAME.encode("utf-8") in patient_files[0].read_bytes()


def test_library_messages_and_logs_carry_no_patient_data_or_file_name(patient_files, default_predictor, caplog):
    caplog.set_level(logging.DEBUG)
    results = default_predictor.predict_batch(patient_files)
    assert isinstance(results[0], Prediction)
    assert sum(isinstance(r, PneumoError) for r in results) >= 6
    for result in results:
        text = str(result) if isinstance(result, PneumoError) else json.dumps(result.to_dict())
        assert not leaks(text), text
    assert not leaks("\n".join(record.getMessage() for record in caplog.records))


def test_cli_error_column_and_stderr_carry_no_patient_data_or_file_name(patient_files):
    done = run_cli(*patient_files, "--format", "jsonl", "--threads", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(rows) == len(patient_files)
    assert not leaks(done.stderr), done.stderr
    for row in rows:  # the path column is the user's own input; nothing else may repeat it
        assert not leaks(json.dumps({k: v for k, v in row.items() if k != "path"})), row


@pytest.fixture
def model_copy(tmp_path):
    source = default_model_path()
    copy = tmp_path / "model.onnx"
    shutil.copy(source, copy)
    shutil.copy(source.with_suffix(".json"), copy.with_suffix(".json"))
    return copy


def one_line_refusal(model, source_film) -> str:
    done = run_cli(source_film, "--model", model)
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    return done.stderr


def test_a_modified_model_is_refused(model_copy, source_film):
    data = bytearray(model_copy.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit
    model_copy.write_bytes(bytes(data))
    assert "failed its integrity check" in one_line_refusal(model_copy, source_film)


def test_a_contract_that_is_not_json_is_refused(model_copy, source_film):
    model_copy.with_suffix(".json").write_text('{"architecture": "efficientnet_lite0", ')
    assert "not valid JSON" in one_line_refusal(model_copy, source_film)


@pytest.mark.parametrize("missing", ["classes", "onnx_sha256", "preprocess", "format_version"])
def test_a_contract_lacking_a_field_is_refused(model_copy, source_film, missing):
    contract = json.loads(model_copy.with_suffix(".json").read_text())
    del contract[missing]
    model_copy.with_suffix(".json").write_text(json.dumps(contract))
    message = one_line_refusal(model_copy, source_film)
    assert "contract" in message and ("incomplete" in message or "SHA-256" in message or "does not match" in message), message


def test_a_contract_that_is_a_list_is_refused(model_copy, source_film):
    model_copy.with_suffix(".json").write_text("[1, 2, 3]")
    assert "contract" in one_line_refusal(model_copy, source_film)

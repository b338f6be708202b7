"""The work queue, the spool, the result objects and ``pneumo-dicom analyse``, in process (fast)."""

from __future__ import annotations

import io
import socket
import threading
import time

import pydicom
import pytest
from pydicom.uid import ComprehensiveSRStorage, SecondaryCaptureImageStorage
from sr_reading import concept, content_items, decision, referenced_film, text

from pneumo.serve.dicom_cli import main as dicom_main
from pneumo.serve.dicom_results import NOT_FOR_DIAGNOSIS, build_results, read_header
from pneumo.serve.spool import Spool, SpoolFull
from pneumo.serve.work_queue import DeadlineExceeded, QueueFull, WorkQueue
from pneumo_runtime.predictor import Predictor


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(threads=1)


def test_the_queue_refuses_only_when_every_place_is_taken():
    queue = WorkQueue(workers=1, depth=2)
    places = [queue.place() for _ in range(3)]
    for place in places:
        place.__enter__()
    with pytest.raises(QueueFull) as refused:
        queue.place().__enter__()
    assert refused.value.retry_after_s >= 1 and "busy" in str(refused.value)
    places[0].__exit__(None, None, None)
    with queue.place():  # a freed place is taken again
        assert queue.admitted == 3
    queue.shutdown()


def test_a_job_that_waited_past_its_deadline_is_not_run():
    queue = WorkQueue(workers=1, depth=4, deadline_s=0.05)
    ran = []
    blocker = queue.submit(time.sleep, 0.3)
    late = queue.submit(ran.append, "late")
    blocker.result()
    with pytest.raises(DeadlineExceeded):
        late.result()
    assert ran == []
    queue.shutdown()


def test_the_spool_is_bounded_named_without_header_values_and_sweeps_half_writes(tmp_path, study_films, patient):
    spool = Spool(tmp_path, max_films=2)
    first = spool.put(study_films[0])
    spool.put(study_films[1])
    with pytest.raises(SpoolFull):
        spool.put(study_films[2])
    names = " ".join(str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*"))
    assert not any(identifier in names for identifier in patient.identifiers() + [str(read_header(study_films[0]).SOPInstanceUID)])
    (tmp_path / ".part-000-dead").mkdir()  # a C-STORE that was never acknowledged
    (first.folder / "results.part").mkdir()  # results half written when the node died
    spool = Spool(tmp_path, max_films=2)
    assert not (tmp_path / ".part-000-dead").exists() and not first.analysed
    spool.put_results(first, {"sr.dcm": b"x"})
    assert spool.items()[0].analysed and [p.name for p in spool.items()[0].results] == ["sr.dcm"]
    spool.remove(first)
    assert len(spool.items()) == 1


def test_results_carry_decision_probability_threshold_reason_model_and_the_notice(predictor, study_films):
    film = study_films[1]
    explanation = predictor.explain(film)
    results = build_results(read_header(film), explanation, predictor.contract)
    sr, capture = (pydicom.dcmread(io.BytesIO(data)) for data in results.encoded().values())
    assert sr.SOPClassUID == ComprehensiveSRStorage and capture.SOPClassUID == SecondaryCaptureImageStorage
    assert decision(sr) == explanation.prediction.decision and referenced_film(sr) == read_header(film).SOPInstanceUID
    assert text(sr, "REASON") == explanation.prediction.reason and NOT_FOR_DIAGNOSIS in text(sr, "NOTICE")
    values = {concept(item): float(item.MeasuredValueSequence[0].NumericValue) for item in content_items(sr) if "MeasuredValueSequence" in item}
    assert values == {"P_PNEUMONIA": pytest.approx(explanation.prediction.p_pneumonia, abs=1e-4),
                      "THRESHOLD": pytest.approx(predictor.contract.threshold, abs=1e-4)}
    texts = [str(item.get("TextValue", "")) for item in content_items(sr)]
    assert f"onnx_sha256={predictor.contract.onnx_sha256}" in texts and predictor.contract.model_version in texts
    assert sr.VerificationFlag == "UNVERIFIED" and sr.CompletionFlag == "COMPLETE"
    assert sr.StudyInstanceUID == capture.StudyInstanceUID == read_header(film).StudyInstanceUID
    assert sr.PatientBirthDate == "" == capture.PatientBirthDate and "PatientAge" not in sr


def test_a_film_the_runtime_refuses_gets_an_sr_with_the_reason_and_no_capture(predictor, study_films):
    film = bytearray(study_films[0])
    broken = bytes(film[: len(film) // 2])  # pixel data cut short: the runtime refuses it
    source = read_header(broken)
    from pneumo.serve.dicom_node import DicomNode

    decided, objects = DicomNode(predictor, spool=None, delivery=None).analyse(broken)
    assert decided == "REJECTED" and list(objects) == ["sr.dcm"]
    sr = pydicom.dcmread(io.BytesIO(objects["sr.dcm"]))
    assert decision(sr) == "REJECTED" and text(sr, "REASON") and referenced_film(sr) == source.SOPInstanceUID


def test_analyse_writes_the_objects_named_by_position_and_prints_no_identifier(study_films, patient, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for index, film in enumerate(study_films[:2]):
        (inputs / f"film{index}.dcm").write_bytes(film)
    assert dicom_main(["analyse", str(inputs), "--out", str(tmp_path / "out")]) == 0
    written = sorted(path.name for path in (tmp_path / "out").iterdir())
    assert written == ["00001-sc.dcm", "00001-sr.dcm", "00002-sc.dcm", "00002-sr.dcm"]
    output = capsys.readouterr()
    assert not any(identifier in output.out + output.err for identifier in patient.identifiers())


def test_rest_and_the_dicom_node_share_one_queue(predictor, study_films):
    """A film the node is analysing holds a place the REST service then cannot take: one queue."""
    from fastapi.testclient import TestClient

    from pneumo.serve.rest import create_app

    queue = WorkQueue(workers=1, depth=0)
    with TestClient(create_app(predictor, work_queue=queue, api_key="")) as client:
        with queue.place():  # the DICOM node's film
            busy = client.post("/v1/predict", files={"file": ("film.dcm", study_films[0], "application/dicom")})
        assert busy.status_code == 503 and busy.json()["error"] == "busy" and int(busy.headers["retry-after"]) >= 1
        served = client.post("/v1/predict", files={"file": ("film.dcm", study_films[0], "application/dicom")})
        assert served.status_code == 200 and client.get("/healthz").json()["in_flight"] == 0


class HeldPredictor:
    """The real predictor behind a gate: holds the queue's only place while a test needs it full."""

    def __init__(self, predictor: Predictor):
        self.inner, self.contract, self.gate, self.entered = predictor, predictor.contract, threading.Event(), threading.Event()

    def predict(self, source, patient_age=None):
        self.entered.set()
        self.gate.wait(30)
        return self.inner.predict(source, patient_age)


def raw_post(port: int, body: bytes, expect: bool) -> bytes:
    """A multipart POST over a plain socket, as a client that sends its whole body at once (or
    asks Expect: 100-continue first); returns what the server answered."""
    boundary = "b0undary"
    payload = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.jpeg\"\r\nContent-Type: image/jpeg\r\n\r\n").encode()
    payload += body + f"\r\n--{boundary}--\r\n".encode()
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n{'Expect: 100-continue' + chr(13) + chr(10) if expect else ''}"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(payload)}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as connection:
        connection.sendall(head if expect else head + payload)
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
        return answer


@pytest.mark.parametrize("expect", [False, True])
def test_a_refused_upload_gets_its_503_over_a_real_connection(predictor, fullres_images, expect):
    """A full queue answers before reading the body; the body is then read and dropped (or, with
    Expect: 100-continue, never sent), so closing the connection does not reset it and lose the 503."""
    import uvicorn

    from pneumo.serve.rest import create_app

    held = HeldPredictor(predictor)
    port = socket.socket()
    port.bind(("127.0.0.1", 0))
    number = port.getsockname()[1]
    port.close()
    server = uvicorn.Server(uvicorn.Config(create_app(held, workers=1, queue_size=0, api_key=""), host="127.0.0.1", port=number, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        film = fullres_images[0].read_bytes() * 8  # 2 MB: more than the sockets' buffers hold
        first = threading.Thread(target=raw_post, args=(number, fullres_images[0].read_bytes(), False), daemon=True)
        first.start()
        assert held.entered.wait(30)
        answer = raw_post(number, film, expect)
        assert answer.startswith(b"HTTP/1.1 503") and b'"busy"' in answer and b"retry-after" in answer.lower()
    finally:
        held.gate.set()
        server.should_exit = True
        thread.join(10)

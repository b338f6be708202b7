"""The REST service (pneumo-serve) through FastAPI's TestClient and through a real uvicorn process."""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from pneumo.serve.rest import create_app
from pneumo_runtime.predictor import Predictor

from ..conftest import free_port


@pytest.fixture(scope="module")
def predictor() -> Predictor:
    return Predictor(threads=1)


@pytest.fixture(scope="module")
def client(predictor):
    with TestClient(create_app(predictor, workers=2, api_key="")) as test_client:
        yield test_client


def upload(path: Path, name: str | None = None) -> dict:
    return {"file": (name or path.name, path.read_bytes(), "image/jpeg")}


def test_predict_answers_a_full_size_xray_with_the_contracts_operating_point(client, predictor, fullres_images):
    response = client.post("/v1/predict", files=upload(fullres_images[0]))
    assert response.status_code == 200
    body = response.json()
    assert body["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}
    assert abs(sum(body["probabilities"].values()) - 1) < 1e-6
    assert body["threshold"] == predictor.contract.threshold and body["model_version"] == predictor.contract.model_version
    assert body["probabilities"] == predictor.predict(fullres_images[0]).probabilities  # the same Predictor, the same answer
    assert "Not a diagnostic device" in body["disclaimer"]


def test_patient_age_field_rejects_outside_1_to_5_as_an_answer(client, kermany_224):
    film = sorted((kermany_224 / "test" / "PNEUMONIA").glob("*.jpeg"))[0]
    adult = client.post("/v1/explain", files=upload(film), data={"patient_age": "45"})
    assert adult.status_code == 200
    body = adult.json()
    assert body["decision"] == "REJECTED" and "adult" in body["reason"] and body["probabilities"] == {} and body["heatmap_png"] is None
    child = client.post("/v1/predict", files=upload(film), data={"patient_age": "3"})
    assert child.status_code == 200 and child.json()["decision"] in ("NORMAL", "PNEUMONIA", "REFER")
    bad = client.post("/v1/predict", files=upload(film), data={"patient_age": "old"})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_input" and "\n" not in bad.json()["message"]
    assert "children aged 1-5" in client.get("/v1/model").json()["scope"]


def test_an_adults_film_gets_no_label(client, adult_film):
    body = client.post("/v1/predict", files=upload(adult_film)).json()
    assert body["decision"] in ("REJECTED", "REFER") and body["label"] is None and "adult" in body["reason"]


def test_explain_adds_a_heatmap_png(client, fullres_images):
    body = client.post("/v1/explain", files=upload(fullres_images[-1])).json()
    heatmap = cv2.imdecode(np.frombuffer(base64.b64decode(body["heatmap_png"]), np.uint8), cv2.IMREAD_COLOR)
    assert heatmap is not None and heatmap.ndim == 3 and max(heatmap.shape[:2]) <= 1024
    assert body["heatmap_target"] == "PNEUMONIA" and body["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}


def test_a_colour_photo_is_rejected_without_a_probability(client, colour_photo):
    body = client.post("/v1/explain", files=upload(colour_photo)).json()
    assert body["decision"] == "REJECTED" and body["probabilities"] == {} and body["heatmap_png"] is None
    assert "colour" in body["reason"]


@pytest.mark.parametrize("request_kwargs, reason", [
    ({"files": {"file": ("scan.jpeg", b"this is not an image", "image/jpeg")}}, "not a supported image"),
    ({"files": {"image": ("scan.jpeg", b"\xff\xd8\xff", "image/jpeg")}}, "no field 'file'"),
    ({"content": b"raw bytes", "headers": {"content-type": "application/octet-stream"}}, "multipart/form-data"),
    ({"files": {"file": ("scan.jpeg", b"", "image/jpeg")}}, "empty"),
])
def test_bad_input_is_a_400_with_one_line(client, request_kwargs, reason):
    response = client.post("/v1/predict", **request_kwargs)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "invalid_input" and reason in body["message"]
    assert "\n" not in body["message"] and "Traceback" not in response.text


def test_too_large_upload_is_a_413(predictor, fullres_images):
    with TestClient(create_app(predictor, workers=1, max_upload_bytes=10_000, api_key="")) as small:
        response = small.post("/v1/predict", files=upload(fullres_images[0]))
    assert response.status_code == 413 and response.json()["error"] == "too_large"


def test_api_key_is_required_when_set(predictor, fullres_images):
    with TestClient(create_app(predictor, workers=1, api_key="s3cret")) as keyed:
        assert keyed.post("/v1/predict", files=upload(fullres_images[0])).status_code == 401
        assert keyed.get("/v1/model", headers={"X-API-Key": "wrong"}).json()["error"] == "unauthorized"
        assert keyed.post("/v1/predict", files=upload(fullres_images[0]), headers={"X-API-Key": "s3cret"}).status_code == 200
        assert keyed.get("/healthz").status_code == 200  # liveness stays open for the load balancer


def test_api_key_comes_from_the_environment(predictor, monkeypatch):
    monkeypatch.setenv("PNEUMO_API_KEY", "from-env")
    with TestClient(create_app(predictor, workers=1)) as keyed:
        assert keyed.get("/v1/model").status_code == 401
        assert keyed.get("/v1/model", headers={"X-API-Key": "from-env"}).status_code == 200


class GatedPredictor:
    """The real predictor, held at a gate: lets a test fill the worker pool on purpose."""

    def __init__(self, predictor: Predictor):
        self.inner, self.contract, self.gate, self.entered = predictor, predictor.contract, threading.Event(), threading.Event()

    def predict(self, source, patient_age=None):
        self.entered.set()
        self.gate.wait(30)
        return self.inner.predict(source, patient_age=patient_age)


def test_requests_beyond_the_pool_get_503_busy_at_once(predictor, fullres_images):
    gated = GatedPredictor(predictor)
    with TestClient(create_app(gated, workers=1, queue_size=0, api_key="")) as busy_client:
        first: dict = {}
        worker = threading.Thread(target=lambda: first.update(r=busy_client.post("/v1/predict", files=upload(fullres_images[0]))))
        worker.start()
        assert gated.entered.wait(30)
        refused = busy_client.post("/v1/predict", files=upload(fullres_images[0]))
        # At once: the refusal came back while the first request was still held at the gate, so
        # it cannot have waited for a worker to come free.
        still_held = worker.is_alive() and "r" not in first
        gated.gate.set()
        worker.join(30)
    assert refused.status_code == 503 and refused.json()["error"] == "busy" and refused.headers["retry-after"] == "1"
    assert still_held
    assert first["r"].status_code == 200


def test_model_health_and_docs(client, predictor):
    model = client.get("/v1/model").json()
    assert model["model_version"] == predictor.contract.model_version and model["classes"] == list(predictor.contract.classes)
    assert "cam_weights" not in model and "training_config" not in model  # the public part only
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    form = client.get("/openapi.json").json()["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["properties"]["file"]["format"] == "binary"
    assert client.get("/v1/nothing").json()["error"] == "not_found"


def dicom_of(image: Path) -> bytes:
    """A 12-bit DICOM of a real X-ray, carrying a patient name and ID that must never be logged."""
    from io import BytesIO

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import (
        ExplicitVRLittleEndian,
        SecondaryCaptureImageStorage,
        generate_uid,
    )

    pixels = cv2.imread(str(image), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = SecondaryCaptureImageStorage, generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.PatientName, ds.PatientID, ds.Modality = "Doe^Jane", "SECRET-123", "CR"
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = pixels.tobytes()
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """``pneumo-serve`` in its own process on a loopback port, with an empty TMPDIR to watch."""
    tmp = tmp_path_factory.mktemp("serve-tmp")
    port = free_port()
    log = (tmp_path_factory.mktemp("serve-log") / "server.log").open("w+")
    env = {**os.environ, "TMPDIR": str(tmp), "OMP_NUM_THREADS": "1", "PNEUMO_API_KEY": ""}
    process = subprocess.Popen([sys.executable, "-m", "pneumo.serve.rest_cli", "--port", str(port), "--workers", "2", "--queue", "16"],
                               stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.2)
        assert process.poll() is None, "pneumo-serve exited"
    else:
        pytest.fail("pneumo-serve did not answer /healthz within 60 s")
    yield url, process, tmp, log
    process.terminate()
    process.wait(10)


def test_real_server_predicts_and_keeps_no_trace_of_the_upload(served, fullres_images):
    url, _process, tmp, log = served
    before = set(tmp.rglob("*"))  # what start-up wrote (a library's session id file), not an upload
    secret_name = "Doe-Jane-1970-03-01-chest.bmp"  # what a careless export might call a file
    # Uncompressed, over the 1 MB beyond which Starlette's own form parser would spool to a temp file.
    bmp = cv2.imencode(".bmp", cv2.imread(str(fullres_images[0]), cv2.IMREAD_GRAYSCALE))[1].tobytes()
    assert len(bmp) > 1_100_000
    response = httpx.post(f"{url}/v1/predict", files={"file": (secret_name, bmp, "image/bmp")}, timeout=30)
    assert response.status_code == 200 and response.json()["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}
    assert httpx.post(f"{url}/v1/predict", files={"file": ("x.jpeg", b"junk", "image/jpeg")}, timeout=30).status_code == 400
    dicom = httpx.post(f"{url}/v1/predict", files={"file": ("study.dcm", dicom_of(fullres_images[0]), "application/dicom")}, timeout=30)
    assert dicom.status_code == 200 and dicom.json()["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}
    server_log = poll_log(log, lambda text: text.count("POST /v1/predict") >= 3)  # the access log line follows the response
    assert "Traceback" not in server_log
    assert not [secret for secret in ("Doe", "SECRET-123", "study.dcm") if secret in server_log]  # no name, no DICOM field
    assert set(tmp.rglob("*")) == before, "the upload left a file behind"
    assert httpx.get(f"{url}/docs", timeout=10).status_code == 200


def poll_log(log, ready, timeout_s: float = 30.0) -> str:
    """The log's text once ``ready(text)`` holds (or whatever is there after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        log.seek(0)
        text = log.read()
        if ready(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def timed_posts(url: str, payload: bytes, count: int, clients: int) -> list[tuple[int, float, str]]:
    """``count`` POSTs of ``payload`` from ``clients`` concurrent clients: (status, seconds, error) each."""
    from concurrent.futures import ThreadPoolExecutor

    def one(_):
        with httpx.Client(timeout=60) as http:
            started = time.perf_counter()
            response = http.post(f"{url}/v1/predict", files={"file": ("scan.jpeg", payload, "image/jpeg")})
            return response.status_code, time.perf_counter() - started, response.json().get("error", "")

    with ThreadPoolExecutor(clients) as pool:
        return list(pool.map(one, range(count)))


@pytest.mark.slow
def test_load_200_requests_from_16_clients(served, fullres_images):
    """16 clients fit the pool (2 workers + 16 waiting): every request succeeds, memory stays flat;
    a burst beyond the pool gets quick 503s instead of hanging. Timings go to test-artifacts/."""
    import json

    from ..conftest import ARTIFACTS

    url, process, tmp, _log = served
    before = set(tmp.rglob("*"))
    payload = fullres_images[0].read_bytes()
    started = time.perf_counter()
    first = timed_posts(url, payload, 50, 16)
    rss_at_50 = rss_mb(process.pid)
    rest = timed_posts(url, payload, 150, 16)
    rss_at_200 = rss_mb(process.pid)
    elapsed = time.perf_counter() - started
    results = first + rest
    assert [status for status, _, _ in results].count(200) == 200, {s for s, _, _ in results}
    latencies = np.array([seconds for _, seconds, _ in results])
    burst = timed_posts(url, payload, 60, 60)  # 60 at once against 18 places
    busy = [seconds for status, seconds, error in burst if status == 503 and error == "busy"]
    served_ok = [status for status, _, _ in burst].count(200)
    report = {"requests": 200, "clients": 16, "seconds": round(elapsed, 1), "p50_ms": round(float(np.percentile(latencies, 50)) * 1000, 1),
              "p95_ms": round(float(np.percentile(latencies, 95)) * 1000, 1), "rss_mb_at_50": round(rss_at_50, 1),
              "rss_mb_at_200": round(rss_at_200, 1), "burst": {"sent": 60, "ok": served_ok, "busy_503": len(busy),
              "busy_max_ms": round(max(busy, default=0) * 1000, 1)}}
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "rest-load.json").write_text(json.dumps(report, indent=2))
    print(report)
    assert rss_at_200 - rss_at_50 < 50, report
    assert busy and max(busy) < 5.0 and served_ok + len(busy) == 60, report
    assert set(tmp.rglob("*")) == before


def test_the_demo_mounts_on_the_same_port(predictor):
    from pneumo.serve.rest import mount_demo

    app = mount_demo(create_app(predictor, workers=1, api_key=""))
    with TestClient(app) as both:
        assert both.get("/healthz").status_code == 200
        page = both.get("/demo/")
        assert page.status_code == 200 and "gradio" in page.text.lower()

"""``create_app``: pneumo's REST service (FastAPI) over the runtime's ``Predictor``.

For clinic IT: JSON in and out, OpenAPI docs at ``/docs``, typed errors that never carry a
traceback. Uploads are read into memory (never written to disk), bounded by ``max_upload_bytes``;
nothing about an input (file name, DICOM header, pixels) is logged. Predictions go through the
bounded ``WorkQueue`` (shared with the DICOM node when both run in one process): ``workers``
compute, up to ``queue_size`` more wait, each for at most ``deadline_s``; only a full queue is
answered 503 "busy", at once, with ``Retry-After``, and before the body is read.
"""

from __future__ import annotations

import base64
import hmac
import os
from contextlib import asynccontextmanager
from typing import Any

import cv2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pneumo.demo.overlay import blend
from pneumo_runtime.arguments import MAX_UPLOAD_BYTES, available_cores
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Predictor
from pneumo_runtime.records import prediction_record
from pneumo_runtime.scope import INTENDED_USE, parse_age, scope_line

from .upload_form import upload_fields
from .work_queue import DEFAULT_DEADLINE_S, DEFAULT_DEPTH, DeadlineExceeded, QueueFull, WorkQueue

__all__ = ["create_app", "mount_demo", "WorkQueue"]

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "PNEUMO_API_KEY"
AGE_FIELD = "patient_age"
HEATMAP_OPACITY = 0.45
FILE_FORM = {  # the request body /docs shows: the form is parsed by upload_form, in memory
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "JPEG, PNG, BMP or DICOM"},
                       AGE_FIELD: {"type": "string", "description": f"optional: the patient's age in years; outside 1-5 the answer is REJECTED ({INTENDED_USE})"}}}}}},
}


class PredictionOut(BaseModel):
    decision: str = Field(description="a class (NORMAL, PNEUMONIA, ...), REFER (too uncertain, or possibly outside the intended population: a clinician "
                                      "decides) or REJECTED (not a chest X-ray, or outside the intended use: " + INTENDED_USE + ")")
    label: str | None = Field(description="the model's class before the referral rule; null when rejected")
    probabilities: dict[str, float] = Field(description="calibrated; empty when rejected")
    p_pneumonia: float | None
    threshold: float | None = Field(description="on P(PNEUMONIA); null: argmax")
    uncertainty: float | None
    uncertainty_cutoff: float | None = Field(description="REFER above this uncertainty")
    reason: str
    model_version: str
    processing_ms: float
    disclaimer: str


class ExplanationOut(PredictionOut):
    heatmap_png: str | None = Field(description="base64 PNG: the class activation map (JET) over the X-ray, at most 1024 px a side; null when rejected")
    heatmap_target: str | None = Field(description="the class the map shows")


class ErrorOut(BaseModel):
    error: str = Field(description="invalid_input | too_large | busy | timeout | unauthorized | not_found | internal")
    message: str = Field(description="one line a user can act on")


ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 413, 503, 504)}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


def _png_base64(rgb) -> str:
    encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1]
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def create_app(predictor: Predictor | None = None, *, api_key: str | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               workers: int | None = None, queue_size: int | None = None, deadline_s: float = DEFAULT_DEADLINE_S,
               work_queue: WorkQueue | None = None) -> FastAPI:
    """The service, not yet served (``uvicorn.run(app)``). ``api_key``: required in the
    ``X-API-Key`` header of every /v1 request when given (default: $PNEUMO_API_KEY, else none).
    ``work_queue``: one shared with another front end (the DICOM node); otherwise one of
    ``workers`` (default: the cores) and ``queue_size`` waiting places (default 64) is made here."""
    predictor = predictor or Predictor(threads=1)
    contract = predictor.contract
    api_key = api_key if api_key is not None else (os.environ.get(API_KEY_ENV) or None)
    owned = work_queue is None
    queue = work_queue or WorkQueue(workers or available_cores(), DEFAULT_DEPTH if queue_size is None else queue_size, deadline_s)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        if owned:
            queue.shutdown()

    app = FastAPI(title="pneumo", version=contract.model_version or "unknown", lifespan=lifespan,
                  description=f"Pneumonia second opinion on chest X-rays. {contract.disclaimer}")
    app.state.work_queue = queue
    app.state.predictor = predictor

    def check_key(request: Request) -> None:
        if api_key and not hmac.compare_digest(request.headers.get(API_KEY_HEADER, ""), api_key):
            raise ApiError(401, "unauthorized", f"missing or wrong {API_KEY_HEADER} header")

    async def read_upload(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > max_upload_bytes:
            raise ApiError(413, "too_large", f"upload larger than the limit of {max_upload_bytes // (1024 * 1024)} MB")
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > max_upload_bytes:
                raise ApiError(413, "too_large", f"upload larger than the limit of {max_upload_bytes // (1024 * 1024)} MB")
        image, texts = upload_fields(request.headers.get("content-type", ""), bytes(body), text_fields=(AGE_FIELD,))
        # A bad age is the client's error (400, one line); an age outside 1-5 is an answer (200, REJECTED).
        return image, parse_age(texts.get(AGE_FIELD))

    async def discard_upload(request: Request) -> None:
        """Read a refused request's body and keep none of it: closing a connection with its upload
        unread makes the kernel reset it, and the client would lose the 503 it was sent. A client
        that asked "Expect: 100-continue" (curl does for large files) has sent no body: none is read."""
        if request.headers.get("expect", "").lower() == "100-continue":
            return
        received = 0
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_upload_bytes:
                break

    def predict_job(data: bytes, age: float | None) -> dict[str, Any]:
        return prediction_record(predictor.predict(data, patient_age=age), contract)

    def explain_job(data: bytes, age: float | None) -> dict[str, Any]:
        import time

        started = time.perf_counter()
        explanation = predictor.explain(data, patient_age=age)
        heatmap = None
        if explanation.heatmap is not None:
            heatmap = _png_base64(blend(explanation.image, explanation.heatmap, HEATMAP_OPACITY, contract.preprocess.ellipse_mask))
        out = prediction_record(explanation.prediction, contract, (time.perf_counter() - started) * 1000)
        return {**out, "heatmap_png": heatmap, "heatmap_target": explanation.target_class}

    async def serve(request: Request, job) -> dict[str, Any]:
        check_key(request)
        try:
            with queue.place():  # taken before the body is read: a refused request costs no memory
                data, age = await read_upload(request)
                return await queue.run(job, data, age)
        except QueueFull as full:
            await discard_upload(request)
            raise ApiError(503, "busy", str(full), {"Retry-After": str(full.retry_after_s)}) from None
        except DeadlineExceeded as late:
            raise ApiError(504, "timeout", str(late)) from None

    @app.post("/v1/predict", response_model=PredictionOut, responses=ERRORS, openapi_extra=FILE_FORM,
              summary="Decision and calibrated probabilities for one X-ray (multipart field 'file')")
    async def predict(request: Request) -> dict[str, Any]:
        return await serve(request, predict_job)

    @app.post("/v1/explain", response_model=ExplanationOut, responses=ERRORS, openapi_extra=FILE_FORM,
              summary="The prediction plus its heatmap as a base64 PNG")
    async def explain(request: Request) -> dict[str, Any]:
        return await serve(request, explain_job)

    @app.get("/v1/model", responses={401: {"model": ErrorOut}}, summary="The model's public contract: version, classes, operating point, metrics, intended use")
    async def model(request: Request) -> dict[str, Any]:
        check_key(request)
        return {
            "model_version": contract.model_version, "architecture": contract.architecture, "classes": list(contract.classes),
            "input_size": contract.preprocess.input_size, "threshold": contract.threshold, "threshold_rule": contract.threshold_rule,
            "temperature": contract.temperature, "uncertainty": {"method": contract.uncertainty.method, "cutoff": contract.uncertainty.cutoff},
            "metrics": contract.metrics, "intended_use": contract.intended_use, "disclaimer": contract.disclaimer,
            "data_citation": contract.data_citation, "onnx_sha256": contract.onnx_sha256,
            "scope": scope_line(contract.population_check),
        }

    @app.get("/healthz", summary="Liveness: the model is loaded")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model_version": contract.model_version, "workers": queue.workers, "queue_depth": queue.depth, "in_flight": queue.admitted}

    def error_response(status: int, error: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse({"error": error, "message": message}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.error, exc.message, exc.headers)

    @app.exception_handler(PneumoError)
    async def invalid_input(request: Request, exc: PneumoError) -> JSONResponse:
        return error_response(400, "invalid_input", str(exc).splitlines()[0] if str(exc) else type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, "invalid_input", "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        error = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return error_response(exc.status_code, error, str(exc.detail))

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        # The exception's text may quote the input; only its type is reported.
        return error_response(500, "internal", f"internal error ({type(exc).__name__}); the request was not processed")

    return app


def mount_demo(app: FastAPI, path: str = "/demo") -> FastAPI:
    """The Gradio demo on the same port, under ``path``, over the same predictor."""
    import gradio as gr

    from pneumo.demo.app import build_app

    return gr.mount_gradio_app(app, build_app(predictor=app.state.predictor), path=path)

"""``create_app``: pneumo's REST service (FastAPI) over the runtime's ``Predictor``.

For clinic IT: JSON in and out, OpenAPI docs at ``/docs``, typed errors that never carry a
traceback. Uploads are read into memory (never written to disk), bounded by ``max_upload_bytes``;
nothing about an input (file name, DICOM header, pixels) is logged. A fixed pool of worker
threads computes at most ``workers`` predictions at once; at most ``queue_size`` more wait; any
request beyond that is answered 503 "busy" at once rather than left hanging.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import cv2
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Prediction, Predictor

from .overlay import blend
from .upload_form import file_field

API_KEY_HEADER = "X-API-Key"
API_KEY_ENV = "PNEUMO_API_KEY"
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a full-size X-ray JPEG is ~1-3 MB, a DICOM up to ~20 MB
HEATMAP_OPACITY = 0.45
FILE_FORM = {  # the request body /docs shows: the form is parsed by upload_form, in memory
    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary", "description": "JPEG, PNG, BMP or DICOM"}}}}}},
}


class PredictionOut(BaseModel):
    decision: str = Field(description="a class (NORMAL, PNEUMONIA, ...), REFER (too uncertain: a clinician decides) or REJECTED (not a chest X-ray)")
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
    error: str = Field(description="invalid_input | too_large | busy | unauthorized | not_found | internal")
    message: str = Field(description="one line a user can act on")


ERRORS = {code: {"model": ErrorOut} for code in (400, 401, 413, 503)}


class ApiError(Exception):
    def __init__(self, status: int, error: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.error, self.message, self.headers = status, error, message, headers


class WorkerPool:
    """``workers`` threads; ``workers + queue_size`` requests admitted; the rest refused at once."""

    def __init__(self, workers: int, queue_size: int):
        self.workers, self.capacity, self.admitted = workers, workers + queue_size, 0
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pneumo-worker")

    def admit(self) -> None:
        # Only the event loop's thread touches ``admitted``: no lock needed.
        if self.admitted >= self.capacity:
            raise ApiError(503, "busy", f"busy: {self.capacity} requests are already being served; retry in a moment", {"Retry-After": "1"})
        self.admitted += 1

    def release(self) -> None:
        self.admitted -= 1

    async def run(self, function, *args):
        return await asyncio.get_running_loop().run_in_executor(self.executor, function, *args)


def default_workers() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def _png_base64(rgb) -> str:
    encoded = cv2.imencode(".png", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1]
    return base64.b64encode(encoded.tobytes()).decode("ascii")


def create_app(predictor: Predictor | None = None, *, api_key: str | None = None, max_upload_bytes: int = MAX_UPLOAD_BYTES,
               workers: int | None = None, queue_size: int | None = None) -> FastAPI:
    """The service, not yet served (``uvicorn.run(app)``). ``api_key``: required in the
    ``X-API-Key`` header of every /v1 request when given (default: $PNEUMO_API_KEY, else none)."""
    predictor = predictor or Predictor(threads=1)
    contract = predictor.contract
    api_key = api_key if api_key is not None else (os.environ.get(API_KEY_ENV) or None)
    workers = workers or default_workers()
    pool = WorkerPool(workers, 2 * workers if queue_size is None else queue_size)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        pool.executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="pneumo", version=contract.model_version or "unknown", lifespan=lifespan,
                  description=f"Pneumonia second opinion on chest X-rays. {contract.disclaimer}")
    app.state.pool = pool
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
        return file_field(request.headers.get("content-type", ""), bytes(body))

    def summary(prediction: Prediction, processing_ms: float) -> dict[str, Any]:
        return {
            "decision": prediction.decision, "label": prediction.label, "probabilities": prediction.probabilities,
            "p_pneumonia": prediction.p_pneumonia, "threshold": prediction.threshold, "uncertainty": prediction.uncertainty,
            "uncertainty_cutoff": contract.uncertainty.cutoff, "reason": prediction.reason,
            "model_version": contract.model_version, "processing_ms": round(processing_ms, 1), "disclaimer": contract.disclaimer,
        }

    def predict_job(data: bytes) -> dict[str, Any]:
        prediction = predictor.predict(data)
        return summary(prediction, prediction.timings_ms.get("total", 0.0))

    def explain_job(data: bytes) -> dict[str, Any]:
        import time

        started = time.perf_counter()
        explanation = predictor.explain(data)
        heatmap = None
        if explanation.heatmap is not None:
            heatmap = _png_base64(blend(explanation.image, explanation.heatmap, HEATMAP_OPACITY, contract.preprocess.ellipse_mask))
        out = summary(explanation.prediction, (time.perf_counter() - started) * 1000)
        return {**out, "heatmap_png": heatmap, "heatmap_target": explanation.target_class}

    async def serve(request: Request, job) -> dict[str, Any]:
        check_key(request)
        pool.admit()  # before reading the body: a refused request costs no memory
        try:
            data = await read_upload(request)
            return await pool.run(job, data)
        finally:
            pool.release()

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
        }

    @app.get("/healthz", summary="Liveness: the model is loaded")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "model_version": contract.model_version, "workers": pool.workers, "in_flight": pool.admitted}

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

    from .app import build_app

    return gr.mount_gradio_app(app, build_app(predictor=app.state.predictor), path=path)

"""Serving latency as a client sees it: the Gradio demo's API (gradio_client) and the REST service.

    python -m benchmarks.serving [--quick] [-n 20] [--clients 16] [--requests 200] [IMAGE]

Each server is launched here on loopback (a free port). Single: ``/predict`` and ``/explain`` called
one after another, median and p95 wall time. Concurrent: ``--requests`` predictions from
``--clients`` clients at once (the reliability test's load), with failures counted. The REST
service (``pneumo.serve.rest``) is timed where this checkout has it; otherwise it is recorded as not
available. Targets on a CPU (the demo's): prediction < 1 s, heatmap < 3 s.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import FULLRES, images_in, summary

TARGETS_S = {"predict": 1.0, "explain": 3.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def concurrent(call, clients: int, requests: int) -> dict:
    """``requests`` calls spread over ``clients`` threads; wall times and failures."""
    seconds, failures = [], []

    def one(_):
        started = time.perf_counter()
        try:
            call()
            seconds.append((time.perf_counter() - started) * 1000)
        except Exception as exc:  # a benchmark counts failures of any kind, it does not stop on them
            failures.append(f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}")

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(one, range(requests)))
    wall = time.perf_counter() - started
    return {"clients": clients, "requests": requests, "failures": len(failures), "failure_kinds": sorted(set(failures)),
            "wall_s": wall, "requests_per_s": requests / wall, **(summary(seconds) if seconds else {})}


def demo_api(image: Path, count: int, clients: int, requests: int) -> dict:
    from gradio_client import Client, handle_file

    from pneumo.demo.analysis import DemoService
    from pneumo.demo.app import build_app
    from pneumo.demo.demo_cli import MAX_FILE_SIZE
    from pneumo_runtime.predictor import Predictor

    app = build_app(service=DemoService(Predictor()))
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size=MAX_FILE_SIZE)
    try:
        url = f"http://127.0.0.1:{port}/"
        client = Client(url, verbose=False)
        report = {}
        for endpoint in ("predict", "explain"):
            arguments = (handle_file(str(image)),) if endpoint == "predict" else (handle_file(str(image)), 0.45)
            client.predict(*arguments, api_name=f"/{endpoint}")  # warm-up: first-call costs are not the steady state
            seconds = []
            for _ in range(count):
                started = time.perf_counter()
                client.predict(*arguments, api_name=f"/{endpoint}")
                seconds.append((time.perf_counter() - started) * 1000)
            report[endpoint] = {**summary(seconds), "target_s": TARGETS_S[endpoint]}
        local = threading.local()

        def predict():
            if not hasattr(local, "client"):  # one client per thread, as separate users would have
                local.client = Client(url, verbose=False)
            local.client.predict(handle_file(str(image)), api_name="/predict")

        report["predict_concurrent"] = concurrent(predict, clients, requests)
        return report
    finally:
        app.close()


def rest_service(image: Path, count: int, clients: int, requests: int) -> dict:
    """Times ``POST /v1/predict`` of ``pneumo.serve.rest`` when it exists (its ``app`` or ``create_app()``)."""
    if importlib.util.find_spec("pneumo.serve") is None or importlib.util.find_spec("pneumo.serve.rest") is None:
        return {"available": False, "note": "not available: this checkout has no pneumo.serve.rest"}
    import httpx
    import uvicorn

    from pneumo.serve import rest

    app = rest.create_app() if hasattr(rest, "create_app") else getattr(rest, "app", None)
    if app is None:
        return {"available": False, "note": "pneumo.serve.rest has neither create_app() nor app"}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.05)
        url = f"http://127.0.0.1:{port}/v1/predict"
        payload = image.read_bytes()

        def predict():
            response = httpx.post(url, files={"file": (image.name, payload, "image/jpeg")}, timeout=60)
            response.raise_for_status()

        predict()
        seconds = []
        for _ in range(count):
            started = time.perf_counter()
            predict()
            seconds.append((time.perf_counter() - started) * 1000)
        return {"available": True, "predict": summary(seconds), "predict_concurrent": concurrent(predict, clients, requests)}
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def run(quick: bool = False, count: int = 20, clients: int = 16, requests: int = 200, image: Path | None = None) -> dict:
    image = image or images_in(FULLRES)[0]
    count, clients, requests = (1, 2, 2) if quick else (count, clients, requests)
    return {"image": image.name, "image_bytes": image.stat().st_size,
            "demo_api": demo_api(image, count, clients, requests), "rest": rest_service(image, count, clients, requests)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", type=Path)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("-n", type=int, default=20)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.n, args.clients, args.requests, args.image), indent=1))


if __name__ == "__main__":
    main()

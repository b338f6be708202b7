"""Demo speed through the server: ``python -m pneumo.demo.benchmark [--checkpoint best.pt] [-n 20] [IMAGE]``.

Launches the app on loopback (a free port), calls ``/predict`` and ``/explain`` with gradio_client
N times each, and prints the median and worst wall times as a client sees them. Targets on a CPU:
prediction < 1 s, Grad-CAM < 3 s. Measured here, never in timed tests.
"""

from __future__ import annotations

import argparse
import socket
import statistics
import time
from pathlib import Path

from gradio_client import Client, handle_file

from pneumo_runtime.predictor import Predictor

from .analysis import DemoService, load_explainer
from .app import build_app, example_files
from .cli import MAX_FILE_SIZE

TARGETS_S = {"predict": 1.0, "explain": 3.0}


def timed_calls(client: Client, image: Path, endpoint: str, count: int) -> list[float]:
    arguments = (handle_file(str(image)),) if endpoint == "predict" else (handle_file(str(image)), 0.45)
    client.predict(*arguments, api_name=f"/{endpoint}")  # warm-up: first-call costs are not the steady state
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        client.predict(*arguments, api_name=f"/{endpoint}")
        seconds.append(time.perf_counter() - started)
    return seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.demo.benchmark", description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", type=Path, help="an X-ray (default: the first example)")
    parser.add_argument("--model", type=Path)
    parser.add_argument("--checkpoint", type=Path, help="matching torch checkpoint: times Captum Grad-CAM instead of the runtime CAM")
    parser.add_argument("--explain", default="auto", choices=["auto", "captum", "cam"])
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args(argv)
    image = args.image or Path(example_files()[0])
    predictor = Predictor(args.model)
    explainer, note = load_explainer(args.explain, args.checkpoint, predictor)
    app = build_app(service=DemoService(predictor, explainer, args.explain, note))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size=MAX_FILE_SIZE, run_history=False)
    try:
        client = Client(f"http://127.0.0.1:{port}/", verbose=False)
        print(f"model {predictor.contract.model_version}; image {image.name}; maps: {note}; n={args.n}")
        for endpoint in ("predict", "explain"):
            seconds = timed_calls(client, image, endpoint, args.n)
            median = statistics.median(seconds)
            verdict = "ok" if median < TARGETS_S[endpoint] else "SLOWER THAN TARGET"
            print(f"/{endpoint:8s} median {median * 1000:7.1f} ms  max {max(seconds) * 1000:7.1f} ms  "
                  f"(target < {TARGETS_S[endpoint]:.0f} s: {verdict})")
    finally:
        app.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

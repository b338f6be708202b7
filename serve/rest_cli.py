"""``pneumo-serve``: the REST service (``serve/rest.py``) under uvicorn, on loopback unless told otherwise."""

from __future__ import annotations

import argparse
import os
import sys

from pneumo_runtime.arguments import DEFAULT_HOST, LOOPBACK, MAX_UPLOAD_BYTES, add_model_argument, add_threads_argument, available_cores
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.notices import DISCLAIMER

from .rest import API_KEY_ENV, API_KEY_HEADER
from .work_queue import DEFAULT_DEADLINE_S, DEFAULT_DEPTH


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumo-serve", description=f"REST API for pneumo (OpenAPI docs at /docs). {DISCLAIMER}")
    add_model_argument(parser)
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address to bind (default {DEFAULT_HOST}: this machine only)")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=available_cores(), help="predictions computed at once (default: the cores, %(default)s here)")
    parser.add_argument("--queue", type=int, default=DEFAULT_DEPTH, help="requests waiting beyond those; a full queue answers 503 busy (default %(default)s)")
    parser.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, help="longest wait in the queue before a request is answered 504 (seconds, default %(default)g)")
    add_threads_argument(parser, 1, "onnxruntime threads per prediction (default 1: the workers use the cores)")
    parser.add_argument("--max-upload-mb", type=float, default=MAX_UPLOAD_BYTES / 2**20, help="largest accepted request (default %(default)g)")
    parser.add_argument("--with-demo", action="store_true", help="also serve the Gradio demo at /demo on the same port (needs pneumo[demo])")
    parser.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"])
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.workers < 1 or args.queue < 0 or args.threads < 1 or args.max_upload_mb <= 0 or args.deadline <= 0:
        print("pneumo-serve: error: --workers and --threads must be >= 1, --queue >= 0, --max-upload-mb and --deadline > 0", file=sys.stderr)
        return 2
    import uvicorn

    from pneumo_runtime.predictor import Predictor

    from .rest import create_app, mount_demo

    try:
        predictor = Predictor(args.model, threads=args.threads)
    except PneumoError as exc:
        print(f"pneumo-serve: error: {exc}", file=sys.stderr)
        return 2
    app = create_app(predictor, workers=args.workers, queue_size=args.queue, deadline_s=args.deadline, max_upload_bytes=int(args.max_upload_mb * 2**20))
    if args.with_demo:
        os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no usage reports leave the machine
        app = mount_demo(app)
    key = "on (" + API_KEY_HEADER + ")" if os.environ.get(API_KEY_ENV) else f"off (set {API_KEY_ENV} to require {API_KEY_HEADER})"
    print(f"pneumo-serve: model {predictor.contract.model_version}; {args.workers} workers; API key {key}; "
          f"docs at http://{args.host}:{args.port}/docs" + ("; demo at /demo" if args.with_demo else ""), file=sys.stderr)
    if args.host not in LOOPBACK:
        print(f"pneumo-serve: WARNING: listening on {args.host}: reachable from other machines"
              + ("." if os.environ.get(API_KEY_ENV) else f", with no API key (set {API_KEY_ENV})."), file=sys.stderr)
    # The access log holds method, path and status only: no file name, no header of the upload.
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

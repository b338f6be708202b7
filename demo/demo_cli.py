"""``pneumo-demo``: serve the Gradio demo, on loopback unless told otherwise."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pneumo_runtime.arguments import DEFAULT_HOST, LOOPBACK, MAX_UPLOAD_BYTES, add_model_argument, add_threads_argument
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.notices import DISCLAIMER

AUTH_ENV = "PNEUMO_DEMO_AUTH"  # "user:pass": keeps the password out of the shell history and `ps`
MAX_FILE_SIZE = f"{MAX_UPLOAD_BYTES // (1024 * 1024)}mb"  # Gradio's spelling of the shared upload cap


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumo-demo", description=f"Browser demo and HTTP API for pneumo. {DISCLAIMER}")
    add_model_argument(parser)
    parser.add_argument("--checkpoint", type=Path, help="the torch checkpoint the model was exported from: enables Grad-CAM through Captum")
    parser.add_argument("--explain", choices=["auto", "captum", "cam", "off"], default="auto",
                        help="heatmaps: auto = Captum when --checkpoint matches, else the runtime's CAM (default auto)")
    # A Hugging Face Space sets GRADIO_SERVER_NAME=0.0.0.0; everywhere else the default is loopback.
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", DEFAULT_HOST), help=f"address to bind (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--share", action="store_true", help="also publish a temporary public gradio.live link")
    parser.add_argument("--auth", help=f"user:pass required to open the demo (better: set {AUTH_ENV})")
    add_threads_argument(parser)
    return parser


def parse_auth(value: str | None) -> tuple[str, str] | None:
    if not value:
        return None
    user, sep, password = value.partition(":")
    if not sep or not user or not password:
        raise PneumoError(f"credentials must be user:pass (from --auth or {AUTH_ENV})")
    return user, password


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no usage reports leave the machine
    from pneumo_runtime.predictor import Predictor

    from .analysis import DemoService, load_explainer
    from .app import build_app

    try:
        auth = parse_auth(args.auth or os.environ.get(AUTH_ENV))
        predictor = Predictor(args.model, threads=args.threads)
        explainer, note = load_explainer(args.explain, args.checkpoint, predictor)
    except PneumoError as exc:
        print(f"pneumo-demo: error: {exc}", file=sys.stderr)
        return 2
    print(f"pneumo-demo: model {predictor.contract.model_version}; maps: {note}", file=sys.stderr)
    if args.share:
        print("pneumo-demo: WARNING: --share publishes a PUBLIC link: anyone who has it can upload images to this machine. "
              + ("Access needs the credentials given." if auth else f"Consider --auth or {AUTH_ENV}=user:pass."), file=sys.stderr)
    elif args.host not in LOOPBACK:
        print(f"pneumo-demo: WARNING: listening on {args.host}: reachable from other machines.", file=sys.stderr)
    app = build_app(service=DemoService(predictor, explainer, args.explain, note))
    app.launch(server_name=args.host, server_port=args.port, share=args.share, auth=auth, max_file_size=MAX_FILE_SIZE,
               show_error=False, footer_links=["api"], run_history=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())

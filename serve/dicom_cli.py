"""``pneumo-dicom``: pneumo as a DICOM node (``listen``), or the same results written to disk (``analyse``).

    pneumo-dicom listen --aet PNEUMO --port 11112 --forward ORTHANC@127.0.0.1:4242
    pneumo-dicom listen --dicomweb http://127.0.0.1:8042/dicom-web --rest-port 8000
    pneumo-dicom analyse FILE|DIR --out DIR
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from pneumo_runtime.arguments import available_cores
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.notices import DISCLAIMER
from pneumo_runtime.predictor import shipped_models

from .work_queue import DEFAULT_DEADLINE_S, DEFAULT_DEPTH

PROG = "pneumo-dicom"
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def default_spool() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "pneumo" / "spool"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=f"pneumo as a DICOM node. {DISCLAIMER}")
    commands = parser.add_subparsers(dest="command", required=True)
    model_help = "a shipped model (" + ", ".join(shipped_models()) + "; default: default) or the path of an exported .onnx"

    listen = commands.add_parser("listen", help="receive films by C-STORE, send an SR and a secondary capture back into their study")
    listen.add_argument("--aet", default="PNEUMO", help="this node's AE title (default %(default)s)")
    listen.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    listen.add_argument("--port", type=int, default=11112, help="DICOM port (default %(default)s)")
    target = listen.add_mutually_exclusive_group(required=True)
    target.add_argument("--forward", metavar="AET@HOST:PORT", help="C-STORE the results to this PACS")
    target.add_argument("--dicomweb", metavar="URL", help="STOW-RS the results to this DICOMweb root (e.g. http://127.0.0.1:8042/dicom-web)")
    listen.add_argument("--spool", type=Path, default=default_spool(), help="where films wait until their results are delivered (default %(default)s)")
    listen.add_argument("--spool-max-films", type=int, default=1000, help="films the spool holds; beyond, C-STORE is refused 0xA700 (default %(default)s)")
    listen.add_argument("--spool-max-mb", type=float, default=4096, help="megabytes the spool holds (default %(default)g)")
    listen.add_argument("--retry-max", type=float, default=60, help="longest wait between delivery attempts, seconds (default %(default)g)")
    listen.add_argument("--workers", type=int, default=available_cores(), help="predictions computed at once (default: the cores, %(default)s here)")
    listen.add_argument("--queue", type=int, default=DEFAULT_DEPTH, help="requests waiting beyond those (default %(default)s)")
    listen.add_argument("--deadline", type=float, default=DEFAULT_DEADLINE_S, help="longest wait in the queue, seconds (default %(default)g)")
    listen.add_argument("--rest-port", type=int, help="also serve the REST API on this port, on the same work queue (needs pneumo[serve])")
    listen.add_argument("--model", help=model_help)
    listen.add_argument("--threads", type=int, default=1, help="onnxruntime threads per prediction (default 1)")
    listen.add_argument("--log-level", default="info", choices=["error", "warning", "info", "debug"])

    analyse = commands.add_parser("analyse", help="write the SR and secondary capture of DICOM files to a folder, no network")
    analyse.add_argument("inputs", nargs="+", type=Path, metavar="FILE|DIR")
    analyse.add_argument("--out", type=Path, required=True, help="folder for the results (created)")
    analyse.add_argument("--model", help=model_help)
    return parser


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s pneumo-dicom %(levelname)s %(message)s", stream=sys.stderr)


def dicom_files(inputs: list[Path]):
    for path in inputs:
        if path.is_dir():
            yield from (file for file in sorted(path.rglob("*")) if file.is_file())
        else:
            yield path


def analyse(args: argparse.Namespace) -> int:
    from pneumo_runtime.predictor import Predictor

    from .dicom_node import DicomNode, one_line

    node = DicomNode(Predictor(args.model, threads=1), spool=None, delivery=None)  # analysis only: no spool, no network
    args.out.mkdir(parents=True, exist_ok=True)
    failures = 0
    for index, path in enumerate(dicom_files(args.inputs), 1):
        try:
            decision, objects = node.analyse(path.read_bytes())
        except (PneumoError, OSError) as exc:
            failures += 1
            print(f"{path}: error: {one_line(exc) if isinstance(exc, PneumoError) else type(exc).__name__}", file=sys.stderr)
            continue
        written = []
        for name, data in objects.items():  # named by position, never by anything from the header
            target = args.out / f"{index:05d}-{name}"
            target.write_bytes(data)
            written.append(target.name)
        print(f"{path}\t{decision}\t{' '.join(written)}")
    return 1 if failures else 0


def listen(args: argparse.Namespace) -> int:
    from pneumo_runtime.predictor import Predictor

    from .dicom_node import CStoreDelivery, DicomNode, StowDelivery
    from .spool import Spool
    from .work_queue import WorkQueue

    configure_logging(args.log_level)
    delivery = CStoreDelivery.parse(args.forward, args.aet) if args.forward else StowDelivery(args.dicomweb)
    predictor = Predictor(args.model, threads=args.threads)
    work_queue = WorkQueue(args.workers, args.queue, args.deadline)
    spool = Spool(args.spool, max_films=args.spool_max_films, max_bytes=int(args.spool_max_mb * 2**20))
    node = DicomNode(predictor, spool, delivery, work_queue, aet=args.aet, host=args.host, port=args.port, retry_max_s=args.retry_max)
    if args.host not in LOOPBACK:
        logging.getLogger("pneumo.dicom").warning("listening on %s: reachable from other machines", args.host)
    node.start()
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    if args.rest_port:
        import uvicorn

        from .rest import create_app

        app = create_app(predictor, work_queue=work_queue)
        server = uvicorn.Server(uvicorn.Config(app, host=args.host, port=args.rest_port, log_level=args.log_level, server_header=False))
        threading.Thread(target=server.run, name="pneumo-rest", daemon=True).start()
    stop.wait()
    node.stop()  # films not yet delivered stay in the spool for the next start
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "listen" and (args.workers < 1 or args.queue < 0 or args.threads < 1 or args.spool_max_films < 1 or args.retry_max <= 0):
        print(f"{PROG}: error: --workers, --threads and --spool-max-films must be >= 1, --queue >= 0, --retry-max > 0", file=sys.stderr)
        return 2
    try:
        return listen(args) if args.command == "listen" else analyse(args)
    except PneumoError as exc:
        print(f"{PROG}: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the port is taken; the message names the address, not a patient
        print(f"{PROG}: error: {exc.strerror or type(exc).__name__}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

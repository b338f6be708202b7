"""The REST service under load, through the one bounded work queue: a command, not a test.

    python -m benchmarks.serve_load [--requests 200] [--clients 16] [--burst 500] [--workers N] [--queue 64] [IMAGE]

Starts ``pneumo-serve`` (``python -m pneumo.serve.rest_cli``) on a free loopback port with its
defaults (workers: the cores; 64 waiting places), then

1. ``--requests`` POST /v1/predict of a full-size film from ``--clients`` concurrent clients:
   answered with a decision, 503 busy, failed (anything else), p50 and p95 wall time, server memory
   (resident set) before and after;
2. a burst of ``--burst`` requests at once: how many were answered and how many got 503, the
   slowest 503 (it must come within 1 s: a full queue refuses before reading the body) and the
   server's peak memory during the burst, sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from .common import REPO
from .serving import free_port

DEFAULT_IMAGE = REPO / "tests" / "fixtures" / "fullres" / "NORMAL2-IM-1086-0001.jpeg"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def multipart_request(port: int, payload: bytes, expect: bool = True) -> tuple[bytes, bytes]:
    """(head, body) of one HTTP/1.1 POST /v1/predict, built once. A raw client, since an HTTP
    library's own cost per request (httpx: about 12 ms each at 500 at once here) would be measured
    instead of the server's. It asks "Expect: 100-continue" as curl does for large files: the body
    goes only once the server has admitted the request."""
    boundary = "pneumoloadboundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"film.jpeg\"\r\n"
            f"Content-Type: image/jpeg\r\n\r\n").encode() + payload + f"\r\n--{boundary}--\r\n".encode()
    expectation = "Expect: 100-continue\r\n" if expect else ""
    head = (f"POST /v1/predict HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n{expectation}"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
    return head, body


async def post_all(port: int, request: tuple[bytes, bytes], count: int, clients: int) -> list[tuple[int, float, str]]:
    """``count`` POSTs from ``clients`` concurrent connections: (status, seconds, error) each; status -1: no answer."""
    semaphore = asyncio.Semaphore(clients)
    head, body = request

    async def one(_):
        async with semaphore:
            started = time.perf_counter()
            try:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                expect = b"Expect: 100-continue" in head
                writer.write(head if expect else head + body)
                try:
                    await writer.drain()
                except ConnectionError:  # the server answered before reading it all: its answer is there
                    pass
                first = await reader.readuntil(b"\r\n\r\n")
                if expect and first.startswith(b"HTTP/1.1 100"):
                    writer.write(body)
                    await writer.drain()
                    first = await reader.readuntil(b"\r\n\r\n")
                answer = first + await reader.read()
                writer.close()
                status_line, _, rest = answer.partition(b"\r\n\r\n")
                status = int(status_line.split(b" ", 2)[1])
                reply = json.loads(rest) if rest else {}
                error = reply.get("error", "") if status != 200 else ("" if reply.get("decision") else "no decision")
                return status, time.perf_counter() - started, error
            except Exception as exc:  # counted as failed
                return -1, time.perf_counter() - started, type(exc).__name__
    return await asyncio.gather(*(one(i) for i in range(count)))


def tally(results: list[tuple[int, float, str]]) -> dict:
    answered = [s for status, s, error in results if status == 200 and not error]
    busy = [s for status, s, error in results if status == 503 and error == "busy"]
    failed = len(results) - len(answered) - len(busy)
    figures = {"sent": len(results), "answered": len(answered), "busy_503": len(busy), "failed": failed}
    if answered:
        figures |= {"p50_ms": round(float(np.percentile(answered, 50)) * 1000), "p95_ms": round(float(np.percentile(answered, 95)) * 1000)}
    if busy:
        figures["slowest_503_ms"] = round(max(busy) * 1000)
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serve_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("image", nargs="?", type=Path, default=DEFAULT_IMAGE)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--burst", type=int, default=500)
    parser.add_argument("--workers", type=int, help="the server's --workers (default: its own)")
    parser.add_argument("--queue", type=int, help="the server's --queue (default: its own, 64)")
    parser.add_argument("--no-expect", action="store_true", help="send each body at once, without Expect: 100-continue (as httpx and requests do)")
    args = parser.parse_args(argv)
    payload = args.image.read_bytes()
    port = free_port()
    command = [sys.executable, "-m", "pneumo.serve.rest_cli", "--port", str(port), "--log-level", "warning"]
    command += ["--workers", str(args.workers)] if args.workers else []
    command += ["--queue", str(args.queue)] if args.queue is not None else []
    server = subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1", "PNEUMO_API_KEY": ""})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/healthz", timeout=1).json()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise SystemExit("pneumo-serve did not start") from None
                time.sleep(0.2)
        httpx.post(f"{url}/v1/predict", files={"file": ("film.jpeg", payload, "image/jpeg")}, timeout=60)  # warm-up
        rss_start = rss_mb(server.pid)
        started = time.perf_counter()
        request = multipart_request(port, payload, expect=not args.no_expect)
        load = tally(asyncio.run(post_all(port, request, args.requests, args.clients)))
        load |= {"clients": args.clients, "wall_s": round(time.perf_counter() - started, 1),
                 "rss_mb_before": round(rss_start, 1), "rss_mb_after": round(rss_mb(server.pid), 1)}

        peak, sampling = [rss_mb(server.pid)], threading.Event()

        def sample():
            while not sampling.is_set():
                peak.append(rss_mb(server.pid))
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        burst = tally(asyncio.run(post_all(port, request, args.burst, args.burst)))
        sampling.set()
        sampler.join()
        burst |= {"rss_mb_peak": round(max(peak), 1), "rss_mb_after": round(rss_mb(server.pid), 1)}
        report = {"expect_100_continue": not args.no_expect, "server": {"workers": health["workers"], "queue_depth": health.get("queue_depth")}, "image_bytes": len(payload),
                  "load": load, "burst": burst, "loadavg_1min": round(os.getloadavg()[0], 1), "cores": os.cpu_count()}
        print(json.dumps(report, indent=2))
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Load: the demo on loopback under 16 concurrent gradio_client users, then a flood beyond its queue.

200 ``/predict`` requests, bounded in count and time: 0 failures, p50/p95 latency recorded
(test-artifacts/demo-load.json), server RSS growth from request 50 to 200 under 50 MB, a request
beyond the queue answered "queue full" at once, and nothing of an upload left in Gradio's temp and
cache folders or the server's temp folder, during the run and after the server stops.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pytest

from pneumo.demo.app import CONCURRENCY_LIMIT, QUEUE_SIZE, example_files
from pneumo.demo.uploads import file_digest, public_digests

from .conftest import ARTIFACTS, REPO, free_port

pytestmark = pytest.mark.slow

USERS = 16
REQUESTS = 200
RSS_FROM = 50  # the first requests warm caches and allocators up; growth after them would be a leak
RSS_LIMIT_MB = 50
PHASE_LIMIT_S = 480  # the whole 200-request phase; each request alone gets REQUEST_LIMIT_S
REQUEST_LIMIT_S = 120
FLOOD = 2 * (CONCURRENCY_LIMIT + QUEUE_SIZE)  # jobs sent at once: about half must be turned away
IMAGE_MAGIC = (b"\xff\xd8\xff", b"\x89PNG", b"RIFF", b"GIF8", b"BM", b"DICM")

SERVER = """
import signal, sys, threading
from pneumo.demo.app import build_app
from pneumo.demo.demo_cli import MAX_FILE_SIZE
app = build_app()
app.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]), prevent_thread_lock=True, quiet=True,
           max_file_size=MAX_FILE_SIZE, run_history=False)
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
print("READY", flush=True)
stop.wait()
app.close()
print("STOPPED", flush=True)
"""


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def files_under(*roots: Path) -> set[Path]:
    return {p for root in roots if root.exists() for p in root.rglob("*") if p.is_file()}


def upload_leftovers(files: set[Path], upload_digests: set[str]) -> list[str]:
    """Files that carry the upload, a picture of it, or nothing at all (an empty temp file)."""
    found = []
    for path in files:
        data = path.read_bytes()
        if not data or data.startswith(IMAGE_MAGIC) and file_digest(path) not in KEEP or file_digest(path) in upload_digests:
            found.append(f"{path} ({len(data)} bytes)")
    return found


KEEP = public_digests(example_files())  # the app's own public examples, cached by Gradio at start


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The demo in its own process, with its own Gradio and temp folders, stopped with SIGTERM."""
    root = tmp_path_factory.mktemp("load")
    folders = {"gradio": root / "gradio", "tmp": root / "tmp"}
    folders["tmp"].mkdir()
    env = {**os.environ, "GRADIO_TEMP_DIR": str(folders["gradio"]), "TMPDIR": str(folders["tmp"]),
           "GRADIO_ANALYTICS_ENABLED": "False", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    port = free_port()
    log = root / "server.log"  # a file, not a pipe: a full pipe would block the server's every print
    with log.open("w") as output:
        process = subprocess.Popen([sys.executable, "-c", SERVER, str(port)], cwd=REPO, env=env, stdout=output,
                                   stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    while "READY" not in log.read_text() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "READY" in log.read_text(), log.read_text()[-3000:]
    yield {"url": f"http://127.0.0.1:{port}/", "process": process, "log": log, **folders}
    if process.poll() is None:
        process.kill()


def test_load_busy_answer_and_no_leftovers(server, fullres_images, tmp_path):
    from gradio_client import Client, handle_file

    # One film per user, each a different file (bytes appended after the JPEG's end): Gradio files an
    # upload under its content's hash, so two users sending the very same bytes at once share one
    # cached path, and the first analysis to finish deletes it (see README, Demo).
    film = next(p for p in fullres_images if "NORMAL" in p.name).read_bytes()
    uploads = []
    for user in range(USERS):
        uploads.append(tmp_path / f"user-{user:02d}.jpeg")
        uploads[-1].write_bytes(film + f"user-{user:02d}".encode())
    upload_digests = {file_digest(path) for path in uploads}
    assert not upload_digests & KEEP, "the load films must not be public examples (those stay cached)"
    process, url = server["process"], server["url"]
    # httpx's default 5 s would time uploads out on a shared, saturated CI machine, not on the server.
    clients = [Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": REQUEST_LIMIT_S}) for _ in range(USERS)]
    before = files_under(server["gradio"], server["tmp"])

    # 200 requests from 16 users, each user one request after another; RSS sampled when request 50
    # and request 200 have completed.
    latencies, failures, rss, lock = [], [], {}, threading.Lock()

    def one_user(user: int) -> None:
        for _ in range(user, REQUESTS, USERS):
            started = time.perf_counter()
            try:
                details = clients[user].submit(handle_file(str(uploads[user])), api_name="/predict").result(
                    timeout=REQUEST_LIMIT_S)[2]
                assert details["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}
            except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
                with lock:
                    failures.append(f"{type(exc).__name__}: {exc}")
                continue
            with lock:
                latencies.append(time.perf_counter() - started)
                done = len(latencies) + len(failures)
                if done in (RSS_FROM, REQUESTS):
                    rss[done] = rss_mb(process.pid)

    phase_started = time.perf_counter()
    with ThreadPoolExecutor(USERS) as pool:
        for future in as_completed([pool.submit(one_user, user) for user in range(USERS)], timeout=PHASE_LIMIT_S):
            future.result()
    phase_s = time.perf_counter() - phase_started
    during = upload_leftovers(files_under(server["gradio"], server["tmp"]) - before, upload_digests)

    # A flood beyond the queue: the jobs that do not fit are refused at once, the others complete.
    example = example_files()[0]
    # One client per job, as separate users would be: jobs sharing one gradio_client share its event
    # stream, and a queue-full answer to one of them can surface on a sibling as a bare
    # CancelledError, which says nothing about what the server answered.
    flood_clients = [Client(url, verbose=False, download_files=False, httpx_kwargs={"timeout": REQUEST_LIMIT_S}) for _ in range(FLOOD)]
    answers = []

    def flood_one(index: int) -> tuple[str, float]:
        started = time.perf_counter()
        try:
            flood_clients[index].submit(handle_file(example), 0.45, api_name="/explain").result(timeout=REQUEST_LIMIT_S)
            return "done", time.perf_counter() - started
        except Exception as exc:  # noqa: BLE001 - gradio_client raises its QueueError here
            return f"{type(exc).__name__}: {exc}", time.perf_counter() - started

    with ThreadPoolExecutor(FLOOD) as pool:
        answers = list(pool.map(flood_one, range(FLOOD), timeout=PHASE_LIMIT_S))
    refused = [(message, seconds) for message, seconds in answers if message != "done"]
    try:
        after_flood = clients[0].predict(handle_file(example), api_name="/predict")[2]["decision"]  # still serving
    except Exception as exc:  # noqa: BLE001 - reported with the figures below
        after_flood = f"{type(exc).__name__}: {exc}"

    # Stop the server as an operator would (SIGTERM), then look again.
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    tail = server["log"].read_text()
    after_stop = files_under(server["gradio"], server["tmp"])
    stale = upload_leftovers(after_stop, upload_digests)
    gradio_files_after_stop = files_under(server["gradio"])

    figures = {
        "requests": REQUESTS, "users": USERS, "failures": len(failures), "phase_s": round(phase_s, 1),
        "p50_s": round(statistics.median(latencies), 3) if latencies else None,
        "p95_s": round(statistics.quantiles(latencies, n=20)[18], 3) if len(latencies) > 20 else None,
        "rss_mb_at_50": round(rss.get(RSS_FROM, 0), 1), "rss_mb_at_200": round(rss.get(REQUESTS, 0), 1),
        "rss_growth_mb": round(rss.get(REQUESTS, 0) - rss.get(RSS_FROM, 0), 1),
        "flood_jobs": FLOOD, "flood_refused": len(refused),
        "flood_refusal_max_s": round(max((s for _, s in refused), default=0), 2),
        "refusal_message": refused[0][0] if refused else None, "after_flood": after_flood,
        "cpu_count": os.cpu_count(), "load_average": os.getloadavg(),
    }
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "demo-load.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))

    assert not failures, failures[:5]
    assert len(latencies) == REQUESTS and phase_s < PHASE_LIMIT_S
    assert set(rss) == {RSS_FROM, REQUESTS} and figures["rss_growth_mb"] < RSS_LIMIT_MB, figures
    assert not during, during
    assert refused and all("queue is full" in message.lower() for message, _ in refused), refused[:3]
    assert figures["flood_refusal_max_s"] < 30, "a refused request must be answered at once, not after the queue drains"
    assert len(refused) < FLOOD and after_flood in {"NORMAL", "PNEUMONIA", "REFER"}
    assert "STOPPED" in tail, tail[-2000:]
    assert not stale and not gradio_files_after_stop, (stale, sorted(map(str, gradio_files_after_stop)))

"""Real processes for the DICOM tests: the node (``python -m pneumo.serve.dicom_cli listen``), a small
storage SCP standing in for a PACS (``store_scp.py``) and Orthanc. Each runs in its own process so
that a test can kill it with SIGKILL."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pydicom
from pydicom.uid import ExplicitVRLittleEndian
from pynetdicom import AE
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation, Verification

HERE = Path(__file__).parent
ORTHANC = shutil.which("Orthanc")
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)  # the readiness probes' "connection refused" is expected


def echo(port: int, aet: str = "PNEUMO") -> bool:
    ae = AE(ae_title="TESTSCU")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 5
    association = ae.associate("127.0.0.1", port, ae_title=aet)
    if not association.is_established:
        return False
    status = association.send_c_echo()
    association.release()
    return bool(status) and status.Status == 0


def send_films(port: int, films: list[bytes], aet: str = "PNEUMO") -> list[int]:
    """C-STORE each film in one association; the status of each (-1: no answer)."""
    ae = AE(ae_title="MODALITY")
    ae.add_requested_context(DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian)
    ae.acse_timeout = ae.network_timeout = ae.dimse_timeout = 30
    association = ae.associate("127.0.0.1", port, ae_title=aet)
    assert association.is_established, "the node refused the association"
    statuses = []
    for film in films:
        status = association.send_c_store(pydicom.dcmread(io.BytesIO(film)))
        statuses.append(int(status.Status) if status and "Status" in status else -1)
    association.release()
    return statuses


@dataclass
class Process:
    popen: subprocess.Popen
    log: Path

    def kill(self) -> None:
        """SIGKILL: no handler runs, no buffer is flushed."""
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def _start(command: list[str], log: Path, ready, what: str) -> Process:
    handle = open(log, "ab")
    popen = subprocess.Popen(command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"})
    handle.close()
    process = Process(popen, log)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            raise AssertionError(f"{what} exited with {popen.returncode}:\n{process.text()[-3000:]}")
        try:
            if ready():
                return process
        except OSError:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"{what} did not start within {START_TIMEOUT_S} s:\n{process.text()[-3000:]}")


def start_node(spool: Path, log: Path, *target: str, port: int | None = None, extra: tuple[str, ...] = ()) -> tuple[Process, int]:
    """``target``: ("--forward", "AET@HOST:PORT") or ("--dicomweb", URL)."""
    port = port or free_port()
    command = [sys.executable, "-m", "pneumo.serve.dicom_cli", "listen", "--port", str(port), "--spool", str(spool),
               "--workers", "1", "--retry-max", "1", *target, *extra]
    return _start(command, log, lambda: echo(port), "pneumo-dicom"), port


def start_scp(folder: Path, log: Path, port: int | None = None) -> tuple[Process, int]:
    """A storage SCP (AE title PACS) that writes what it receives to ``folder``."""
    port = port or free_port()
    command = [sys.executable, str(HERE / "store_scp.py"), str(folder), str(port)]
    return _start(command, log, lambda: echo(port, "PACS"), "the storage SCP"), port


def received(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(path) for path in sorted(folder.glob("*.dcm"))]


def wait_for(predicate, timeout_s: float, step_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step_s)


@dataclass
class Orthanc:
    process: Process
    http_port: int
    dicom_port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def get(self, path: str):
        with urllib.request.urlopen(self.url + path, timeout=30) as response:
            return json.loads(response.read())

    def post(self, path: str, body: bytes, content_type: str = "application/octet-stream"):
        request = urllib.request.Request(self.url + path, data=body, headers={"Content-Type": content_type}, method="POST")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def file(self, instance_id: str) -> pydicom.Dataset:
        with urllib.request.urlopen(f"{self.url}/instances/{instance_id}/file", timeout=30) as response:
            return pydicom.dcmread(io.BytesIO(response.read()))


ROUTING_LUA = HERE.parents[1] / "docs" / "pacs" / "route-to-pneumo.lua"


def start_orthanc(folder: Path, node_aet: str, node_port: int, auto_route: bool = False) -> Orthanc:
    """Orthanc with its own configuration and storage under ``folder``, on free loopback ports, the
    DICOMweb plugin loaded and the node declared as modality ``pneumo``; ``auto_route``: with the
    routing rule of docs/pacs.md (``route-to-pneumo.lua``)."""
    http_port, dicom_port = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "pneumo-test", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "storage"),
        "HttpPort": http_port, "DicomPort": dicom_port, "DicomAet": "ORTHANC", "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomModalities": {"pneumo": [node_aet, "127.0.0.1", node_port]},
        "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
    }
    if auto_route:
        config["LuaScripts"] = [str(ROUTING_LUA)]
    (folder / "orthanc.json").write_text(json.dumps(config))

    def answers() -> bool:
        with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/system", timeout=2) as response:
            return response.status == 200

    process = _start([ORTHANC, str(folder / "orthanc.json")], folder / "orthanc.log", answers, "Orthanc")
    return Orthanc(process, http_port, dicom_port)

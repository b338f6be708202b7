"""What the DICOM path costs per film, beside the plain prediction: a command, not a test.

    python -m benchmarks.dicom_path [--films 20] [FOLDER]

Full-size films (default: ``kermany_fullres_sample`` beside the checkout) are made DX DICOM files of
a 3-year-old. For each, sequentially:

* **plain**: ``Predictor.predict(bytes)`` of the DICOM file, as ``pneumo-predict`` does;
* **DICOM path**: C-STORE to a ``DicomNode`` in this process (spooled and fsynced before the
  acknowledgement), analysis (``Predictor.explain`` through the work queue, SR and secondary capture
  built and encoded, written to the spool), C-STORE of the results to a storage SCP in this process;
  timed from the C-STORE request until the SCP holds the film's results.

The extra cost is the difference of medians; target: at most 50 ms on top of the prediction.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import DigitalXRayImageStorageForPresentation

from .common import FULLRES, images_in
from .dicom_films import dx_film
from .serving import free_port

TARGET_EXTRA_MS = 50.0


class Sink:
    """A storage SCP that counts what it receives."""

    def __init__(self):
        self.count, self.arrived = 0, threading.Condition()
        ae = AE(ae_title="PACS")
        ae.supported_contexts = AllStoragePresentationContexts
        self.port = free_port()
        self.server = ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=[(evt.EVT_C_STORE, self.on_store)])

    def on_store(self, event) -> int:
        with self.arrived:
            self.count += 1
            self.arrived.notify_all()
        return 0x0000

    def wait_for(self, count: int, timeout_s: float = 60) -> None:
        with self.arrived:
            if not self.arrived.wait_for(lambda: self.count >= count, timeout_s):
                raise TimeoutError("results did not arrive")


def median(values: list[float]) -> float:
    return float(np.median(values))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.dicom_path", description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", nargs="?", type=Path, default=FULLRES)
    parser.add_argument("--films", type=int, default=20)
    args = parser.parse_args(argv)
    from pneumo.serve.dicom_node import CStoreDelivery, DicomNode, quiet_libraries
    from pneumo.serve.spool import Spool
    from pneumo.serve.work_queue import WorkQueue
    from pneumo_runtime.predictor import Predictor

    quiet_libraries()
    sources = images_in(args.folder)[: args.films]
    if not sources:
        raise SystemExit(f"no films in {args.folder}")
    study = generate_uid()
    films = [dx_film(source, study, "003Y", instance=index) for index, source in enumerate(sources, 1)]
    predictor = Predictor(threads=1)
    for film in films[:2]:  # warm-up
        predictor.predict(film)
        predictor.explain(film)

    plain = []
    for film in films:
        started = time.perf_counter()
        predictor.predict(film)
        plain.append((time.perf_counter() - started) * 1000)

    sink = Sink()
    with tempfile.TemporaryDirectory() as spool_dir:
        node = DicomNode(predictor, Spool(spool_dir), CStoreDelivery("PACS", "127.0.0.1", sink.port), WorkQueue(workers=1), port=free_port())
        node.start()
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian)
        association = ae.associate("127.0.0.1", node.port, ae_title="PNEUMO")
        datasets = [pydicom.dcmread(io.BytesIO(film)) for film in films]
        path, acknowledged, expected = [], [], 0
        for dataset in datasets:
            started = time.perf_counter()
            status = association.send_c_store(dataset)
            acknowledged.append((time.perf_counter() - started) * 1000)
            assert status.Status == 0, f"C-STORE answered 0x{status.Status:04X}"
            expected += 2  # SR and secondary capture: a 3-year-old's frontal film is decided
            sink.wait_for(expected)
            path.append((time.perf_counter() - started) * 1000)
        association.release()
        node.stop()
        sink.server.shutdown()

    from pneumo.serve.dicom_results import build_results, read_header

    explain, results = [], []
    for film in films:
        started = time.perf_counter()
        explanation = predictor.explain(film)
        explained = time.perf_counter()
        build_results(read_header(film), explanation, predictor.contract).encoded()
        explain.append((explained - started) * 1000)
        results.append((time.perf_counter() - explained) * 1000)
    report = {
        "films": len(films), "size": f"{datasets[0].Columns}x{datasets[0].Rows} (first film)",
        "plain_predict_ms": round(median(plain), 1), "explain_ms": round(median(explain), 1), "sr_and_capture_built_ms": round(median(results), 1),
        "c_store_acknowledged_ms": round(median(acknowledged), 1), "dicom_path_ms": round(median(path), 1),
        "dicom_path_p95_ms": round(float(np.percentile(path, 95)), 1),
        "extra_over_plain_ms": round(median(path) - median(plain), 1), "target_extra_ms": TARGET_EXTRA_MS,
        "loadavg_1min": round(os.getloadavg()[0], 1), "cores": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``DicomNode``: pneumo as a DICOM node (pynetdicom). A PACS routes films to it; the results go back
into the same study.

* C-ECHO, and C-STORE of CR and DX (for presentation or processing) images, uncompressed.
* A received film is written to the ``Spool`` (fsynced, renamed into place) *before* the C-STORE is
  acknowledged; a full spool answers 0xA700 "out of resources" and the sender keeps the film.
* One thread works through the spool, oldest first: each film goes through the shared
  ``WorkQueue`` to ``Predictor.explain``, which applies every refusal and scope rule of the other
  front ends; the SR and secondary capture (``dicom_results``) are written to the spool; then they are
  delivered by C-STORE (``--forward``) or STOW-RS (``--dicomweb``). A film leaves the spool only
  once its results are delivered. Failed deliveries retry with exponential backoff, nothing dropped.
* Restarted after a kill, the node finds the spool as it was and carries on.

Log lines name a film by its spool key (arrival time and random hex), never by a header value.
"""

from __future__ import annotations

import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pydicom
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE, evt
from pynetdicom.sop_class import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    Verification,
)

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Predictor

from .dicom_results import build_results, filing_header, read_header
from .spool import Item, Spool, SpoolFull
from .work_queue import DeadlineExceeded, QueueFull, WorkQueue

log = logging.getLogger("pneumo.dicom")

# CR, and DX (which covers "DR" detectors): the radiographs the model was trained on.
FILM_CLASSES = (ComputedRadiographyImageStorage, DigitalXRayImageStorageForPresentation, DigitalXRayImageStorageForProcessing)
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000
STORE_WARNINGS = (0xB000, 0xB006, 0xB007)  # coercion or elements discarded: stored all the same
TIMEOUT_S = 30


def quiet_libraries() -> None:
    """pynetdicom and dicomweb-client log every request, and every failed connection as an error;
    the node's own lines say what matters (which film, delivered or not), so theirs are silenced."""
    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    logging.getLogger("dicomweb_client").setLevel(logging.WARNING)


class DeliveryError(PneumoError):
    pass


def one_line(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else ""
    return text or type(error).__name__


def _datasets(objects: Sequence[bytes]) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(io.BytesIO(data)) for data in objects]


@dataclass(frozen=True)
class CStoreDelivery:
    """C-STORE to ``called_aet`` at ``host:port``."""

    called_aet: str
    host: str
    port: int
    calling_aet: str = "PNEUMO"

    @classmethod
    def parse(cls, target: str, calling_aet: str = "PNEUMO") -> CStoreDelivery:
        """``AET@HOST:PORT``."""
        aet, _, address = target.partition("@")
        host, _, port = address.rpartition(":")
        if not aet or not host or not port.isdigit():
            raise PneumoError(f"--forward wants AET@HOST:PORT, e.g. ORTHANC@127.0.0.1:4242 (got {target!r})")
        return cls(aet, host, int(port), calling_aet)

    def __str__(self) -> str:
        return f"{self.called_aet}@{self.host}:{self.port}"

    def deliver(self, objects: Sequence[bytes]) -> None:
        datasets = _datasets(objects)
        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
        for sop_class in sorted({str(dataset.SOPClassUID) for dataset in datasets}):
            ae.add_requested_context(sop_class, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
        try:
            association = ae.associate(self.host, self.port, ae_title=self.called_aet)
        except OSError as exc:
            raise DeliveryError(f"cannot reach {self} ({type(exc).__name__})") from None
        if not association.is_established:
            raise DeliveryError(f"{self} did not accept the association")
        try:
            for dataset in datasets:
                status = association.send_c_store(dataset)
                code = getattr(status, "Status", None)
                if code is None:
                    raise DeliveryError(f"{self} did not answer the C-STORE")
                if code != SUCCESS and code not in STORE_WARNINGS:
                    raise DeliveryError(f"{self} refused a result with status 0x{code:04X}")
        finally:
            association.release() if association.is_established else association.abort()


@dataclass(frozen=True)
class StowDelivery:
    """STOW-RS to a DICOMweb root (e.g. Orthanc's ``http://127.0.0.1:8042/dicom-web``)."""

    url: str

    def __str__(self) -> str:
        return self.url

    def deliver(self, objects: Sequence[bytes]) -> None:
        from dicomweb_client.api import DICOMwebClient

        try:
            response = DICOMwebClient(url=self.url).store_instances(datasets=_datasets(objects))
        except Exception as exc:  # requests' messages quote URLs only, but a type is enough
            raise DeliveryError(f"STOW-RS to {self} failed ({type(exc).__name__})") from None
        failed = len(response.get("FailedSOPSequence") or []) if response is not None else 0  # Orthanc sends it empty
        if failed:
            raise DeliveryError(f"STOW-RS to {self}: {failed} result(s) refused")


class DicomNode:
    def __init__(self, predictor: Predictor, spool: Spool, delivery, work_queue: WorkQueue | None = None, *,
                 aet: str = "PNEUMO", host: str = "127.0.0.1", port: int = 11112, retry_max_s: float = 60.0):
        self.predictor, self.spool, self.delivery = predictor, spool, delivery
        self.work_queue = work_queue or WorkQueue()
        self.aet, self.host, self.port, self.retry_max_s = aet, host, port, retry_max_s
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._server = None
        self._worker: threading.Thread | None = None

    # --- receiving ---------------------------------------------------------------------------
    def _on_echo(self, event) -> int:
        return SUCCESS

    def _on_store(self, event) -> int:
        try:
            data = event.encoded_dataset(include_meta=True)
            filing_header(read_header(data))  # a film whose results could not be filed is refused now, while its sender can act
            item = self.spool.put(data)
        except SpoolFull as exc:
            log.warning("C-STORE refused (0xA700 out of resources): %s", exc)
            return OUT_OF_RESOURCES
        except PneumoError as exc:
            log.warning("C-STORE refused (0xC000): %s", one_line(exc))
            return CANNOT_UNDERSTAND
        except Exception as exc:  # a disk error: the sender keeps the film
            log.error("C-STORE refused (0xA700): could not spool the film (%s)", type(exc).__name__)
            return OUT_OF_RESOURCES
        log.info("film %s received and spooled", item.key)
        self._wake.set()
        return SUCCESS

    def start(self) -> None:
        quiet_libraries()
        ae = AE(ae_title=self.aet)
        ae.add_supported_context(Verification)
        for sop_class in FILM_CLASSES:
            ae.add_supported_context(sop_class)
        ae.maximum_associations = 16
        handlers = [(evt.EVT_C_ECHO, self._on_echo), (evt.EVT_C_STORE, self._on_store)]
        self._server = ae.start_server((self.host, self.port), block=False, evt_handlers=handlers)
        self.port = self._server.server_address[1]
        self._worker = threading.Thread(target=self._work, name="pneumo-dicom-spool", daemon=True)
        self._worker.start()
        films = len(self.spool.items())
        log.info("listening as %s on %s:%d; results to %s%s", self.aet, self.host, self.port, self.delivery,
                 f"; {films} film(s) left in the spool from before" if films else "")

    def stop(self) -> None:
        self._stopped.set()
        self._wake.set()
        if self._server is not None:
            self._server.shutdown()
        if self._worker is not None:
            self._worker.join(timeout=TIMEOUT_S)

    # --- analysing and delivering -------------------------------------------------------------
    def analyse(self, data: bytes) -> tuple[str, dict[str, bytes]]:
        """(decision, result file name -> DICOM bytes) for one film's bytes; run on the work queue."""
        source = read_header(data)
        try:
            explanation, refusal = self.predictor.explain(data), None
        except PneumoError as exc:  # e.g. pixel data it cannot decode: the SR says why
            explanation, refusal = None, one_line(exc)
        results = build_results(source, explanation, self.predictor.contract, refusal)
        return results.prediction.decision, results.encoded()

    def _analyse(self, item: Item) -> bool:
        try:
            decision, objects = self.work_queue.call(self.analyse, item.film.read_bytes())
        except (QueueFull, DeadlineExceeded):
            return False  # the REST side is busy: the film waits in the spool
        except Exception as exc:
            log.error("film %s could not be analysed (%s); it stays in the spool", item.key, one_line(exc) if isinstance(exc, PneumoError) else type(exc).__name__)
            return False
        self.spool.put_results(item, objects)
        log.info("film %s analysed: %s", item.key, decision)
        return True

    def _deliver(self, item: Item) -> bool:
        try:
            self.delivery.deliver([path.read_bytes() for path in item.results])
        except Exception as exc:
            log.warning("results of film %s not delivered: %s", item.key, one_line(exc) if isinstance(exc, PneumoError) else type(exc).__name__)
            return False
        self.spool.remove(item)
        log.info("results of film %s delivered to %s; film removed from the spool", item.key, self.delivery)
        return True

    def process_once(self) -> tuple[int, int]:
        """One pass over the spool, oldest first: each film is analysed, then its results delivered.
        Once a delivery fails, the pass only analyses: the PACS is down, and the films wait for the
        same backoff with their results ready. Returns (films delivered, films still waiting)."""
        delivered = waiting = 0
        pacs_down = False
        for item in self.spool.items():
            if self._stopped.is_set():
                break
            if not item.analysed and not self._analyse(item):
                waiting += 1
                continue
            if not pacs_down and self._deliver(item):
                delivered += 1
            else:
                pacs_down, waiting = True, waiting + 1
        return delivered, waiting

    def _work(self) -> None:
        backoff = 1.0
        while not self._stopped.is_set():
            self._wake.clear()
            try:
                _, waiting = self.process_once()
            except Exception as exc:  # never let the spool's thread die
                log.error("spool pass failed (%s)", type(exc).__name__)
                waiting = 1
            if waiting:
                log.info("%d film(s) waiting; next try in %.0f s", waiting, backoff)
                self._stopped.wait(backoff)
                backoff = min(backoff * 2, self.retry_max_s)
            else:
                backoff = 1.0
                self._wake.wait(5.0)

"""Batch prediction for ``pneumo-predict``: inputs walked lazily, rows produced in input order,
on one process or on several (each with its own onnxruntime session and its share of the cores).

Nothing here holds more than a small window of results: a folder of any size runs in flat memory.
"""

from __future__ import annotations

import ctypes
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

from .arguments import available_cores
from .errors import PneumoError
from .predictor import Prediction, Predictor

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".dcm", ".dicom"}
COLUMNS = ("path", "prediction", "p_pneumonia", "uncertainty", "threshold", "reason", "error")
AHEAD_PER_WORKER = 4  # paths queued per worker: enough to keep each busy, few enough to stay lazy


def walk_inputs(paths: Iterable[Path], recursive: bool = False) -> Iterator[Path]:
    """Each path as given, except folders, which yield their image files in sorted order, one folder
    at a time. A path with an image suffix is an input whatever it is (a folder called ``x.jpg`` gets
    a refusal in its row); a missing path stays, to be reported in its row."""
    for path in paths:
        if path.suffix.lower() in IMAGE_SUFFIXES or not path.is_dir():
            yield path
        else:
            yield from _walk_folder(path, recursive)


def _walk_folder(folder: Path, recursive: bool) -> Iterator[Path]:
    try:
        with os.scandir(folder) as entries:
            # Names only, and only this folder's: sorting needs them, the rest of the tree does not.
            names = sorted((e.name, e.is_dir(follow_symlinks=False)) for e in entries)
    except OSError:
        return  # unreadable folder: nothing to predict in it
    for name, is_dir in names:
        if Path(name).suffix.lower() in IMAGE_SUFFIXES:
            yield folder / name  # a FIFO or a link to a device gets its refusal row, not silence
        elif is_dir and recursive:  # links to folders are not followed: no cycles
            yield from _walk_folder(folder / name, recursive)


def expand(paths: list[Path], recursive: bool) -> list[Path]:
    """The inputs as a list, for tools that need them all (export's validation images)."""
    return list(walk_inputs(paths, recursive))


def row(path: Path | str, result: Prediction | PneumoError) -> dict:
    """One row of ``COLUMNS``: ``Prediction.to_dict()`` projected onto them, the decision as ``prediction``."""
    if isinstance(result, PneumoError):
        return {"path": str(path), "prediction": "ERROR", "p_pneumonia": None, "uncertainty": None, "threshold": None, "reason": "", "error": str(result)}
    record = result.to_dict()
    return {"path": str(path), "prediction": record["decision"], **{key: record[key] for key in COLUMNS[2:6]}, "error": ""}


def predict_row(predictor: Predictor, path: Path | str) -> dict:
    return row(path, predictor.predict_batch([Path(path)])[0])


def threads_per_worker(workers: int, threads: int | None) -> int | None:
    """``--threads`` if given; else one worker keeps onnxruntime's default (all cores) and several
    share the cores, so that N workers do not run N x cores threads."""
    if threads:
        return threads
    return None if workers == 1 else max(1, available_cores() // workers)


class BatchPredictor:
    """Rows for an iterable of paths, in the order given."""

    def __init__(self, model: str | Path | None = None, workers: int = 1, threads: int | None = None, max_pixels: int | None = None,
                 patient_age: str | float | None = None):
        self.workers = workers
        self.settings = (model, threads_per_worker(workers, threads), max_pixels, patient_age)
        # Loaded here even with workers: a bad model or a bad age is refused once, before any work.
        self.predictor: Predictor | None = Predictor(model, threads=self.settings[1], patient_age=patient_age, **_max_pixels(max_pixels))

    def rows(self, paths: Iterable[Path]) -> Generator[dict, None, None]:
        if self.workers == 1 and self.predictor is not None:
            for path in paths:
                yield predict_row(self.predictor, path)
            return
        self.predictor = None  # the parent only orders rows; its session would be idle memory
        yield from self._parallel_rows(paths)

    def _pool(self) -> ProcessPoolExecutor:
        # spawn, not fork: a forked onnxruntime thread pool can deadlock; each worker loads its own session.
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(*self.settings, os.getpid()))

    def _parallel_rows(self, paths: Iterable[Path]) -> Iterator[dict]:
        pool = self._pool()
        pending: deque = deque()
        try:
            for path in paths:
                try:
                    future = pool.submit(_worker_row, str(path))
                except BrokenProcessPool:  # a worker died: the rows in flight say so; carry on with fresh workers
                    pool.shutdown(wait=False, cancel_futures=True)
                    pool = self._pool()
                    future = pool.submit(_worker_row, str(path))
                pending.append((path, future))
                if len(pending) >= self.workers * AHEAD_PER_WORKER:
                    yield _result(*pending.popleft())
            while pending:
                yield _result(*pending.popleft())
        finally:
            # On an interruption, queued paths are dropped; the few running finish within milliseconds.
            pool.shutdown(wait=False, cancel_futures=True)


def _max_pixels(max_pixels: int | None) -> dict:
    return {} if max_pixels is None else {"max_pixels": max_pixels}


def _result(path: Path, future) -> dict:
    try:
        return future.result()
    except BrokenProcessPool:  # a worker was killed (out of memory, a signal): its row says so
        return row(path, PneumoError("a worker process died while processing this input"))


_worker_predictor: Predictor | None = None


def _start_worker(model, threads, max_pixels, patient_age, parent: int) -> None:
    global _worker_predictor
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle: it stops cleanly
    _die_with_parent(parent)
    _worker_predictor = Predictor(model, threads=threads, patient_age=patient_age, **_max_pixels(max_pixels))


def _die_with_parent(parent: int) -> None:
    """A worker holds its own end of the task queue, so it would wait forever for a parent killed with
    SIGKILL: on Linux, the kernel sends it SIGTERM when the parent dies (prctl PR_SET_PDEATHSIG)."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent:  # the parent died before the request took effect
        os._exit(1)


def _worker_row(path: str) -> dict:
    if _worker_predictor is None:
        raise RuntimeError("a worker predicts only after _start_worker")
    return predict_row(_worker_predictor, path)

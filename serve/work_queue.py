"""``WorkQueue``: the one bounded queue in front of the predictions, shared by the REST service and
the DICOM node.

A fixed pool of ``workers`` threads computes; up to ``depth`` more jobs wait, first come first
served. A job that waits longer than ``deadline_s`` is dropped before it runs (its caller gets
``DeadlineExceeded``), so a client that has given up costs no CPU. Only a full queue refuses, at
once, with ``QueueFull`` (the REST service answers it 503 with ``Retry-After``): a burst is queued,
not turned away, and memory stays bounded because a refused request is refused before its body is read.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

from pneumo_runtime.arguments import available_cores
from pneumo_runtime.errors import PneumoError

DEFAULT_DEPTH = 64  # waiting places: 16 clients x 4 films each, or a small study burst from a PACS router
DEFAULT_DEADLINE_S = 120.0  # a router's association timeout is typically 30-120 s
T = TypeVar("T")


class QueueFull(PneumoError):
    """Every waiting place is taken; retry after ``retry_after_s``."""

    def __init__(self, capacity: int, retry_after_s: int):
        super().__init__(f"busy: {capacity} requests are already queued or running; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class DeadlineExceeded(PneumoError):
    def __init__(self, deadline_s: float):
        super().__init__(f"timed out: the request waited more than {deadline_s:g} s in the queue")


class WorkQueue:
    """``workers`` computing, ``depth`` waiting, each wait bounded by ``deadline_s``."""

    def __init__(self, workers: int | None = None, depth: int = DEFAULT_DEPTH, deadline_s: float = DEFAULT_DEADLINE_S):
        if (workers is not None and workers < 1) or depth < 0 or deadline_s <= 0:
            raise ValueError("workers >= 1, depth >= 0 and deadline_s > 0 are required")
        self.workers = workers or available_cores()
        self.depth, self.deadline_s = depth, deadline_s
        self.capacity = self.workers + self.depth
        self._admitted = 0
        self._lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="pneumo-worker")
        self._seconds_per_job = 0.2  # running mean of a job's time, for Retry-After; a first guess

    @property
    def admitted(self) -> int:
        """Jobs running or waiting."""
        return self._admitted

    def retry_after_s(self) -> int:
        """Seconds until a place is likely free: a running job's mean time, at least 1."""
        return max(1, round(self._seconds_per_job))

    @contextmanager
    def place(self):
        """Hold one place from before a request's body is read until its answer: raises
        ``QueueFull`` at once when none is free."""
        with self._lock:
            if self._admitted >= self.capacity:
                raise QueueFull(self.capacity, self.retry_after_s())
            self._admitted += 1
        try:
            yield
        finally:
            with self._lock:
                self._admitted -= 1

    def _timed(self, function: Callable[..., T], enqueued: float, *args: Any) -> T:
        started = time.monotonic()
        if started - enqueued > self.deadline_s:
            raise DeadlineExceeded(self.deadline_s)
        try:
            return function(*args)
        finally:
            self._seconds_per_job = 0.9 * self._seconds_per_job + 0.1 * (time.monotonic() - started)

    def submit(self, function: Callable[..., T], *args: Any) -> Future[T]:
        """Run ``function(*args)`` on a worker; the caller must hold a ``place()``."""
        return self._executor.submit(self._timed, function, time.monotonic(), *args)

    def call(self, function: Callable[..., T], *args: Any) -> T:
        """Take a place, run, wait for the answer (from a thread: the DICOM node)."""
        with self.place():
            return self.submit(function, *args).result()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """``submit`` awaited from the event loop (the REST service); the caller holds a place."""
        return await asyncio.wrap_future(self.submit(function, *args))

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

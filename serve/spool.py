"""``Spool``: received films on disk until their results are delivered.

Each film is one folder, ``<arrival ns>-<random hex>/``: no name in the spool comes from the
film's header, so nothing there identifies a patient. Every step is a rename, atomic on one file
system, so a node killed at any instant finds on restart either nothing (a C-STORE that was never
acknowledged: its ``.part`` folder is swept away) or a whole film, with or without its whole results:

    .part-<id>/film.dcm   written and fsynced while the C-STORE is open
    <id>/film.dcm         renamed into place; only then is the C-STORE acknowledged
    <id>/results/*.dcm    the SR and secondary capture, written as results.part/ then renamed
    (removed)             once the results are delivered: a film stays only while its results are outstanding

The spool is bounded by a number of films and a number of bytes; a full spool refuses (the node
answers the C-STORE "out of resources") rather than accept a film it might lose.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from pneumo_runtime.errors import PneumoError

FILM = "film.dcm"
RESULTS = "results"
PART = ".part-"


class SpoolFull(PneumoError):
    pass


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


@dataclass(frozen=True)
class Item:
    """One spooled film; ``key`` is the folder's name (arrival order, then random)."""

    folder: Path

    @property
    def key(self) -> str:
        return self.folder.name

    @property
    def film(self) -> Path:
        return self.folder / FILM

    @property
    def results(self) -> list[Path]:
        folder = self.folder / RESULTS
        return sorted(folder.glob("*.dcm")) if folder.is_dir() else []

    @property
    def analysed(self) -> bool:
        return (self.folder / RESULTS).is_dir()


class Spool:
    def __init__(self, root: str | Path, max_films: int = 1000, max_bytes: int = 4 * 2**30):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_films, self.max_bytes = max_films, max_bytes
        self._lock = threading.Lock()  # C-STORE handlers run on one thread per association
        for stale in self.root.glob(PART + "*"):  # never acknowledged: the sender still holds the film
            shutil.rmtree(stale, ignore_errors=True)
        for item in self.items():
            shutil.rmtree(item.folder / (RESULTS + ".part"), ignore_errors=True)

    def items(self) -> list[Item]:
        """Spooled films, oldest first."""
        return [Item(path) for path in sorted(self.root.iterdir()) if path.is_dir() and not path.name.startswith(PART) and (path / FILM).is_file()]

    def usage(self) -> tuple[int, int]:
        """(films, bytes) held."""
        films = self.items()
        return len(films), sum(file.stat().st_size for item in films for file in item.folder.rglob("*") if file.is_file())

    def put(self, data: bytes) -> Item:
        """Store one film durably; raises ``SpoolFull`` when it would not fit."""
        with self._lock:
            films, used = self.usage()
            if films >= self.max_films or used + len(data) > self.max_bytes:
                raise SpoolFull(f"spool full ({films} films, {used / 2**20:.0f} MiB): the film was refused, the sender keeps it")
            key = f"{time.time_ns():020d}-{secrets.token_hex(4)}"
            part = self.root / (PART + key)
            part.mkdir()
            _fsync_write(part / FILM, data)
            final = self.root / key
            part.rename(final)
            _fsync_dir(self.root)
            return Item(final)

    def put_results(self, item: Item, objects: dict[str, bytes]) -> None:
        """The results of ``item`` (file name -> DICOM bytes), all or nothing."""
        part = item.folder / (RESULTS + ".part")
        shutil.rmtree(part, ignore_errors=True)
        part.mkdir()
        for name, data in objects.items():
            _fsync_write(part / name, data)
        part.rename(item.folder / RESULTS)
        _fsync_dir(item.folder)

    def remove(self, item: Item) -> None:
        """Results delivered: the film and its results leave the spool."""
        shutil.rmtree(item.folder, ignore_errors=True)

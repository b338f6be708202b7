"""Finding labelled images: the Kermany folder layout or a CSV, for the binary or 3-class task.

Patient identity comes from Kermany file names (see ``patient_id``) or from a CSV ``patient``
column. It drives the validation split, so that no patient's images sit on both sides.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from pneumo_runtime.batch import IMAGE_SUFFIXES  # what the runtime reads, so training reads the same
from pneumo_runtime.errors import PneumoError

TASK_CLASSES: dict[str, tuple[str, ...]] = {
    "binary": ("NORMAL", "PNEUMONIA"),
    "three_class": ("NORMAL", "BACTERIAL", "VIRAL"),
}

_PNEUMONIA_NAME = re.compile(r"^(person\d+)_(bacteria|virus)_", re.IGNORECASE)
_NORMAL_NAME = re.compile(r"^((?:NORMAL2-)?IM-\d+)-", re.IGNORECASE)


class DataError(PneumoError, ValueError):
    """The data cannot be used: missing folder, no images, unknown label."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: int
    patient: str


def patient_id(path: Path) -> str:
    """Kermany names: ``personNNN_...`` (pneumonia) or ``[NORMAL2-]IM-XXXX-...`` (normal).

    A name that fits neither pattern is its own patient, the safe choice: it cannot leak, it can
    only make the split a little less grouped.
    """
    name = path.name
    match = _PNEUMONIA_NAME.match(name) or _NORMAL_NAME.match(name)
    return match.group(1).upper() if match else f"file:{path.stem}"


def kermany_label(folder: str, filename: str, task: str) -> int:
    """Label from the class folder and, for three classes, from the file name."""
    folder = folder.upper()
    if folder == "NORMAL":
        return 0
    if folder != "PNEUMONIA":
        raise DataError(f"unexpected class folder {folder!r}")
    if task == "binary":
        return 1
    match = _PNEUMONIA_NAME.match(filename)
    if not match:
        raise DataError(f"cannot tell bacterial from viral for {filename!r}")
    return 1 if match.group(2).lower() == "bacteria" else 2


def discover_kermany(root: str | Path, split: str, task: str) -> list[Sample]:
    split_dir = Path(root) / split
    if not split_dir.is_dir():
        raise DataError(f"data folder not found: {split_dir}")
    samples: list[Sample] = []
    for class_dir in sorted(p for p in split_dir.iterdir() if p.is_dir() and p.name.upper() in ("NORMAL", "PNEUMONIA")):
        for path in sorted(class_dir.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                label = kermany_label(class_dir.name, path.name, task)
            except DataError:
                continue  # a pneumonia image without a cause cannot enter the 3-class task
            samples.append(Sample(path, label, patient_id(path)))
    if not samples:
        raise DataError(f"no images under {split_dir}/{{NORMAL,PNEUMONIA}}")
    return samples


def read_csv(csv_path: str | Path, task: str) -> list[Sample]:
    """``path,label[,patient]``; relative paths are relative to the CSV; labels by name or index."""
    csv_path = Path(csv_path)
    classes = TASK_CLASSES[task]
    try:
        with csv_path.open(newline="") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise DataError(f"cannot read {csv_path}: {exc.strerror or exc}") from None
    if not rows or not {"path", "label"} <= set(rows[0]):
        raise DataError(f"{csv_path} needs a header with at least 'path,label' and one row")
    samples = []
    for line, row in enumerate(rows, start=2):
        path = Path(row["path"])
        path = path if path.is_absolute() else csv_path.parent / path
        samples.append(Sample(path, _parse_label(row["label"], classes, csv_path, line), row.get("patient") or patient_id(path)))
    return samples


def _parse_label(raw: str, classes: tuple[str, ...], source: Path, line: int) -> int:
    raw = raw.strip()
    if raw.isdigit() and int(raw) < len(classes):
        return int(raw)
    if raw.upper() in classes:
        return classes.index(raw.upper())
    raise DataError(f"{source}:{line}: label {raw!r} is not one of {', '.join(classes)}")


def load_samples(source: str | Path, split: str, task: str) -> list[Sample]:
    """A CSV file, or a Kermany-style root folder with ``split`` below it."""
    source = Path(source)
    if source.suffix.lower() == ".csv":
        return read_csv(source, task)
    return discover_kermany(source, split, task)


def class_counts(samples: list[Sample], task: str) -> dict[str, int]:
    counts = Counter(s.label for s in samples)
    return {name: counts.get(index, 0) for index, name in enumerate(TASK_CLASSES[task])}

"""Rows written as they come: every row is complete and flushed before the next input is read, so an
interrupted run leaves every finished row on disk, and a later run can resume from that file.

Formats: ``csv`` and ``jsonl`` (one row per line: streamable by nature), ``json`` (an array, one row
per line: closed when the run ends, readable back even if it never closed), ``table`` (for people).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import IO

from .batch import COLUMNS
from .notices import DISCLAIMER

FORMATS = ("table", "csv", "jsonl", "json")
RESUMABLE = ("csv", "jsonl", "json")
SUFFIX_FORMATS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "json"}
TABLE_COLUMNS = (("prediction", 10), ("p_pneumonia", 11), ("uncertainty", 11), ("threshold", 9), ("path", 0), ("error", 0))  # fixed widths first: rows stream


def format_for(output: Path | None) -> str:
    """The format an output file's suffix asks for; ``table`` for the terminal."""
    return SUFFIX_FORMATS.get(output.suffix.lower(), "table") if output else "table"


class RowWriter:
    """Writes rows to ``stream`` one by one, each flushed at once. ``rows_before``: rows already in
    the file (a resumed run), so that a header or an array opening is not written twice."""

    def __init__(self, stream: IO[str], fmt: str, rows_before: int = 0):
        self.stream, self.fmt, self.rows_before, self.count = stream, fmt, rows_before, 0

    def write(self, row: dict) -> None:
        self.stream.write(self._opening() + self._encode(row))
        self.count += 1
        self.stream.flush()

    def close(self) -> None:
        """End a JSON array or a table; the rows themselves are already on disk."""
        if self.fmt == "json":
            self.stream.write(("" if self.count + self.rows_before else "[") + "\n]\n")
        elif self.fmt == "table" and self.count:
            self.stream.write(f"\n{DISCLAIMER}\n")
        self.stream.flush()

    def _opening(self) -> str:
        first = self.count == 0 and self.rows_before == 0
        if self.fmt == "csv":
            return ",".join(COLUMNS) + "\n" if first else ""
        if self.fmt == "json":
            return "[\n" if first else ",\n"
        if self.fmt == "table":
            return _table_line({name: name for name, _ in TABLE_COLUMNS}) + "\n" if self.count == 0 else ""
        return ""

    def _encode(self, row: dict) -> str:
        if self.fmt == "csv":
            buffer = io.StringIO()
            csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n").writerow({k: "" if v is None else v for k, v in row.items()})
            return buffer.getvalue()
        if self.fmt == "jsonl":
            return json.dumps(row) + "\n"
        if self.fmt == "json":
            return json.dumps(row)  # the separator comes with the next row, or the closing bracket
        return _table_line({k: _cell(row[k]) for k, _ in TABLE_COLUMNS}) + "\n"


def _cell(value) -> str:
    return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _table_line(cells: dict) -> str:
    return "  ".join(cells[name].ljust(width) for name, width in TABLE_COLUMNS).rstrip()


def resume(output: Path, fmt: str) -> tuple[set[str], int]:
    """Paths that already have a row in ``output``, and how many rows it holds. The file is cut back
    to its last complete row (a run killed mid-write may leave half a line) and left ready to append."""
    if fmt not in RESUMABLE:
        raise ValueError(f"resuming needs --format {', '.join(RESUMABLE)}")
    if not output.exists():
        return set(), 0
    text = output.read_text(encoding="utf-8")
    rows, keep = _complete_rows(text, fmt)
    if not rows and text.strip() not in ("", "[", "[]", "[\n]", ",".join(COLUMNS)):
        raise ValueError(f"{output} holds no {fmt} rows of pneumo-predict; it was left as it is")
    if fmt == "json":
        keep = "[\n" + ",\n".join(json.dumps(r) for r in rows) if rows else ""  # reopened: no closing bracket
    elif fmt == "csv" and not rows:
        keep = ""  # header rewritten with the first row
    output.write_text(keep, encoding="utf-8")
    return {r["path"] for r in rows}, len(rows)


def _complete_rows(text: str, fmt: str) -> tuple[list[dict], str]:
    """The rows that were written whole, and the text that holds exactly them."""
    rows: list[dict] = []
    kept = 0
    lines = text.splitlines(keepends=True)
    if fmt == "csv":
        if not lines or lines[0].rstrip("\n").split(",") != list(COLUMNS):
            return [], ""
        kept = len(lines[0])
        for line in lines[1:]:
            if not line.endswith("\n"):
                break
            values = next(csv.reader([line]), [])
            if len(values) != len(COLUMNS):
                break  # a path with a line break is quoted over two lines: not worth resuming across
            rows.append(dict(zip(COLUMNS, values, strict=False)))
            kept += len(line)
        return rows, text[:kept]
    for line in lines:
        body = line.strip().rstrip(",")
        if fmt == "json" and body in ("[", "]", ""):
            kept += len(line)
            continue
        if fmt == "jsonl" and not line.endswith("\n"):
            break
        try:
            row = json.loads(body)
        except json.JSONDecodeError:
            break
        if not isinstance(row, dict) or "path" not in row:
            break
        rows.append(row)
        kept += len(line)
    return rows, text[:kept]

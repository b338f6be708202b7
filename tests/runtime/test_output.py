"""Row writers and resuming from a file a killed run left behind (half a line at the end)."""

import csv
import io
import json

import pytest

from pneumo_runtime.batch import COLUMNS
from pneumo_runtime.output import RowWriter, resume


def rows(n: int) -> list[dict]:
    return [{"path": f"img{i}.jpeg", "prediction": "NORMAL", "p_pneumonia": 0.1 * i, "uncertainty": 0.2, "threshold": 0.5,
             "reason": "a, \"quoted\" reason", "error": ""} for i in range(n)]


def written(fmt: str, items: list[dict], close: bool = True) -> str:
    buffer = io.StringIO()
    writer = RowWriter(buffer, fmt)
    for item in items:
        writer.write(item)
    if close:
        writer.close()
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_a_half_written_last_row_is_cut_and_the_rest_resumes(tmp_path, fmt):
    text = written(fmt, rows(3), close=False)
    output = tmp_path / f"rows.{fmt}"
    separator = ",\n" if fmt == "json" else ""  # an array's next row starts with its separator
    output.write_text(text + separator + text.splitlines()[-1][:7])  # a fourth row cut mid-write
    done, count = resume(output, fmt)
    assert done == {"img0.jpeg", "img1.jpeg", "img2.jpeg"} and count == 3
    with output.open("a") as handle:
        writer = RowWriter(handle, fmt, rows_before=count)
        for item in rows(5)[3:]:
            writer.write(item)
        writer.close()
    text = output.read_text()
    parsed = (list(csv.DictReader(io.StringIO(text))) if fmt == "csv" else json.loads(text) if fmt == "json"
              else [json.loads(line) for line in text.splitlines()])
    assert [r["path"] for r in parsed] == [f"img{i}.jpeg" for i in range(5)]


def test_a_closed_json_array_and_an_empty_run_parse():
    assert [r["path"] for r in json.loads(written("json", rows(2)))] == ["img0.jpeg", "img1.jpeg"]
    assert json.loads(written("json", [])) == []
    assert written("csv", rows(1)).splitlines()[0] == ",".join(COLUMNS)


def test_a_foreign_file_is_not_resumed(tmp_path):
    output = tmp_path / "rows.jsonl"
    output.write_text('{"name": "someone"}\n')
    with pytest.raises(ValueError, match="left as it is"):
        resume(output, "jsonl")
    assert output.read_text() == '{"name": "someone"}\n'

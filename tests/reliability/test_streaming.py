"""``pneumo-predict`` loses nothing: rows are on disk as soon as they are known, an interrupted run
(SIGTERM, Ctrl-C, SIGKILL) keeps every finished row, and ``--skip-existing`` resumes without losing
or duplicating one. Each test runs the real command in a subprocess and signals it mid-run."""

from __future__ import annotations

import csv
import io
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
from cli_process import cli_environment, command, run_cli

N_INPUTS = 120


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fixture_images) -> Path:
    """Real films under distinct names (links: no copies), plus one broken file in the middle."""
    root = tmp_path_factory.mktemp("stream")
    for index in range(N_INPUTS - 1):
        (root / f"{index:04d}.jpeg").symlink_to(fixture_images[index % len(fixture_images)])
    (root / "0050b.jpeg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    return root


def inputs(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.iterdir())


def read_rows(path: Path, fmt: str) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text)))
    if fmt == "json":
        return json.loads(text)
    return [json.loads(line) for line in text.splitlines()]


def start_and_interrupt(folder: Path, output: Path, fmt: str, signum: int, workers: int = 1, after_rows: int = 5) -> subprocess.CompletedProcess:
    process = subprocess.Popen([*command(), str(folder), "--output", str(output), "--format", fmt, "--threads", "1", "--workers", str(workers)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_environment())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if output.exists() and output.read_text(encoding="utf-8").count("\n") > after_rows:
            break
        time.sleep(0.02)
    assert process.poll() is None, "the run ended before it could be interrupted"
    process.send_signal(signum)
    out, err = process.communicate(timeout=60)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def assert_prefix_in_order(rows: list[dict], folder: Path) -> None:
    paths = [r["path"] for r in rows]
    assert paths == inputs(folder)[: len(paths)], "rows out of input order, duplicated or missing"


@pytest.mark.slow
@pytest.mark.parametrize("fmt, signum, workers", [("csv", signal.SIGTERM, 1), ("jsonl", signal.SIGINT, 1), ("json", signal.SIGTERM, 2)])
def test_an_interrupted_run_keeps_every_finished_row_and_resumes(folder, tmp_path, fmt, signum, workers):
    output = tmp_path / f"rows.{fmt}"
    stopped = start_and_interrupt(folder, output, fmt, signum, workers)
    assert stopped.returncode == 128 + signum and "Traceback" not in stopped.stderr, stopped.stderr[-2000:]
    assert "interrupted after" in stopped.stderr and "--skip-existing" in stopped.stderr
    kept = read_rows(output, fmt)  # a JSON array is closed on the way out: the file parses as it is
    assert 5 <= len(kept) < N_INPUTS
    assert_prefix_in_order(kept, folder)

    resumed = run_cli(folder, "--skip-existing", output, "--threads", "1", "--workers", str(workers))
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr  # 1: the broken file's row
    rows = read_rows(output, fmt)
    assert len(rows) == N_INPUTS
    assert_prefix_in_order(rows, folder)
    assert rows[: len(kept)] == kept  # the first run's rows, untouched
    assert [r["path"] for r in rows if r["prediction"] == "ERROR"] == [str(folder / "0050b.jpeg")]


def surviving_prefix(text: str, fmt: str) -> tuple[str, int]:
    """What a resume must keep of a killed run's file, byte for byte, and how many rows that is:
    everything up to the end of the last row written whole."""
    if fmt == "csv":
        kept = text[: text.rfind("\n") + 1]
        return kept, kept.count("\n") - 1  # less the header
    end, rows, offset = 0, 0, 0
    for line in text.split("\n"):
        body = line.rstrip(",")
        if body != "[":
            try:
                json.loads(body)
            except json.JSONDecodeError:
                break
            rows += 1
        end, offset = offset + len(body), offset + len(line) + 1
    return text[:end], rows


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_a_killed_run_keeps_its_rows_and_resumes(folder, tmp_path, fmt):
    """SIGKILL: no chance to close anything. Rows are whole lines, so at most a half line is lost;
    the resume keeps every whole row as it was written, and computes only the others."""
    output = tmp_path / f"rows.{fmt}"
    killed = start_and_interrupt(folder, output, fmt, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    # A kill in the middle of a write leaves half a row: add one, as the kill rarely lands there itself.
    with output.open("a", encoding="utf-8") as handle:
        handle.write(',\n{"path": "' + str(folder) if fmt == "json" else str(folder / "0119.jpeg") + ",PNEU")
    kept, surviving = surviving_prefix(output.read_text(encoding="utf-8"), fmt)
    assert surviving >= 5
    resumed = run_cli(folder, "--skip-existing", output, "--threads", "1")
    assert resumed.returncode == 1 and "Traceback" not in resumed.stderr, resumed.stderr[-2000:]
    assert output.read_text(encoding="utf-8").startswith(kept), "a row the killed run finished was rewritten or lost"
    assert f"{surviving} inputs already had a row in {output}; {N_INPUTS - surviving} new rows" in resumed.stderr
    rows = read_rows(output, fmt)  # the resumed JSON array is whole again
    assert len(rows) == N_INPUTS
    assert_prefix_in_order(rows, folder)


def test_rows_reach_the_file_before_the_run_ends(folder, tmp_path):
    output = tmp_path / "rows.jsonl"
    stopped = start_and_interrupt(folder, output, "jsonl", signal.SIGTERM, after_rows=2)
    assert stopped.returncode == 128 + signal.SIGTERM
    assert_prefix_in_order(read_rows(output, "jsonl"), folder)


def test_progress_goes_to_stderr_never_among_the_rows(fixture_images):
    done = run_cli(*fixture_images[:6], "--format", "csv", "--threads", "1")
    assert done.returncode == 0
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert len(rows) == 6 and all(r["prediction"] in ("NORMAL", "PNEUMONIA", "REFER", "REJECTED") for r in rows)
    assert "6 rows (0 errors)" in done.stderr and "images/s" in done.stderr
    assert not any(str(path.name) in done.stderr for path in fixture_images[:6])  # no file names in progress


def test_resume_refuses_a_table_and_a_mismatched_output(tmp_path, fixture_images):
    assert run_cli(fixture_images[0], "--skip-existing", tmp_path / "rows.txt").returncode == 2
    done = run_cli(fixture_images[0], "--skip-existing", tmp_path / "a.csv", "--output", tmp_path / "b.csv")
    assert done.returncode == 2 and "different files" in done.stderr


def test_resume_of_a_complete_file_adds_nothing(tmp_path, fixture_images):
    output = tmp_path / "rows.csv"
    assert run_cli(*fixture_images[:3], "--output", output, "--threads", "1").returncode == 0
    before = output.read_text()
    done = run_cli(*fixture_images[:3], "--skip-existing", output, "--threads", "1")
    assert done.returncode == 0 and output.read_text() == before
    assert "3 inputs already had a row" in done.stderr


def test_resume_leaves_a_file_that_is_not_ours_untouched(tmp_path, fixture_images):
    output = tmp_path / "patients.csv"
    output.write_text("name,ward\nA,3\n")
    done = run_cli(fixture_images[0], "--skip-existing", output)
    assert done.returncode == 2 and "left as it is" in done.stderr and output.read_text() == "name,ward\nA,3\n"


@pytest.mark.slow
def test_workers_do_not_outlive_a_killed_run(folder, tmp_path):
    output = tmp_path / "rows.csv"
    process = subprocess.Popen([*command(), str(folder), "--output", str(output), "--workers", "2", "--threads", "1"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=cli_environment())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None and not (output.exists() and output.read_text().count("\n") > 3):
        time.sleep(0.05)
    children = Path(f"/proc/{process.pid}/task/{process.pid}/children").read_text().split()
    assert len(children) >= 2 and process.poll() is None
    process.kill()
    process.wait(timeout=30)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{child}").exists() and "Z" not in process_state(child) for child in children):
        time.sleep(0.2)
    assert not [c for c in children if Path(f"/proc/{c}").exists() and "Z" not in process_state(c)], "orphaned workers"


def process_state(pid: str) -> str:
    try:
        return next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("State:"))
    except (OSError, StopIteration):
        return "Z"

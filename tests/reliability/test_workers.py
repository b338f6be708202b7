"""``--workers N``: several processes, rows in input order, results identical to one worker."""

from __future__ import annotations

import pytest
from cli_process import run_cli

from pneumo_runtime.batch import threads_per_worker


@pytest.mark.slow
def test_two_workers_give_the_rows_of_one_in_the_same_order(tmp_path, fixture_images, fullres_images):
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 broken")
    # Mixed sizes, so that workers finish out of order; a broken file in the middle.
    files = [*fixture_images, broken, *fullres_images, *reversed(fixture_images)]
    one = run_cli(*files, "--format", "csv", "--workers", "1", "--threads", "1")
    two = run_cli(*files, "--format", "csv", "--workers", "2", "--threads", "1")
    assert one.returncode == two.returncode == 1 and "Traceback" not in two.stderr, two.stderr[-2000:]
    assert two.stdout == one.stdout  # byte for byte: same rows, same order, same numbers
    assert two.stdout.count("\n") == len(files) + 1


def test_workers_share_the_cores_unless_threads_are_given(monkeypatch):
    monkeypatch.setattr("pneumo_runtime.batch.available_cores", lambda: 8)
    assert threads_per_worker(1, None) is None  # onnxruntime's default: every core
    assert threads_per_worker(2, None) == 4 and threads_per_worker(16, None) == 1
    assert threads_per_worker(2, 3) == 3


def test_a_bad_worker_count_is_a_usage_error(fixture_images):
    done = run_cli(fixture_images[0], "--workers", "0")
    assert done.returncode == 2 and "at least 1" in done.stderr

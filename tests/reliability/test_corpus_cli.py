"""Every corpus input through ``pneumo-predict`` in one batch: no traceback, exit code 1 (some rows
are errors), one row per input in input order, each as written down."""

from __future__ import annotations

import json

import pytest
from cli_process import run_cli
from corpus import NOT_CONFIDENT
from expectations import check


@pytest.fixture(scope="module")
def batch(corpus):
    done = run_cli(*[case.path for case in corpus], "--format", "jsonl", "--threads", "1")
    return done, [json.loads(line) for line in done.stdout.splitlines()]


def test_the_batch_finishes_with_every_row_and_no_traceback(batch, corpus):
    done, rows = batch
    assert "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.returncode == 1  # some rows are errors; nothing crashed
    assert [r["path"] for r in rows] == [str(case.path) for case in corpus]


def test_every_row_is_as_written_down(batch, corpus, source_decision):
    for case, row in zip(corpus, batch[1], strict=True):
        if case.expect == NOT_CONFIDENT:
            continue  # its own test below
        if row["prediction"] == "ERROR":
            check(case, None, row["error"], source_decision)
        else:
            check(case, row["prediction"], row["reason"], source_decision)


def test_inverted_film_row_is_never_a_confident_answer(batch, corpus, source_decision):
    """Needs the input guard's inverted-film check (pneumo_runtime/guard.py)."""
    for case, row in zip(corpus, batch[1], strict=True):
        if case.expect == NOT_CONFIDENT:
            check(case, row["prediction"], row["reason"], source_decision)


def test_a_folder_walk_reaches_the_special_files_and_refuses_them(corpus):
    """Given the corpus folder itself: the FIFO, the /dev/zero link and the x.jpg folder get rows too."""
    folder = corpus[0].path.parent
    done = run_cli(folder, "--format", "jsonl", "--threads", "1")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    rows = {json.loads(line)["path"]: json.loads(line) for line in done.stdout.splitlines()}
    assert list(rows) == sorted(rows)
    for special in ("endless.jpeg", "pipe.jpeg", "x.jpg"):
        assert "not an image file" in rows[str(folder / special)]["error"]
    assert str(folder / "palette.gif") not in rows  # not an image suffix the runtime reads: not listed

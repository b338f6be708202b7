"""Every uploadable corpus input through the demo's ``/predict`` API, as a script calls it: an answer
or a one-line message for each, and the server keeps serving. (A FIFO, a device or a folder cannot
be uploaded: a browser sends bytes; those cases are the library's and the CLI's.)"""

from __future__ import annotations

import socket
from dataclasses import replace

import pytest
from corpus import NOT_CONFIDENT
from expectations import check

gradio_client = pytest.importorskip("gradio_client")
pytestmark = pytest.mark.slow  # a demo server and ~35 requests


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def client():
    from pneumo.demo.app import build_app

    app = build_app()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size="25mb", run_history=False)
    yield gradio_client.Client(f"http://127.0.0.1:{port}/", verbose=False)
    app.close()


def ask(client, case) -> tuple[str | None, str]:
    """(decision, reason) for an answer; (None, message) for a refusal."""
    try:
        _, _, details = client.predict(gradio_client.handle_file(str(case.path)), api_name="/predict")
    except gradio_client.exceptions.AppError as error:
        return None, str(error)
    return details["decision"], details.get("reason", "")


def test_every_upload_is_answered_as_written_down(client, corpus, source_decision):
    for case in corpus:
        if case.demo and case.expect != NOT_CONFIDENT:
            decision, message = ask(client, case)
            check(replace(case, reason=case.demo_reason or case.reason), decision, message, source_decision)
    decision, _ = ask(client, corpus[0])  # still serving after all of that
    assert decision == source_decision


def test_inverted_film_upload_is_never_a_confident_answer(client, corpus, source_decision):
    """Needs the input guard's inverted-film check (pneumo_runtime/guard.py)."""
    for case in corpus:
        if case.demo and case.expect == NOT_CONFIDENT:
            check(case, *ask(client, case), source_decision)

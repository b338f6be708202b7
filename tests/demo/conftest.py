"""A demo server on loopback (random free port) for the demo's API and browser tests."""

from __future__ import annotations

import pytest

from pneumo.demo.demo_cli import MAX_FILE_SIZE

from ..conftest import ARTIFACTS, REPO, free_port  # noqa: F401  (the demo's tests import them from here)


@pytest.fixture(scope="session")
def demo_url():
    """The shipped default model behind the real app, as ``pneumo-demo`` serves it (runtime CAM)."""
    from pneumo.demo.app import build_app

    app = build_app()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size=MAX_FILE_SIZE, run_history=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()

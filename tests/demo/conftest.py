"""A demo server on loopback (random free port) for the API and browser tests."""

from __future__ import annotations

import socket
from pathlib import Path

import numpy as np
import pytest

from pneumo.demo.cli import MAX_FILE_SIZE

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="session")
def example_xrays() -> list[Path]:
    files = sorted((REPO / "examples").glob("*.jpeg"))
    assert files, "examples/*.jpeg missing"
    return files


@pytest.fixture(scope="session")
def colour_photo(tmp_path_factory) -> Path:
    """Not an X-ray: a saturated colour gradient, square like a chest film so only colour gives it away."""
    import cv2

    ramp = np.linspace(0, 255, 256, dtype=np.uint8)
    image = np.stack([np.tile(ramp, (256, 1)), np.tile(ramp[:, None], (1, 256)), np.full((256, 256), 200, np.uint8)], axis=2)
    path = tmp_path_factory.mktemp("photo") / "photo.png"
    cv2.imwrite(str(path), image)
    return path


@pytest.fixture(scope="session")
def demo_url():
    """The shipped default model behind the real app, as ``pneumo-demo`` serves it (runtime CAM)."""
    from pneumo.demo.app import build_app

    app = build_app()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, max_file_size=MAX_FILE_SIZE, run_history=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()

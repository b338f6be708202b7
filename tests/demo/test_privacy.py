"""The demo's guards: loopback and no share link by default, a size cap on uploads, auth on the API too."""

from __future__ import annotations

import httpx
import pytest
from gradio_client import Client, handle_file

from pneumo.demo import demo_cli as cli
from pneumo.demo.uploads import gradio_cache_root

from .conftest import free_port

CREDENTIALS = ("ann", "long-test-secret")


class LaunchRecorder:
    """Stands in for the Gradio app: records what ``pneumo-demo`` would launch with."""

    def __init__(self):
        self.kwargs = None

    def launch(self, **kwargs):
        self.kwargs = kwargs


def launched_with(monkeypatch, argv: list[str]) -> dict:
    import pneumo.demo.app as app_module

    recorder = LaunchRecorder()
    monkeypatch.setattr(app_module, "build_app", lambda **_: recorder)
    assert cli.main(argv) == 0
    return recorder.kwargs


def test_loopback_and_no_share_link_unless_asked(monkeypatch, capsys):
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SHARE", cli.AUTH_ENV):
        monkeypatch.delenv(name, raising=False)
    default = launched_with(monkeypatch, ["--explain", "cam"])
    assert default["server_name"] == "127.0.0.1" and default["share"] is False and default["auth"] is None
    assert default["max_file_size"] == cli.MAX_FILE_SIZE
    asked = launched_with(monkeypatch, ["--explain", "cam", "--share"])
    assert asked["share"] is True and "PUBLIC link" in capsys.readouterr().err


def test_a_100_mb_upload_is_refused_with_a_message(demo_url, tmp_path):
    big = tmp_path / "huge.dcm"
    with big.open("wb") as handle:  # sparse: 100 MB on the wire, almost nothing on disk
        handle.truncate(100 * 1024 * 1024)
    before = {p for p in gradio_cache_root().rglob("*") if p.is_file()}
    with big.open("rb") as handle:
        answer = httpx.post(f"{demo_url}gradio_api/upload", files={"files": ("huge.dcm", handle)}, timeout=120)
    assert answer.status_code == 413
    assert "maximum allowed size" in answer.text
    assert {p for p in gradio_cache_root().rglob("*") if p.is_file()} <= before  # no partial upload left behind


@pytest.fixture(scope="module")
def guarded_url():
    from pneumo.demo.app import build_app

    app = build_app()
    port = free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, auth=CREDENTIALS,
               max_file_size=cli.MAX_FILE_SIZE, run_history=False)
    yield f"http://127.0.0.1:{port}/"
    app.close()


def test_with_auth_the_api_refuses_requests_without_credentials(guarded_url, example_xrays):
    for method, path in (("GET", "config"), ("POST", "gradio_api/upload"), ("POST", "gradio_api/call/predict"),
                         ("POST", "gradio_api/queue/join")):
        answer = httpx.request(method, guarded_url + path, json={"data": [None]}, timeout=30)
        assert answer.status_code in (401, 403), (path, answer.status_code)
    with pytest.raises((ValueError, httpx.HTTPStatusError)):  # gradio_client cannot even read the app's config
        Client(guarded_url, verbose=False).predict(handle_file(str(example_xrays[0])), api_name="/predict")
    with pytest.raises((ValueError, httpx.HTTPStatusError)):
        Client(guarded_url, verbose=False, auth=("ann", "wrong")).predict(handle_file(str(example_xrays[0])), api_name="/predict")
    details = Client(guarded_url, verbose=False, auth=CREDENTIALS).predict(handle_file(str(example_xrays[0])), api_name="/predict")[2]
    assert details["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}

"""The Hugging Face Space folder builds, and its app starts from that folder alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx

from pneumo.demo.space import build_space, main

from .conftest import free_port

REPO = Path(__file__).resolve().parents[2]

# Run app.py as a Space does, after taking this checkout off the interpreter's import machinery
# (an editable install adds finders that would serve the repository's modules instead).
LAUNCH = """
import runpy, sys
repo = {repo!r}
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path[:] = [p for p in sys.path if p and (not p.startswith(repo) or p.startswith(sys.prefix))]  # a venv inside the checkout stays
sys.path_importer_cache.clear()
sys.path.insert(0, __import__("os").getcwd())  # as `python app.py` puts the script's folder first
sys.argv = ["app.py"]
import pneumo.demo.cli, pneumo_runtime
print("loaded from", pneumo.demo.cli.__file__, pneumo_runtime.__file__, file=sys.stderr, flush=True)
runpy.run_path("app.py", run_name="__main__")
"""


def test_the_space_folder_has_what_a_space_needs(tmp_path):
    space = build_space(tmp_path / "space")
    assert (space / ".gitattributes").read_text().strip() == "*.onnx filter=lfs diff=lfs merge=lfs -text"
    readme = (space / "README.md").read_text()
    assert readme.startswith("---\n") and "\napp_file: app.py\n" in readme and "\nsdk: gradio\n" in readme
    requirements = (space / "requirements.txt").read_text().splitlines()
    assert {"onnxruntime", "opencv-python-headless", "numpy", "pydicom"} <= {r.split(">")[0].split("=")[0] for r in requirements if r and r[0] != "#"}
    assert not any("torch" in r or "gradio" in r for r in requirements)  # Gradio comes from sdk_version
    assert sorted(p.name for p in (space / "pneumo_runtime" / "models").iterdir()) == ["default.json", "default.onnx"]
    assert sorted(p.name for p in (space / "pneumo" / "demo" / "examples").glob("*.jpeg"))
    assert not (space / "pneumo" / "__init__.py").exists()  # a namespace package, as installed


def test_the_space_builder_refuses_a_folder_in_use(tmp_path, capsys):
    (tmp_path / "taken.txt").write_text("x")
    assert main([str(tmp_path)]) == 2
    assert "is not empty" in capsys.readouterr().err


def test_the_space_app_starts_on_loopback_from_its_folder_alone(tmp_path):
    space = build_space(tmp_path / "space")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1")
    log = (tmp_path / "space.log").open("w+")
    process = subprocess.Popen([sys.executable, "-c", LAUNCH.format(repo=str(REPO))], cwd=space, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline, answer = time.monotonic() + 120, None
        while time.monotonic() < deadline and process.poll() is None:
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                time.sleep(0.5)
        log.seek(0)
        output = log.read()
        assert answer is not None and answer.status_code == 200, output
        assert f"loaded from {space}" in output and f"{space / 'pneumo_runtime'}" in output, output
        assert "pneumo" in answer.text
    finally:
        process.terminate()
        process.wait(20)

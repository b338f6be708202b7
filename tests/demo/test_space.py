"""The Hugging Face Space folder builds, and its app starts from that folder alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
import pneumo.demo.demo_cli, pneumo_runtime
print("loaded from", pneumo.demo.demo_cli.__file__, pneumo_runtime.__file__, file=sys.stderr, flush=True)
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


@pytest.mark.slow  # launches Gradio in a subprocess
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


# demo/space_app.py as a Space made from the whole repository runs it: a plain checkout, nothing installed.
CHECKOUT_LAUNCH = """
import runpy, sys
repo = {repo!r}
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
sys.path[:] = [p for p in sys.path if p and (not p.startswith(repo) or p.startswith(sys.prefix))]
sys.path_importer_cache.clear()


class NothingInstalled:  # a pneumo installed in this environment (CI's, non-editable) must not count
    def find_spec(self, name, path=None, target=None):
        if name == "pneumo" or name.startswith("pneumo."):
            raise ModuleNotFoundError(name)
        return None


sys.meta_path.insert(0, NothingInstalled())
sys.path.insert(0, repo + "/demo")  # as `python demo/space_app.py` puts the script's folder first
sys.argv = ["space_app.py", "--help"]
try:
    runpy.run_path(repo + "/demo/space_app.py", run_name="__main__")
finally:
    print("pneumo.demo imported:", "pneumo.demo" in sys.modules, "demo from:", sys.modules["demo.demo_cli"].__file__, file=sys.stderr)
"""


def test_the_checkout_space_app_starts_from_a_plain_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", CHECKOUT_LAUNCH.format(repo=str(REPO))], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "usage: pneumo-demo" in done.stdout
    assert f"pneumo.demo imported: False demo from: {REPO / 'demo' / 'demo_cli.py'}" in done.stderr


def test_no_module_outside_the_tests_patches_sys_modules():
    import re

    patching = re.compile(r"sys\.modules\[[^\]]+\]\s*=|sys\.modules\.(setdefault|update|pop)\(|del sys\.modules")
    sources = [p for p in REPO.rglob("*.py") if not {"tests", ".venv", "build", "runs"} & set(p.relative_to(REPO).parts)]
    assert sources and not [str(p.relative_to(REPO)) for p in sources if patching.search(p.read_text(encoding="utf-8"))]

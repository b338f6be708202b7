"""Console scripts enter through their own room's light launcher; a missing extra is one line, exit 2."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

from pneumo_runtime import launch

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
SCRIPTS = PYPROJECT["project"]["scripts"]
ROOMS = {"training", "export", "site_kit", "serve", "demo"}
# every command but pneumo-predict (the base install, no extra to check) enters through a launcher
LAUNCHED = sorted(set(SCRIPTS) - {"pneumo-predict"})
LIGHT = ("torch", "onnx", "gradio", "fastapi", "uvicorn", "captum", "optuna", "sklearn", "pydicom", "timm", "pynetdicom", "highdicom")


def launcher(command: str):
    return importlib.import_module(SCRIPTS[command].split(":")[0])


def test_every_command_with_an_extra_enters_through_its_own_room():
    assert SCRIPTS["pneumo-predict"] == "pneumo_runtime.predict_cli:main"
    assert {"pneumo-train", "pneumo-evaluate", "pneumo-tune", "pneumo-export", "pneumo-adapt", "pneumo-serve", "pneumo-dicom", "pneumo-demo"} <= set(LAUNCHED)
    for command in LAUNCHED:
        room = SCRIPTS[command].split(".")[1]
        assert room in ROOMS and (room == "demo") == (command == "pneumo-demo")  # only pneumo-demo enters through demo/
        assert SCRIPTS[command] == f"pneumo.{room}.launch:{command.removeprefix('pneumo-')}"
        module, extra = launcher(command).COMMANDS[command]
        assert module.startswith(f"pneumo.{room}.")
        assert extra in PYPROJECT["project"]["optional-dependencies"]
        assert callable(getattr(launcher(command), command.removeprefix("pneumo-")))  # the function the script calls


def test_the_launchers_import_no_optional_dependency():
    code = (f"import sys\nfor m in {sorted(set(s.split(':')[0] for s in SCRIPTS.values()))!r}: __import__(m)\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {LIGHT!r}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "[]"


def test_extra_requirements_expand_nested_extras():
    requires = ['torch>=2.2; extra == "train"', 'timm; extra == "train"', 'pneumo[train]; extra == "export"',
                'onnx>=1.16; extra == "export"', 'gradio<7,>=6.0; extra == "demo"', "numpy>=1.24"]
    assert launch.extra_requirements("export", requires) == ["torch", "timm", "onnx"]
    assert launch.extra_requirements("demo", requires) == ["gradio"]


def test_a_missing_distribution_is_named_with_the_fix(monkeypatch, capsys):
    monkeypatch.setattr(launch, "extra_requirements", lambda extra: ["fastapi", "uvicorn"])
    monkeypatch.setattr(launch, "is_installed", lambda name: name != "uvicorn")
    assert launcher("pneumo-serve").serve() == 2
    err = capsys.readouterr().err
    assert err == 'pneumo-serve: error: uvicorn is not installed; pneumo-serve needs the [serve] extra: pip install "pneumo[serve]"\n'


@pytest.mark.parametrize("command, blocked, extra, args", [
    ("train", "torch", "train", []), ("evaluate", "torch", "train", []),
    ("export", "torch", "export", ["--to", "onnx", "--checkpoint", "missing.pt", "--out", "{tmp}"]),  # past its usage check
    ("adapt", "torch", "export", ["--site", "x", "--unlabelled", "{tmp}", "--out", "{tmp}"]),
    ("demo", "gradio", "demo", []), ("serve", "uvicorn", "serve", []),
])
def test_a_module_that_cannot_be_imported_is_named_with_the_fix(command, blocked, extra, args, tmp_path):
    """A fresh interpreter where ``blocked`` cannot be imported (as if not installed; the metadata
    check is off, as in a plain checkout): the command prints one line and exits 2."""
    code = ("import sys\n"
            "class Uninstalled:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            f"        if name.split('.')[0] == {blocked!r}:\n"
            "            raise ModuleNotFoundError(f'No module named {name!r}', name=name)\n"
            "sys.meta_path.insert(0, Uninstalled())\n"
            "from pneumo_runtime import launch\n"
            "launch.extra_requirements = lambda extra: []\n"
            f"import {SCRIPTS['pneumo-' + command].split(':')[0]} as room\n"
            f"sys.argv = ['pneumo-{command}'] + {[a.format(tmp=tmp_path / 'out') for a in args]!r}\n"
            f"sys.exit(room.{command}())\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr
    assert lines[0] == (f"pneumo-{command}: error: {blocked} is not installed; pneumo-{command} needs the [{extra}] extra: "
                        f'pip install "pneumo[{extra}]"')


def test_installed_extras_pass_the_check():
    """This environment has every extra: the check finds nothing missing and the command runs."""
    for command in LAUNCHED:
        _, extra = launcher(command).COMMANDS[command]
        assert not [name for name in launch.extra_requirements(extra) if not launch.is_installed(name)], extra
    done = subprocess.run([sys.executable, "-c", "import sys; from pneumo.serve import launch; sys.argv=['pneumo-serve','--help']; sys.exit(launch.serve())"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0 and "usage: pneumo-serve" in done.stdout

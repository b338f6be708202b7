"""The README's set-up commands are the ones CI runs and the ones that work."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import tomllib

from pneumo.demo import launch as demo_launch

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
EXTRAS = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]


def readme_command(name: str) -> str:
    found = re.search(rf"<!-- ci:{name} -->\n```bash\n(.+?)\n```\n<!-- /ci:{name} -->", README, re.DOTALL)
    assert found, f"README.md lost its ci:{name} block"
    return found.group(1)


def readme_test_command() -> str:
    return readme_command("test-command")


def expand(extras: set[str]) -> set[str]:
    """Extras with the pneumo[...] extras they name, recursively."""
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for requirement in EXTRAS[extra]:
            nested = re.match(r"pneumo\[([^\]]+)\]", requirement)
            todo += nested.group(1).split(",") if nested else []
    return seen


def installed_extras(command: str) -> set[str]:
    found = re.search(r'"\.\[([^\]]+)\]"', command)
    assert found, command
    return expand(set(found.group(1).split(",")))


def test_ci_runs_the_readme_commands():
    printed = subprocess.run(["bash", str(REPO / ".ci" / "run"), "--print"], capture_output=True, text=True, check=True).stdout
    assert printed.splitlines() == [readme_command("setup-command"), readme_test_command()]
    ci = (REPO / ".ci" / "run").read_text()
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert not [line for line in commands if "pip " in line or "pytest" in line]  # no install or test run of its own


def test_the_test_command_installs_every_extra_the_tests_import():
    command = readme_test_command()
    assert command.endswith("python -m pytest -q")
    assert expand(set(EXTRAS)) - {"all"} <= installed_extras(command)  # demo (gradio), serve (fastapi), ...
    assert " ./weights " in command  # the explain extra's pneumo-torch-weights, built from this repository


def test_the_first_command_installs_what_pneumo_demo_needs():
    first = readme_command("setup-command")
    assert README.index(first) < README.index(readme_test_command())  # set-up comes first in the README
    assert first.endswith("&& pneumo-demo")
    assert demo_launch.COMMANDS["pneumo-demo"][1] in installed_extras(first)
    assert "dicom" in installed_extras(first)

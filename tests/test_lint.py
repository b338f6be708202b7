"""The code passes ruff (pycodestyle, pyflakes, import order, bugbear, pyupgrade; configured in
pyproject.toml), and the pre-commit hook runs the same ruff."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
from pathlib import Path

import tomllib
import yaml

REPO = Path(__file__).resolve().parents[1]


def test_ruff_passes():
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {"B", "UP"} <= set(tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["ruff"]["lint"]["select"])


def test_pre_commit_runs_this_ruff():
    config = yaml.safe_load((REPO / ".pre-commit-config.yaml").read_text())
    (ruff,) = [repo for repo in config["repos"] if repo["repo"].endswith("/ruff-pre-commit")]
    assert [hook["id"] for hook in ruff["hooks"]] == ["ruff-check"]
    assert ruff["rev"] == "v" + importlib.metadata.version("ruff")

"""mypy checks the torch-free runtime (its settings: [tool.mypy] in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import tomllib

REPO = Path(__file__).resolve().parents[2]


def test_mypy_passes_on_the_runtime():
    done = subprocess.run([sys.executable, "-m", "mypy", "--no-incremental"], cwd=REPO, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-1000:]
    assert tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["mypy"]["files"] == ["pneumo_runtime"]

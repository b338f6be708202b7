"""``pneumo-predict`` as a user runs it: a separate process, with a time limit."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path


def command() -> list[str]:
    script = Path(sys.executable).parent / "pneumo-predict"
    return [str(script)] if script.exists() else [shutil.which("pneumo-predict") or "pneumo-predict"]


def run_cli(*args, timeout: float = 180, **options) -> subprocess.CompletedProcess:
    return subprocess.run([*command(), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          env=cli_environment(), **options)


def cli_environment() -> dict:
    import os

    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONIOENCODING": "utf-8"}

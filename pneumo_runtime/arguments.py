"""What every command shares: the ``--model`` and ``--threads`` flags, the loopback rule, the upload
cap and the core count, defined once for ``pneumo-predict``, ``pneumo-demo``, ``pneumo-serve``,
``pneumo-adapt`` and ``pneumo-evaluate``.
"""

from __future__ import annotations

import argparse
import os

from .predictor import shipped_models

DEFAULT_HOST = "127.0.0.1"  # servers bind this machine only unless told otherwise
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # a full-size X-ray JPEG is ~1-3 MB, a DICOM up to ~20 MB


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity where the system has one)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def model_help(role: str = "", also: str = "") -> str:
    """``--model``'s help: the names every command accepts (a shipped model or an exported .onnx)."""
    shipped = ", ".join(shipped_models())
    return f"{role}a shipped model ({shipped}; default: default) or the path of an exported .onnx{also}"


def add_model_argument(parser: argparse.ArgumentParser, role: str = "", also: str = "", **kwargs) -> None:
    parser.add_argument("--model", help=model_help(role, also), **kwargs)


def add_threads_argument(parser: argparse.ArgumentParser, default: int | None = None, meaning: str = "onnxruntime threads (default: all cores)") -> None:
    parser.add_argument("--threads", type=int, default=default, help=meaning)


"""What every benchmark shares: the machine's description, interleaved timing, and where data lives.

The machines this project runs on are shared and noisy, so contenders are always timed side by side,
interleaved (A, B, C, A, B, C, ...), and compared as ratios of medians; an absolute time is only
quoted with the machine it came from.
"""

from __future__ import annotations

import os
import platform
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from pneumo_runtime.batch import IMAGE_SUFFIXES
from pneumo_runtime.data_root import data_root

REPO = Path(__file__).resolve().parents[1]
DATA = data_root()
FULLRES = DATA / "kermany_fullres_sample"
KERMANY = DATA / "kermany_224"
RESULTS = Path(__file__).resolve().parent / "results"
MODELS = REPO / "pneumo_runtime" / "models"  # the shipped ONNX models and contracts
WEIGHTS = REPO / "weights" / "pneumo_torch_weights"  # their torch weights
LIBRARIES = ("numpy", "onnxruntime", "opencv-python-headless", "torch", "torchvision", "timm", "captum", "gradio", "fastapi")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_flags() -> list[str]:
    """The instruction-set extensions that decide INT8 and FP32 speed (VNNI, AMX, AVX-512)."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        return []
    return sorted(f for f in flags if f.startswith(("avx512_vnni", "avx_vnni", "amx", "avx512f", "avx2", "avx512_bf16", "avx512_fp16")))


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def machine() -> dict:
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cpu_flags": cpu_flags(),
        "load_average_at_start": os.getloadavg(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "libraries": library_versions(),
        "date_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }


def git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def interleaved(contenders: dict[str, Callable[[], object]], rounds: int, warmup: int = 1) -> dict[str, list[float]]:
    """Milliseconds per call of each contender, called in turn round after round."""
    for _ in range(warmup):
        for call in contenders.values():
            call()
    timings: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, call in contenders.items():
            started = time.perf_counter()
            call()
            timings[name].append((time.perf_counter() - started) * 1000)
    return timings


def summary(milliseconds: list[float]) -> dict:
    values = np.asarray(milliseconds, dtype=float)
    return {"n": int(values.size), "p50_ms": float(np.percentile(values, 50)), "p95_ms": float(np.percentile(values, 95))}


def ratio(slow: list[float] | float, fast: list[float] | float) -> float:
    """How many times faster ``fast`` is: a ratio of medians."""
    return float(np.median(slow) / np.median(fast))


def images_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)

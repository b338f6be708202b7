"""Entry point of ``pneumo-export``: light, no torch or onnx import until the extra is checked."""

from __future__ import annotations

from pneumo_runtime.launch import run

# command -> (module with main(), the extra it needs)
COMMANDS = {
    "pneumo-export": ("pneumo.export.export_cli", "export"),
}


def export() -> int:
    return run("pneumo-export", *COMMANDS["pneumo-export"])

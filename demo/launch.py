"""Entry point of ``pneumo-demo``: light, no Gradio import until the extra is checked."""

from __future__ import annotations

from pneumo_runtime.launch import run

# command -> (module with main(), the extra it needs)
COMMANDS = {
    "pneumo-demo": ("pneumo.demo.demo_cli", "demo"),
}


def demo() -> int:
    return run("pneumo-demo", *COMMANDS["pneumo-demo"])

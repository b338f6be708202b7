"""Entry point of ``pneumo-adapt``: light, no torch import until the extra is checked."""

from __future__ import annotations

from pneumo_runtime.launch import run

# command -> (module with main(), the extra it needs)
COMMANDS = {
    "pneumo-adapt": ("pneumo.site_kit.adapt_cli", "export"),
}


def adapt() -> int:
    return run("pneumo-adapt", *COMMANDS["pneumo-adapt"])

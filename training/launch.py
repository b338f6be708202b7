"""Entry points of ``pneumo-train``, ``pneumo-evaluate`` and ``pneumo-tune``: light, no torch import until the extra is checked."""

from __future__ import annotations

from pneumo_runtime.launch import run

# command -> (module with main(), the extra it needs)
COMMANDS = {
    "pneumo-train": ("pneumo.training.fit.train_cli", "train"),
    "pneumo-evaluate": ("pneumo.training.evaluation.evaluate_cli", "train"),
    "pneumo-tune": ("pneumo.training.fit.tune", "tune"),
}


def train() -> int:
    return run("pneumo-train", *COMMANDS["pneumo-train"])


def evaluate() -> int:
    return run("pneumo-evaluate", *COMMANDS["pneumo-evaluate"])


def tune() -> int:
    return run("pneumo-tune", *COMMANDS["pneumo-tune"])

"""pneumo-torch-weights: the torch weights of pneumo's shipped models, for Grad-CAM through Captum.

The torch-free runtime (``pip install pneumo``) ships only the ONNX models; these weights matter
only to the demo's Captum explain mode, so they travel in their own distribution, which the
``[explain]`` extra pulls in (as spaCy ships its models as packages of their own). The ONNX models
they match are ``pneumo_runtime/models/<name>.onnx``.

Versions: this distribution's ``__version__`` and ``pneumo_runtime.__version__`` are always equal,
and the ``[explain]`` extra pins ``pneumo-torch-weights==<that version>``. Whenever a shipped model
changes (its ONNX file, its contract or these weights), both versions change together.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__version__ = "0.2.0"  # always pneumo_runtime.__version__: see the rule above


def checkpoint(model_name: str) -> Path | None:
    """The torch checkpoint of the shipped model ``model_name`` (``default``, ``three_class``), or None."""
    path = Path(str(resources.files(__name__) / f"{model_name}.pt"))
    return path if path.is_file() else None


def available() -> list[str]:
    return sorted(p.name.removesuffix(".pt") for p in Path(str(resources.files(__name__))).glob("*.pt"))

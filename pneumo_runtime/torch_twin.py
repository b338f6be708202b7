"""Where the torch twin of a served ONNX model is: the checkpoint Captum's Grad-CAM runs on.

``pneumo-export`` writes it beside the model (``model.pt`` next to ``model.onnx``), and so does a
checkout for the shipped models (``pneumo_runtime/models/default.pt``). An installed wheel carries
no torch weights (they would double its size for one optional feature): there they come from the
``pneumo-torch-weights`` distribution that the ``[explain]`` extra installs. This module only finds
the file; the runtime never loads it (Captum in the demo and pneumo-adapt do, with torch).
"""

from __future__ import annotations

from pathlib import Path

from .predictor import models_folder


def torch_twin(onnx_path: str | Path) -> Path | None:
    """The checkpoint beside ``onnx_path``, else, for a shipped model, the installed weights; else None."""
    onnx_path = Path(onnx_path)
    sibling = onnx_path.with_suffix(".pt")
    if sibling.is_file():
        return sibling
    if onnx_path.resolve().parent != models_folder().resolve():
        return None  # an exported model's twin is its own model.pt, never a shipped one
    try:
        import pneumo_torch_weights
    except ImportError:
        return None
    return pneumo_torch_weights.checkpoint(onnx_path.stem)

"""Where the torch twin of a served ONNX model is: the checkpoint Captum's Grad-CAM runs on.

``pneumo-export`` writes it beside the model (``model.pt`` next to ``model.onnx``). The shipped
models' torch weights are not in the runtime at all (they would double its size for one optional
feature): they are the ``pneumo-torch-weights`` distribution (``weights/`` in the repository), which
the ``[explain]`` extra installs; a checkout without it installed finds them in ``weights/``. This
module only finds the file; the runtime never loads it (Captum in the demo and pneumo-adapt do).
"""

from __future__ import annotations

from pathlib import Path

from .predictor import models_folder

# weights/pneumo_torch_weights/ of a checkout, seen from pneumo_runtime/models/
CHECKOUT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "pneumo_torch_weights"


def torch_twin(onnx_path: str | Path) -> Path | None:
    """The checkpoint beside ``onnx_path``; for a shipped model, the installed weights or a checkout's; else None."""
    onnx_path = Path(onnx_path)
    sibling = onnx_path.with_suffix(".pt")
    if sibling.is_file():
        return sibling
    if onnx_path.resolve().parent != models_folder().resolve():
        return None  # an exported model's twin is its own model.pt, never a shipped one
    try:
        import pneumo_torch_weights
    except ImportError:
        in_checkout = CHECKOUT_WEIGHTS / f"{onnx_path.stem}.pt"
        return in_checkout if in_checkout.is_file() else None
    return pneumo_torch_weights.checkpoint(onnx_path.stem)

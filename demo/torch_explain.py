"""Grad-CAM through Captum on the torch checkpoint that the served ONNX model was exported from.

A map is only honest if it comes from the very model that gave the prediction, so a checkpoint is
accepted only when (1) its training-config digest equals the contract's ``config_digest`` and (2)
its classifier head equals the head weights recorded in the contract. The digest alone is not
enough: every epoch of one training run shares it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from pneumo_runtime.contract import ModelContract, config_digest
from pneumo_runtime.errors import ModelError
from pneumo_runtime.preprocess import prepare_gray, to_model_input

HEAD_TOLERANCE = 1e-5  # float32 round trip through the JSON contract
METHOD = "Grad-CAM (Captum LayerGradCam on the torch checkpoint)"


class TorchUnavailableError(ModelError):
    """torch or captum is not installed: the caller falls back to the runtime's CAM."""


class TorchExplainer:
    def __init__(self, checkpoint_path: str | Path, contract: ModelContract):
        try:
            import torch  # noqa: F401
            from captum.attr import LayerGradCam

            from pneumo.training.checkpoint import CheckpointError, model_from_checkpoint
        except ImportError as exc:
            raise TorchUnavailableError(f"Grad-CAM through Captum needs torch and captum ({exc.name} is not installed)") from None
        try:
            loaded = model_from_checkpoint(checkpoint_path)  # torch.load(weights_only=True) inside
        except CheckpointError as exc:
            raise ModelError(str(exc)) from None
        name = Path(checkpoint_path).name
        if config_digest(loaded.checkpoint["config"]) != contract.config_digest:
            raise ModelError(f"checkpoint {name} was not trained with the served model's config (config_digest differs)")
        head = loaded.model.classifier.fc.weight.detach().numpy()
        if head.shape != np.shape(contract.cam_weights) or np.abs(head - np.asarray(contract.cam_weights)).max() > HEAD_TOLERANCE:
            raise ModelError(f"checkpoint {name} has the served model's config but other weights (a different epoch?)")
        self.model = loaded.model
        self.contract = contract
        self.gradcam = LayerGradCam(self.model, self.model.gradcam_layer())
        self.has_attention = hasattr(self.model.backbone, "attention_map")
        self._lock = threading.Lock()  # Captum registers hooks on the shared model: one attribution at a time

    def _input(self, gray: np.ndarray):
        import torch

        prepared = prepare_gray(gray, self.contract.preprocess)  # the runtime's own preprocessing
        return torch.from_numpy(to_model_input(prepared, self.contract.preprocess)[None])

    def gradcam_map(self, gray: np.ndarray, target_class: str) -> np.ndarray:
        """Float32 map in [0, 1] at the size of ``gray``."""
        import torch.nn.functional as F

        x = self._input(gray)
        with self._lock:
            attribution = self.gradcam.attribute(x, target=self.contract.classes.index(target_class), relu_attributions=True)
        return _upsampled(F.interpolate(attribution.detach(), size=gray.shape, mode="bilinear", align_corners=False))

    def attention_map(self, gray: np.ndarray) -> np.ndarray | None:
        """custom_cnn's learned spatial attention, upsampled; None for models without one."""
        if not self.has_attention:
            return None
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            attention = self.model.backbone.attention_map(self._input(gray))
        # Min-max stretched: sigmoid gates are all positive, so scaling by the peak alone would hide the contrast.
        heatmap = _upsampled(F.interpolate(attention, size=gray.shape, mode="bilinear", align_corners=False))
        spread = float(heatmap.max() - heatmap.min())
        return (heatmap - heatmap.min()) / spread if spread > 0 else np.zeros_like(heatmap)


def _upsampled(tensor) -> np.ndarray:
    """(1, 1, H, W) tensor -> float32 (H, W) scaled to [0, 1] by its peak."""
    heatmap = tensor[0, 0].numpy().astype(np.float32)
    peak = float(heatmap.max())
    return heatmap / peak if peak > 0 else np.zeros_like(heatmap)

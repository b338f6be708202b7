"""Class activation maps without torch.

For a head that is "global average pool -> linear", the gradient of logit k with respect to the
feature map is W[k, c] / (h * w) everywhere, so Grad-CAM's channel weights are the linear weights
up to a constant: ReLU(sum_c W[k, c] * A_c) *is* Grad-CAM, computed from the exported feature map.
"""

from __future__ import annotations

import cv2
import numpy as np


def class_activation_map(features: np.ndarray, weights: np.ndarray, class_index: int, output_size: tuple[int, int]) -> np.ndarray:
    """``features``: (C, h, w) of one image; returns float32 (H, W) scaled to [0, 1]."""
    cam = np.tensordot(np.asarray(weights, np.float32)[class_index], features.astype(np.float32), axes=(0, 0))
    cam = np.maximum(cam, 0.0)
    height, width = output_size
    cam = cv2.resize(cam, (width, height), interpolation=cv2.INTER_LINEAR)
    peak = float(cam.max())
    return (cam / peak).astype(np.float32) if peak > 0 else np.zeros((height, width), np.float32)

"""Heatmap over X-ray: the image the clinician looks at, so it keeps the X-ray's own geometry."""

from __future__ import annotations

import cv2
import numpy as np

MAX_SIDE = 1024  # px: enough for a screen; full-size X-rays would make every slider move ship megabytes


def display_gray(gray: np.ndarray) -> np.ndarray:
    """The decoded image, shrunk (never enlarged) to at most MAX_SIDE, as RGB uint8."""
    scale = min(1.0, MAX_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def blend(gray: np.ndarray, heatmap: np.ndarray, opacity: float, ellipse_mask: float = 0.0) -> np.ndarray:
    """RGB uint8: ``gray`` under a JET-coloured ``heatmap`` ([0, 1], any size) at ``opacity`` in [0, 1].

    ``ellipse_mask`` > 0 outlines the model's field of view (the contract's preprocessing): a
    reader must know that nothing outside it, a marker or a corner finding, reached the model.
    """
    base = display_gray(gray)
    height, width = base.shape[:2]
    resized = cv2.resize(heatmap.astype(np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    coloured = cv2.cvtColor(cv2.applyColorMap(np.uint8(np.clip(resized, 0, 1) * 255), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)
    alpha = float(np.clip(opacity, 0.0, 1.0))
    blended = cv2.addWeighted(coloured, alpha, base, 1.0 - alpha, 0.0)
    if ellipse_mask > 0:
        # The model's input is the image squashed to a square, so its circle is this ellipse here.
        axes = (round(ellipse_mask * width / 2), round(ellipse_mask * height / 2))
        cv2.ellipse(blended, (width // 2, height // 2), axes, 0, 0, 360, (255, 255, 255), max(1, round(max(width, height) / 300)), cv2.LINE_AA)
    return blended

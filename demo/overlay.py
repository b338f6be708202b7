"""Heatmap over X-ray, as in-memory images: nothing is written to disk, so nothing of an upload outlives its request.

The page stacks two pictures: the X-ray and the coloured map above it, whose opacity the browser
changes. Where the map's peak lies is checked against a simple rule, so a map drawn by a burned-in
marker or the film's edge is visible as such.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

import cv2
import numpy as np

MAX_SIDE = 768  # px: twice the on-screen size; full-size X-rays would make every page megabytes
JPEG_QUALITY = 85

# The lung-field rule. On a frontal chest film the lungs lie in the middle of the image; its outer
# band holds the film's edges and corners (burned-in side markers, labels), the neck, shoulders and
# abdomen. A peak inside the band is flagged. 15% on each side is the outer ring of cells of a
# 7x7 feature map, the coarsest map the shipped models draw.
BORDER_BAND = 0.15


def display_gray(gray: np.ndarray) -> np.ndarray:
    """The decoded image, shrunk (never enlarged) to at most MAX_SIDE, as RGB uint8."""
    scale = min(1.0, MAX_SIDE / max(gray.shape))
    if scale < 1.0:
        gray = cv2.resize(gray, (round(gray.shape[1] * scale), round(gray.shape[0] * scale)), interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(gray, cv2.COLOR_GRAY2RGB)


def heat_layer(heatmap: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGB uint8: ``heatmap`` ([0, 1], any size) resized to ``size`` (width, height), JET-coloured."""
    resized = cv2.resize(heatmap.astype(np.float32), size, interpolation=cv2.INTER_LINEAR)
    return cv2.cvtColor(cv2.applyColorMap(np.uint8(np.clip(resized, 0, 1) * 255), cv2.COLORMAP_JET), cv2.COLOR_BGR2RGB)


def blend(gray: np.ndarray, heatmap: np.ndarray, opacity: float, ellipse_mask: float = 0.0) -> np.ndarray:
    """One flat picture (RGB uint8): the map over the X-ray at ``opacity``, for clients that get a
    single image (the REST service) rather than the page's two stacked layers. ``ellipse_mask`` > 0
    outlines the model's field of view: nothing outside it reached the model."""
    base = display_gray(gray)
    height, width = base.shape[:2]
    alpha = float(np.clip(opacity, 0.0, 1.0))
    blended = cv2.addWeighted(heat_layer(heatmap, (width, height)), alpha, base, 1.0 - alpha, 0.0)
    if ellipse_mask > 0:  # the model's input is squashed to a square, so its circle is this ellipse here
        axes = (round(ellipse_mask * width / 2), round(ellipse_mask * height / 2))
        cv2.ellipse(blended, (width // 2, height // 2), axes, 0, 0, 360, (255, 255, 255), max(1, round(max(width, height) / 300)), cv2.LINE_AA)
    return blended


def data_uri(rgb: np.ndarray) -> str:
    """A JPEG as a ``data:`` URI: the browser gets the picture inside the page, no file is written."""
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise ValueError("could not encode the image")
    return "data:image/jpeg;base64," + base64.b64encode(encoded.tobytes()).decode("ascii")


@dataclass(frozen=True)
class Peak:
    """Where the map is strongest, as fractions of the width (x) and height (y) of the image."""

    x: float
    y: float

    @property
    def sides(self) -> list[str]:
        """The image sides whose border band holds the peak (two sides: a corner)."""
        sides = []
        if self.y < BORDER_BAND:
            sides.append("top")
        if self.y > 1 - BORDER_BAND:
            sides.append("bottom")
        if self.x < BORDER_BAND:
            sides.append("left")
        if self.x > 1 - BORDER_BAND:
            sides.append("right")
        return sides

    @property
    def at_corner(self) -> bool:
        return len(self.sides) == 2

    @property
    def outside_lung_fields(self) -> bool:
        return bool(self.sides)

    def warning(self) -> str:
        """One line for the reader; empty when the peak lies inside the central (lung) region."""
        if self.at_corner:
            return (f"The map's peak lies at the film's {' '.join(self.sides)} corner, where side markers and labels sit: "
                    "it may show a marker, not the lungs.")
        if self.sides:
            return (f"The map's peak lies at the film's {self.sides[0]} edge, outside the lung fields: "
                    "it may show the edge, not the lungs.")
        return ""


def map_peak(heatmap: np.ndarray) -> Peak | None:
    """The map's maximum (cell centre), or None for a flat map that points nowhere."""
    if heatmap.size == 0 or float(heatmap.max()) <= float(heatmap.min()):
        return None
    row, column = np.unravel_index(int(np.argmax(heatmap)), heatmap.shape)
    return Peak(x=(column + 0.5) / heatmap.shape[1], y=(row + 0.5) / heatmap.shape[0])

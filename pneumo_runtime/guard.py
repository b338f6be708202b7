"""The input guard: a photo, a document, noise or any other non-X-ray gets REJECTED with a reason,
never a pneumonia probability.

Four one-class checks, each with a cut-off set on real X-rays only (never on non-X-rays):

1. colour: chest X-rays are gray (colourfulness near 0), and roughly square;
2. layout: a frontal chest film correlates with the mean training film at 8 x 8 px, a negative
   (inverted) film anti-correlates with it, other views and body parts barely correlate
   (``film_layout``);
3. symmetry: a chest film is close to mirror-symmetric at low resolution (two lungs either side of
   the spine); most photos, documents and noise are not;
4. features: the model's own pooled feature vector must be close (cosine, mean of the 5 nearest)
   to a bank of training X-rays. The bank lives inside the exported ONNX graph, which computes
   the distance as its ``guard_distance`` output, so it is covered by the model's SHA-256.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .film_layout import layout_refusal
from .inputs import LoadedImage

SYMMETRY_SIDE = 32  # px: coarse enough that only the anatomy's layout counts


@dataclass(frozen=True)
class GuardSettings:
    max_colourfulness: float = 12.0
    max_aspect_ratio: float = 2.5
    min_symmetry: float | None = None  # None: no symmetry check
    max_feature_distance: float | None = None  # None: no feature check

    @classmethod
    def from_dict(cls, data: dict) -> GuardSettings:
        return cls(**data)


def mirror_symmetry(prepared: np.ndarray) -> float:
    """Correlation of the (CLAHE'd, resized) image with its mirror image, at 32 x 32 px."""
    thumb = cv2.resize(prepared, (SYMMETRY_SIDE, SYMMETRY_SIDE), interpolation=cv2.INTER_AREA).astype(np.float64)
    centred = thumb - thumb.mean()
    mirrored = centred[:, ::-1]
    denominator = float(np.sqrt((centred ** 2).sum() * (mirrored ** 2).sum()))
    return float((centred * mirrored).sum() / denominator) if denominator > 0 else 0.0


class InputGuard:
    def __init__(self, settings: GuardSettings):
        self.settings = settings

    def before_inference(self, loaded: LoadedImage, prepared: np.ndarray) -> str | None:
        """A reason to reject, from the pixels alone, or None. ``prepared``: CLAHE'd, resized uint8."""
        settings = self.settings
        if loaded.colourfulness > settings.max_colourfulness:
            return f"not a chest X-ray: a colour image (colourfulness {loaded.colourfulness:.0f} > {settings.max_colourfulness:.0f})"
        height, width = loaded.gray.shape
        aspect = max(height, width) / min(height, width)
        if aspect > settings.max_aspect_ratio:
            return f"not a chest X-ray: aspect ratio {aspect:.1f}:1 is too elongated"
        layout = layout_refusal(prepared)
        if layout:
            return layout
        if settings.min_symmetry is not None:
            symmetry = mirror_symmetry(prepared)
            if symmetry < settings.min_symmetry:
                return f"not a chest X-ray: no left-right chest layout (symmetry {symmetry:.2f} < {settings.min_symmetry:.2f})"
        return None

    def after_inference(self, feature_distance: float | None) -> str | None:
        cutoff = self.settings.max_feature_distance
        if cutoff is None or feature_distance is None or feature_distance <= cutoff:
            return None
        return f"not a chest X-ray: image content unlike the training X-rays (distance {feature_distance:.3f} > {cutoff:.3f})"

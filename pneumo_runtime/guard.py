"""The input guard: a photo, a document, noise or any other non-X-ray gets REJECTED with a reason,
never a pneumonia probability.

Two stages. Before inference, cheap pixel checks: chest X-rays are gray (colourfulness near 0)
and roughly square. After inference, the model's own pooled feature vector must look like the
X-rays it was trained on: a probabilistic-PCA distance (Mahalanobis in the top components plus
the scaled residual) fitted on training X-rays at export time, with a cut-off set on the
validation X-rays. The statistics travel in the model contract.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .inputs import LoadedImage


@dataclass(frozen=True)
class GuardSettings:
    max_colourfulness: float = 12.0
    max_aspect_ratio: float = 2.5
    feature_mean: tuple[float, ...] = ()
    components: tuple[tuple[float, ...], ...] = ()  # (k, C), orthonormal rows
    component_variances: tuple[float, ...] = ()
    residual_variance: float = 1.0
    max_feature_score: float | None = None  # None: no feature check

    @classmethod
    def from_dict(cls, data: dict) -> "GuardSettings":
        values = dict(data)
        values["feature_mean"] = tuple(data.get("feature_mean", ()))
        values["components"] = tuple(tuple(row) for row in data.get("components", ()))
        values["component_variances"] = tuple(data.get("component_variances", ()))
        return cls(**values)


class FeatureDistance:
    """Probabilistic-PCA negative log-likelihood (up to constants), per feature dimension."""

    def __init__(self, settings: GuardSettings):
        self.mean = np.asarray(settings.feature_mean, np.float32)
        self.components = np.asarray(settings.components, np.float32)
        self.variances = np.asarray(settings.component_variances, np.float32)
        self.residual_variance = float(settings.residual_variance)

    def score(self, pooled: np.ndarray) -> np.ndarray:
        """``pooled``: (N, C) -> (N,) distance; about 1 for typical training X-rays."""
        centred = pooled.astype(np.float32) - self.mean
        projected = centred @ self.components.T
        residual = (centred ** 2).sum(axis=1) - (projected ** 2).sum(axis=1)
        in_subspace = (projected ** 2 / self.variances).sum(axis=1)
        return (in_subspace + np.maximum(residual, 0) / self.residual_variance) / centred.shape[1]


def check_input(loaded: LoadedImage, settings: GuardSettings) -> str | None:
    """A reason to reject before inference, or None."""
    if loaded.colourfulness > settings.max_colourfulness:
        return f"not a chest X-ray: a colour image (colourfulness {loaded.colourfulness:.0f} > {settings.max_colourfulness:.0f})"
    height, width = loaded.gray.shape
    aspect = max(height, width) / min(height, width)
    if aspect > settings.max_aspect_ratio:
        return f"not a chest X-ray: aspect ratio {aspect:.1f}:1 is too elongated"
    return None


class InputGuard:
    def __init__(self, settings: GuardSettings):
        self.settings = settings
        self.distance = FeatureDistance(settings) if settings.max_feature_score is not None else None

    def before_inference(self, loaded: LoadedImage) -> str | None:
        return check_input(loaded, self.settings)

    def after_inference(self, feature_map: np.ndarray) -> str | None:
        """``feature_map``: (C, h, w) of one image."""
        if self.distance is None:
            return None
        score = float(self.distance.score(feature_map.mean(axis=(1, 2))[None])[0])
        if score > self.settings.max_feature_score:
            return f"not a chest X-ray: image content unlike the training X-rays (distance {score:.1f} > {self.settings.max_feature_score:.1f})"
        return None

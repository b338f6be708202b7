"""The one definition of preprocessing, shared by training and every runtime.

Order: decode -> grayscale -> resize (+ JPEG re-encoding) -> CLAHE -> 3 channels -> normalise
(mean/std of the model).

Training augments between ``prepare_gray`` (resize + CLAHE) and ``to_model_input`` (3 channels +
normalisation), so augmentation perturbs the image the model actually sees. Augmenting *before*
CLAHE would let CLAHE undo most brightness/contrast jitter.

Resizing reproduces how the Kermany 224 px copies, the only images any model here learned from,
were made: squashed to a square without keeping the aspect ratio, then saved as JPEG (quality 75,
read off the copies' quantisation tables), and only then, in training, equalised by CLAHE. A
full-size film that is not given the same treatment reaches the model with sharper detail and a
different CLAHE than any training image, and its answer drifts from its own copy's (MODEL_CARD.md,
"Full-size films"). An image already at the input size is left exactly as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from .errors import InvalidImageError


@dataclass(frozen=True)
class ClaheSettings:
    enabled: bool = True
    clip_limit: float = 2.0
    tile_grid: int = 8  # tiles per side: 8 means an 8x8 grid

    def apply(self, gray: np.ndarray) -> np.ndarray:
        if not self.enabled:
            return gray
        clahe = cv2.createCLAHE(clipLimit=self.clip_limit, tileGridSize=(self.tile_grid, self.tile_grid))
        return clahe.apply(gray)


@dataclass(frozen=True)
class PreprocessSettings:
    """Everything needed to turn an image into a model input. Travels inside checkpoints and exports."""

    input_size: int = 224
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)  # one per channel
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    clahe: ClaheSettings = field(default_factory=ClaheSettings)
    # Field of view: 0 shows the model the whole square. r > 0 blacks out everything outside the
    # centred ellipse whose semi-axes are r times half the side (1.0: the inscribed ellipse). The
    # corners of a chest film hold burned-in markers, time stamps and exposure text, not lung; a
    # model that never sees them cannot learn them as a shortcut (MODEL_CARD.md, "Field of view").
    ellipse_mask: float = 0.0
    # JPEG quality of the re-encoding after a resize (None: none). Contracts written before this
    # field existed belong to models trained on the 224 px copies, so they get 75 too.
    resize_jpeg_quality: int | None = 75

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mean"], data["std"] = list(self.mean), list(self.std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PreprocessSettings:
        return cls(
            input_size=int(data["input_size"]),
            mean=tuple(float(v) for v in data["mean"]),
            std=tuple(float(v) for v in data["std"]),
            clahe=ClaheSettings(**data["clahe"]),
            ellipse_mask=float(data.get("ellipse_mask", 0.0)),  # absent from contracts made before it existed
            resize_jpeg_quality=data.get("resize_jpeg_quality", 75),
        )


def to_grayscale(image: np.ndarray) -> np.ndarray:
    """Any decoded array (gray, BGR, BGRA; 8 or 16 bit) -> 2-D uint8."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        channels = image.shape[2]
        if channels == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY)
        elif channels == 3:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        else:
            raise InvalidImageError(f"unsupported image with {channels} channels")
    if image.ndim != 2:
        raise InvalidImageError(f"unsupported image shape {image.shape}")
    return to_uint8(image)


def to_uint8(gray: np.ndarray) -> np.ndarray:
    """8-bit data passes through; anything else is stretched over the range it actually uses."""
    if gray.dtype == np.uint8:
        return gray
    if gray.dtype == np.bool_:
        return gray.astype(np.uint8) * 255
    # Higher bit depths: stretch the range actually used. A 12-bit X-ray stored in 16 bits would
    # otherwise come out nearly black.
    values = gray.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(gray.shape, np.uint8)
    return np.round((values - low) * (255.0 / (high - low))).astype(np.uint8)


def prepare_gray(gray: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
    """Squash to ``input_size`` the way the training copies were made, then CLAHE: uint8 (S, S)."""
    return settings.clahe.apply(resize_like_training(gray, settings))


def resize_like_training(gray: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
    """uint8 (H, W) -> uint8 (S, S): area-averaged (or linear, when enlarging), then JPEG-encoded and
    decoded again at ``resize_jpeg_quality``, as the Kermany 224 px copies were."""
    size = settings.input_size
    if gray.shape == (size, size):
        return gray
    shrinking = gray.shape[0] > size or gray.shape[1] > size
    resized = cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    if settings.resize_jpeg_quality is None:
        return resized
    encoded, buffer = cv2.imencode(".jpg", resized, [cv2.IMWRITE_JPEG_QUALITY, int(settings.resize_jpeg_quality)])
    decoded = cv2.imdecode(buffer, cv2.IMREAD_GRAYSCALE) if encoded else None
    if decoded is None:
        raise InvalidImageError("could not re-encode the resized image")
    return decoded


@lru_cache(maxsize=8)
def field_of_view(height: int, width: int, ellipse_mask: float) -> np.ndarray:
    """float32 (H, W): 1 inside the centred ellipse with semi-axes ``ellipse_mask`` x half the side, else 0."""
    rows = (np.arange(height, dtype=np.float32) + 0.5 - height / 2) / (ellipse_mask * height / 2)
    cols = (np.arange(width, dtype=np.float32) + 0.5 - width / 2) / (ellipse_mask * width / 2)
    mask = (rows[:, None] ** 2 + cols[None, :] ** 2 <= 1.0).astype(np.float32)
    mask.flags.writeable = False  # cached and shared: nobody may edit it
    return mask


def to_model_input(prepared: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
    """uint8 (S, S) -> float32 (3, S, S): masked to the field of view, normalised with the model's mean and std.

    The mask is applied here, after any training augmentation, so that the model sees the same
    crisp field of view in training as at inference, wherever augmentation moved the anatomy.
    """
    scaled = prepared.astype(np.float32) / 255.0
    if settings.ellipse_mask > 0:
        scaled = scaled * field_of_view(*scaled.shape, settings.ellipse_mask)
    mean = np.asarray(settings.mean, np.float32)[:, None, None]
    std = np.asarray(settings.std, np.float32)[:, None, None]
    return (np.broadcast_to(scaled, (3, *scaled.shape)) - mean) / std


def preprocess(gray: np.ndarray, settings: PreprocessSettings) -> np.ndarray:
    """The whole inference path after decoding."""
    return to_model_input(prepare_gray(gray, settings), settings)

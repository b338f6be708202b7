"""Training-only augmentation (albumentations), applied to the uint8 image *after* CLAHE and resize.

See pneumo_runtime.preprocess for why it sits there. "strong" adds the intensity, gamma, noise
and scale shifts that the official test split is known to need (its normals look different from
train's); pick between the levels on validation, never on test.
"""

from __future__ import annotations

import albumentations as A
import cv2


def build_augmentation(level: str, hflip: bool, seed: int | None = None) -> A.Compose | None:
    if level == "none":
        return None
    strong = level == "strong"
    transforms = [
        A.Affine(
            rotate=(-15, 15),
            scale=(0.85, 1.15) if strong else (1.0, 1.0),
            translate_percent=(-0.05, 0.05) if strong else None,
            border_mode=cv2.BORDER_CONSTANT,
            fill=0,
            p=0.7,
        ),
        # Flipping moves the heart to the wrong side. It is allowed by default because the
        # classifier looks at lung opacities, and can be turned off (--no-hflip) for studies
        # where laterality matters.
        A.HorizontalFlip(p=0.5 if hflip else 0.0),
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.2, p=0.7),
        A.GaussianBlur(blur_limit=(3, 5), p=0.2),
        A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15), fill=0, p=0.3),
    ]
    if strong:
        transforms += [
            A.RandomGamma(gamma_limit=(70, 150), p=0.5),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
        ]
    return A.Compose(transforms, seed=seed)

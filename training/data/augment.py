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
    if level == "robust":
        return A.Compose(acquisition_shifts() + [A.HorizontalFlip(p=0.5 if hflip else 0.0), _dropout()], seed=seed)
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
        _dropout(),
    ]
    if strong:
        transforms += [
            A.RandomGamma(gamma_limit=(70, 150), p=0.5),
            A.GaussNoise(std_range=(0.01, 0.05), p=0.3),
        ]
    return A.Compose(transforms, seed=seed)


def _dropout() -> A.CoarseDropout:
    return A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15), fill=0, p=0.3)


def acquisition_shifts() -> list:
    """What changes between X-ray machines, sites and years, as random transforms.

    Independent x/y scaling matters here: the Kermany images were squashed to a square without
    keeping their aspect ratio, so the same anatomy arrives with different proportions.
    Exposure and processing (gamma, contrast, sharpness), detector noise, resolution and JPEG
    re-encoding are the others.
    """
    return [
        A.Affine(rotate=(-12, 12), scale={"x": (0.8, 1.2), "y": (0.8, 1.2)},
                 translate_percent=(-0.06, 0.06), border_mode=cv2.BORDER_CONSTANT, fill=0, p=0.8),
        A.RandomGamma(gamma_limit=(55, 180), p=0.7),
        A.RandomBrightnessContrast(brightness_limit=0.25, contrast_limit=0.35, p=0.7),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5), sigma_limit=(0.3, 1.5)),
                 A.Sharpen(alpha=(0.1, 0.4), lightness=(0.9, 1.1)),
                 A.Downscale(scale_range=(0.5, 0.95), interpolation_pair={"downscale": cv2.INTER_AREA, "upscale": cv2.INTER_LINEAR})], p=0.5),
        A.GaussNoise(std_range=(0.01, 0.06), p=0.35),
        A.ImageCompression(quality_range=(35, 95), p=0.3),
    ]


def validation_shift(seed: int) -> A.Compose:
    """A fixed, seeded set of acquisition shifts for validation under perturbation.

    The training split's own validation AUC saturates near 0.998 and says little about the
    official test split (see ../shared/data/README.md); scoring the same validation images after
    plausible acquisition shifts rewards the model that depends least on this hospital's look.
    Re-seed before every pass (``set_random_seed``) so each epoch sees identical images.
    """
    return A.Compose(acquisition_shifts(), seed=seed)

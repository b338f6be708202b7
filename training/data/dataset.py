"""A torch Dataset over ``Sample``s that uses the runtime's preprocessing, never its own."""

from __future__ import annotations

from dataclasses import dataclass, field

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.preprocess import PreprocessSettings, field_of_view, prepare_gray, to_model_input

from .samples import Sample


@dataclass
class LoadReport:
    """What happened while reading a split: unreadable files are counted, not fatal."""

    loaded: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file name, reason)

    def summary(self) -> str:
        text = f"{self.loaded} images loaded, {len(self.skipped)} skipped"
        if self.skipped:
            text += " (" + "; ".join(f"{name}: {why}" for name, why in self.skipped[:5])
            text += ", ..." if len(self.skipped) > 5 else ""
            text += ")"
        return text


def film_corners(height: int, width: int) -> np.ndarray:
    """Where a film's burned-in markers, time stamps and exposure text sit: outside the inscribed ellipse."""
    return field_of_view(height, width, 1.0) == 0


class XrayDataset(Dataset):
    """Decodes, equalises and resizes each image once (uint8, S x S) and keeps it in memory.

    At 224 px the whole Kermany train split is about 260 MB, and decoding once instead of every
    epoch leaves both cores to the model.

    ``corner_swap`` (training only) is the probability that an image is shown with the film corners
    of a random image of another class (the class drawn uniformly, then the image), lungs
    untouched. At (K - 1) / K for K classes (0.5 for the binary task) a corner's class is uniform
    whatever the label, so markers and text stop being a class cue (docs/experiments/2026-11-30-corner-swap.md).
    """

    def __init__(self, samples: list[Sample], preprocess: PreprocessSettings, augmentation: A.Compose | None = None,
                 corner_swap: float = 0.0):
        self.preprocess = preprocess
        self.augmentation = augmentation
        self.corner_swap = corner_swap
        self.report = LoadReport()
        self.samples: list[Sample] = []
        images = []
        for sample in samples:
            try:
                # Decoded as the Predictor decodes (a large JPEG shrunk inside the decoder), so that
                # a full-size film trains on the very pixels it is later predicted from.
                images.append(prepare_gray(decode_image(sample.path, reduce_to=preprocess.input_size), preprocess))
            except PneumoError as exc:
                self.report.skipped.append((sample.path.name, str(exc)))
                continue
            self.samples.append(sample)
        self.report.loaded = len(self.samples)
        size = preprocess.input_size
        self.images = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)
        self.corners = film_corners(size, size)
        self.by_class = {int(label): np.flatnonzero(self.labels == label) for label in np.unique(self.labels)}
        if corner_swap and len(self.by_class) < 2:
            raise ValueError("corner_swap needs training images of at least two classes")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        # torch's generator, not numpy's: DataLoader seeds it in every worker, so a run repeats
        # (for the same num_workers: the draws differ between 0 and several workers).
        if self.corner_swap and float(torch.rand(())) < self.corner_swap:
            image = image.copy()
            image[self.corners] = self.images[self._corner_donor(int(self.labels[index]))][self.corners]
        if self.augmentation is not None:
            image = self.augmentation(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(to_model_input(image, self.preprocess))), int(self.labels[index])

    def _corner_donor(self, label: int) -> int:
        """A random image of a random other class (with two classes, a random image of the other one)."""
        others = [c for c in self.by_class if c != label]
        donor_class = others[int(torch.randint(len(others), ()))] if len(others) > 1 else others[0]
        candidates = self.by_class[donor_class]
        return int(candidates[int(torch.randint(len(candidates), ()))])

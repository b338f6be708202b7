"""A torch Dataset over ``Sample``s that uses the runtime's preprocessing, never its own."""

from __future__ import annotations

from dataclasses import dataclass, field

import albumentations as A
import numpy as np
import torch
from torch.utils.data import Dataset

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.preprocess import PreprocessContract, prepare_gray, to_model_input

from .data import Sample


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


class XrayDataset(Dataset):
    """Decodes, equalises and resizes each image once (uint8, S x S) and keeps it in memory.

    At 224 px the whole Kermany train split is about 260 MB, and decoding once instead of every
    epoch leaves both cores to the model.
    """

    def __init__(self, samples: list[Sample], contract: PreprocessContract, augmentation: A.Compose | None = None):
        self.contract = contract
        self.augmentation = augmentation
        self.report = LoadReport()
        self.samples: list[Sample] = []
        images = []
        for sample in samples:
            try:
                images.append(prepare_gray(decode_image(sample.path), contract))
            except PneumoError as exc:
                self.report.skipped.append((sample.path.name, str(exc)))
                continue
            self.samples.append(sample)
        self.report.loaded = len(self.samples)
        size = contract.input_size
        self.images = np.stack(images) if images else np.zeros((0, size, size), np.uint8)
        self.labels = np.array([s.label for s in self.samples], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = self.images[index]
        if self.augmentation is not None:
            image = self.augmentation(image=image)["image"]
        return torch.from_numpy(np.ascontiguousarray(to_model_input(image, self.contract))), int(self.labels[index])

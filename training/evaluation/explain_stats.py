"""Explanation statistics over a whole split: where does the model look, per class, and how consistently?

Grad-CAM (Captum ``LayerGradCam`` on ``model.gradcam_layer()``) for each image's *true* class, so
the maps show the evidence the model uses for the right answer. For ``custom_cnn`` the same
statistics describe its spatial attention map. Per class: the mean heatmap, the centre of mass
(mean and spread, in image fractions: x from the image's left edge, y from its top), and the
consistency (mean pairwise Pearson correlation of the maps).
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from ..data.dataset import XrayDataset  # noqa: E402
from .sources import CheckpointSource, model_inputs  # noqa: E402

GRID = 56  # maps are compared on a common grid: feature maps differ in size between models
BATCH = 16


def gradcam_maps(model: torch.nn.Module, inputs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(N, GRID, GRID) non-negative Grad-CAM maps toward ``targets``."""
    from captum.attr import LayerGradCam

    cam = LayerGradCam(model, model.gradcam_layer())
    maps = []
    for i in range(0, len(inputs), BATCH):
        x = torch.from_numpy(inputs[i:i + BATCH])
        attribution = cam.attribute(x, target=torch.from_numpy(targets[i:i + BATCH]).long(), relu_attributions=True)
        maps.append(F.interpolate(attribution.detach(), size=(GRID, GRID), mode="bilinear", align_corners=False)[:, 0].numpy())
    return np.concatenate(maps)


@torch.no_grad()
def attention_maps(model: torch.nn.Module, inputs: np.ndarray) -> np.ndarray:
    maps = []
    for i in range(0, len(inputs), BATCH):
        attention = model.backbone.attention_map(torch.from_numpy(inputs[i:i + BATCH]))
        maps.append(F.interpolate(attention, size=(GRID, GRID), mode="bilinear", align_corners=False)[:, 0].numpy())
    return np.concatenate(maps)


def centre_of_mass(maps: np.ndarray) -> np.ndarray:
    """(N, 2) centres (x, y) in [0, 1]; NaN rows for all-zero maps (nothing to weigh)."""
    coordinates = (np.arange(GRID) + 0.5) / GRID
    mass = maps.sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        x = (maps.sum(axis=1) * coordinates).sum(axis=1) / mass
        y = (maps.sum(axis=2) * coordinates).sum(axis=1) / mass
    return np.stack([x, y], axis=1)


def mean_pairwise_correlation(maps: np.ndarray) -> float:
    """Mean Pearson correlation over all pairs of (non-constant) maps: 1 = always the same place."""
    flat = maps.reshape(len(maps), -1)
    flat = flat[flat.std(axis=1) > 0]
    if len(flat) < 2:
        return float("nan")
    correlation = np.corrcoef(flat)
    return float(correlation[np.triu_indices(len(flat), k=1)].mean())


def class_statistics(maps: np.ndarray, labels: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """Per class: count, centre of mass (mean, std), consistency, and the mean heatmap (max-normalised maps)."""
    peak = maps.max(axis=(1, 2), keepdims=True)
    normalised = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    statistics = {}
    for index, name in enumerate(classes):
        members = normalised[labels == index]
        centres = centre_of_mass(members)
        centres = centres[np.isfinite(centres).all(axis=1)]
        statistics[name] = {
            "n_images": int(len(members)), "n_empty_maps": int(len(members) - len(centres)),
            "centre_of_mass_mean": centres.mean(axis=0).tolist() if len(centres) else None,
            "centre_of_mass_std": centres.std(axis=0).tolist() if len(centres) else None,
            "consistency_mean_pairwise_correlation": mean_pairwise_correlation(members),
            "mean_heatmap": members.mean(axis=0).round(4).tolist() if len(members) else None,
        }
    return statistics


def plot_class_maps(statistics: dict[str, Any], title: str, path: Path) -> None:
    """Mean heatmap per class, centre of mass marked with its spread (±1 std)."""
    figure, axes = plt.subplots(1, len(statistics), figsize=(3.6 * len(statistics), 3.8), squeeze=False)
    for axis, (name, entry) in zip(axes[0], statistics.items(), strict=False):
        if entry["mean_heatmap"] is not None:
            axis.imshow(np.array(entry["mean_heatmap"]), cmap="inferno", extent=(0, 1, 1, 0), vmin=0)
        if entry["centre_of_mass_mean"] is not None:
            (x, y), (sx, sy) = entry["centre_of_mass_mean"], entry["centre_of_mass_std"]
            axis.errorbar(x, y, xerr=sx, yerr=sy, fmt="o", color="cyan", capsize=3)
        axis.set(title=f"{name} (n={entry['n_images']})\nconsistency {entry['consistency_mean_pairwise_correlation']:.2f}",
                 xticks=[], yticks=[])
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def explain_statistics(source: CheckpointSource, dataset: XrayDataset, out_dir: Path, max_images: int, seed: int) -> dict[str, Any]:
    """Grad-CAM (and attention, for custom_cnn) statistics; figures written next to the report."""
    indices = list(range(len(dataset)))
    if max_images and max_images < len(indices):
        indices = sorted(random.Random(seed).sample(indices, max_images))
    inputs, labels = model_inputs(dataset.images[indices], source.preprocess), dataset.labels[indices]
    model = source.model.eval()
    result: dict[str, Any] = {"method": "captum LayerGradCam on model.gradcam_layer(), target = true class, ReLU, "
                                        f"upsampled to {GRID}x{GRID}, each map scaled to max 1",
                              "n_images": len(indices), "subset": len(indices) < len(dataset), "figures": []}
    maps = {"gradcam": gradcam_maps(model, inputs, labels)}
    if hasattr(model.backbone, "attention_map"):
        maps["attention"] = attention_maps(model, inputs)
    for kind, kind_maps in maps.items():
        result[kind] = class_statistics(kind_maps, labels, source.classes)
        figure = f"explain_{kind}.png"
        plot_class_maps(result[kind], f"{kind}: mean map per true class ({len(indices)} images)", out_dir / figure)
        result["figures"].append(figure)
    result["summary_lines"] = [summary_line(kind, name, entry) for kind in maps for name, entry in result[kind].items()]
    return result


def summary_line(kind: str, name: str, entry: dict[str, Any]) -> str:
    if entry["centre_of_mass_mean"] is None:
        return f"- {kind}, {name}: every map is empty (n={entry['n_images']}): nothing in the last feature map raises this class"
    (x, y), (sx, sy) = entry["centre_of_mass_mean"], entry["centre_of_mass_std"]
    return (f"- {kind}, {name}: centre of mass x {x:.2f}±{sx:.2f}, y {y:.2f}±{sy:.2f}; consistency "
            f"{entry['consistency_mean_pairwise_correlation']:.2f}; {entry['n_empty_maps']} empty of {entry['n_images']} maps")

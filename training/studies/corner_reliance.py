"""How much a model's validation predictions rest on the film corners, measured without test.

The corners of a chest film carry burned-in markers, time stamps and exposure text, not lung.
Here every validation image gets the corners (everything outside the inscribed ellipse) of a
random validation image *of another class*, the lungs left as they are. A model that reads the
anatomy keeps its AUC; a model that learned the corners as a class cue loses it, and normals with
a pneumonia film's corners drift towards PNEUMONIA, which is the test split's failure mode.

    python -m pneumo.training.studies.corner_reliance runs/A/best.pt [runs/B/best.pt ...] --data ../shared/data/kermany_224

The swap itself leaves a trace: a seam at the ellipse where two films meet. A model trained with
corner swap can learn "seam and pneumonia corners: normal", which the other-class check would
score as corner-blind, or better. So every image is also given the corners of another image *of
its own class*: a seam, but no change of corner class. A model that reads only the anatomy moves
under neither swap; one that reads the corners' class moves under the other-class swap only; one
that reads the seam moves under the same-class swap too, and the other-class AUC then rises above
its own.

A model whose own field of view hides at least those corners (``ellipse_mask`` <= 1) is unaffected by
construction; the report shows that too, so the numbers of every model sit side by side.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from pneumo_runtime.decision import softmax
from pneumo_runtime.json_file import write_json

from ..arguments import add_threads_flag, apply_threads
from ..calibration.calibrate import check_same_split, validation_dataset
from ..checkpoint import CheckpointError, model_from_checkpoint
from ..data.dataset import XrayDataset
from ..fit.trainer import ValidationScorer

SWAP_SEED = 0


def corner_swapped(dataset: XrayDataset, seed: int = SWAP_SEED, donors: str = "other") -> XrayDataset:
    """A copy of ``dataset`` whose images carry the corners of a random image of another class
    (``donors="other"``) or of another image of the same class (``"same"``: the seam control)."""
    labels = dataset.labels
    # A seeded numpy draw, not the training draw (XrayDataset._corner_donor): every model is
    # scored on the very same swapped images.
    pools = {label: np.flatnonzero((labels != label) if donors == "other" else (labels == label)) for label in dataset.by_class}
    rng = np.random.default_rng(seed)
    chosen = np.array([rng.choice(pools[int(label)][pools[int(label)] != index]) for index, label in enumerate(labels)])
    corners = dataset.corners
    swapped = copy.copy(dataset)
    swapped.images = dataset.images.copy()
    swapped.images[:, corners] = dataset.images[chosen][:, corners]
    return swapped


def corner_reliance(checkpoint: Path, data: str | None = None, ellipse_mask: float | None = None) -> dict[str, Any]:
    """Validation AUC (clean, shifted) with the model's own corners, then with swapped ones, and how P(pneumonia) moves.

    ``ellipse_mask`` scores the model under another field of view than its contract's (a study of
    what masking alone does to weights trained without it); None keeps the model's own.
    """
    loaded = model_from_checkpoint(checkpoint)
    contract = loaded.preprocess if ellipse_mask is None else dataclasses.replace(loaded.preprocess, ellipse_mask=ellipse_mask)
    config = dataclasses.replace(loaded.config, shift_validation=True, num_workers=0)
    val_set = validation_dataset(config, contract, data)
    check_same_split(val_set, loaded.checkpoint)
    scorer = ValidationScorer(val_set, config, torch.device("cpu"))
    own = scorer.logits(loaded.model)
    unshifted = dataclasses.replace(config, shift_validation=False, monitor="auc")
    swapped, same_class = (ValidationScorer(corner_swapped(val_set, donors=donors), unshifted, torch.device("cpu")).logits(loaded.model)["clean"]
                           for donors in ("other", "same"))
    metrics = scorer.metrics(own)
    results: dict[str, Any] = {"checkpoint": str(checkpoint), "ellipse_mask": contract.ellipse_mask, "images": len(val_set),
                               "auc_own_corners": metrics["auc"], "shift_auc": metrics["shift_auc"], "loss": metrics["loss"],
                               "auc_swapped_corners": scorer.metrics({"clean": swapped})["auc"],
                               "auc_same_class_corners": scorer.metrics({"clean": same_class})["auc"]}
    if len(loaded.classes) == 2:  # binary: how far the corners move P(pneumonia), and which way for normals
        p_own, p_swapped, p_same = (softmax(logits)[:, 1] for logits in (own["clean"], swapped, same_class))
        normals = val_set.labels == 0
        results["mean_abs_change_p"] = float(np.abs(p_swapped - p_own).mean())
        results["mean_abs_change_p_same_class"] = float(np.abs(p_same - p_own).mean())
        results["normals_mean_p_own"] = float(p_own[normals].mean())
        results["normals_mean_p_swapped"] = float(p_swapped[normals].mean())
        results["normals_mean_p_same_class"] = float(p_same[normals].mean())
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.training.studies.corner_reliance", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoints", nargs="+", type=Path, help="best.pt of runs (or shipped .pt files) sharing a validation split")
    parser.add_argument("--data", help="where the training data lives now (default: the path stored in the checkpoint)")
    parser.add_argument("--ellipse-mask", type=float, help="score under this field of view instead of each model's own (0: none)")
    parser.add_argument("--out", type=Path, help="also write the results as JSON here")
    add_threads_flag(parser)
    args = parser.parse_args(argv)
    apply_threads(args.threads)
    try:
        if args.out:  # before the minutes of scoring, not after: a folder that cannot exist fails now
            args.out.parent.mkdir(parents=True, exist_ok=True)
        results = [corner_reliance(path, args.data, args.ellipse_mask) for path in args.checkpoints]
    except (CheckpointError, ValueError, OSError) as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 2
    for entry in results:
        print(json.dumps(entry))
    if args.out:
        write_json(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())

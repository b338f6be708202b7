"""Full-size films against their Kermany 224 px copies, under three ways of bringing a film to 224 px.

    python scripts/fullsize_pairs.py [--data ../shared/data] [--model default]

Prints, per preprocessing, mean and max |dP|, NORMAL<->PNEUMONIA flips and REFER counts over the
48 pairs (docs/experiments/2026-12-02-outside-the-training-hospital.md). The first two rows swap
the runtime's resize step for the orders it replaced; the last is the runtime as it is.
"""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

import cv2
import numpy as np

from pneumo_runtime.data_root import data_root

preprocess = importlib.import_module("pneumo_runtime.preprocess")
predictor_module = importlib.import_module("pneumo_runtime.predictor")


def clahe_then_resize(gray, contract):  # the runtime before: CLAHE at the film's own size
    equalised = contract.clahe.apply(gray)
    size = contract.input_size
    return equalised if equalised.shape == (size, size) else cv2.resize(equalised, (size, size), interpolation=cv2.INTER_AREA)


def resize_then_clahe(gray, contract):  # the order alone, no JPEG re-encoding
    size = contract.input_size
    return contract.clahe.apply(gray if gray.shape == (size, size) else cv2.resize(gray, (size, size), interpolation=cv2.INTER_AREA))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data_root())
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    films = sorted((args.data / "kermany_fullres_sample" / "train").glob("*/*.jpeg"))
    pairs = [(film, args.data / "kermany_224" / "train" / film.parent.name / film.name) for film in films]
    for name, prepare in (("CLAHE, then resize", clahe_then_resize), ("resize, then CLAHE", resize_then_clahe),
                          ("resize, JPEG q75, then CLAHE (runtime)", preprocess.prepare_gray)):
        predictor_module.prepare_gray = prepare  # the one step the Predictor takes from this module
        predictor = predictor_module.Predictor(args.model, threads=2)
        results = [(predictor.predict(full), predictor.predict(copy)) for full, copy in pairs]
        kept = [(a, b) for a, b in results if a.p_pneumonia is not None and b.p_pneumonia is not None]
        change = [abs(a.p_pneumonia - b.p_pneumonia) for a, b in kept]
        flips = sum((a.label == "NORMAL") != (b.label == "NORMAL") for a, b in kept)
        print(f"{name:40s} pairs {len(kept)}/{len(pairs)}  mean|dP| {np.mean(change):.4f}  max {np.max(change):.3f}  flips {flips}  "
              f"REFER full {sum(a.decision == 'REFER' for a, _ in kept)} / copy {sum(b.decision == 'REFER' for _, b in kept)}")


if __name__ == "__main__":
    main()

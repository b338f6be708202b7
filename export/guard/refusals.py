"""What the input guard refuses, through the whole Predictor, on real films and on their negatives.

    python -m pneumo.export.guard.refusals [--data ../shared/data] [--model default]

Official test films as they are, inverted, and turned by 90 degrees; the 48 full-size training
films as they are and inverted. Prints each set's decisions and the refusals' reasons
(docs/experiments/2026-12-02-outside-the-training-hospital.md).
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import cv2
import numpy as np

from pneumo_runtime.data_root import data_root
from pneumo_runtime.predictor import Predictor


def png(gray: np.ndarray) -> bytes:
    return cv2.imencode(".png", np.ascontiguousarray(gray))[1].tobytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=data_root())
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    predictor = Predictor(args.model, threads=2)
    test = sorted((args.data / "kermany_224" / "test").glob("*/*.jpeg"))
    full = sorted((args.data / "kermany_fullres_sample" / "train").glob("*/*.jpeg"))
    gray = lambda path: cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)  # noqa: E731
    sets = {
        "official test": test,
        "official test, inverted": [png(255 - gray(f)) for f in test],
        "official test, turned 90 degrees": [png(np.rot90(gray(f))) for f in test],
        "full-size training films": full,
        "full-size training films, inverted": [png(255 - gray(f)) for f in full],
    }
    for name, films in sets.items():
        decisions, reasons = collections.Counter(), collections.Counter()
        for film in films:
            result = predictor.predict(film)
            decisions[result.decision] += 1
            if result.decision == "REJECTED":
                reasons[result.reason.split(":")[0].split(" (")[0]] += 1
        shown = ", ".join(f"{k} {v} ({v / len(films):.1%})" for k, v in sorted(decisions.items()))
        print(f"{name} ({len(films)}): {shown}; refused because: {dict(reasons)}")


if __name__ == "__main__":
    main()

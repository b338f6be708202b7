"""``python -m pneumo.export.guard.layout_fit``: the frontal-film template of pneumo_runtime.film_layout.

The template is the mean 8 x 8 layout thumbnail of the training films (``train/`` of a Kermany-style
folder: the official test split is never read). The cut-off sits below the lowest correlation of
any training film, by ``MARGIN``: a false refusal costs a clinician a second opinion.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from pneumo_runtime.film_layout import LAYOUT_SIDE, TEMPLATE_FILE, layout_thumbnail
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.json_file import write_json
from pneumo_runtime.preprocess import PreprocessSettings, prepare_gray

MARGIN = 0.9  # the cut-off is 90% of the lowest training film's correlation
DEFAULT_OUT = Path(__file__).resolve().parents[2] / "pneumo_runtime" / TEMPLATE_FILE


def fit(train_folder: Path) -> dict:
    settings = PreprocessSettings()  # every shipped model's preprocessing up to CLAHE
    files = sorted(train_folder.rglob("*.jpeg"))
    if not files:
        raise SystemExit(f"layout_fit: no .jpeg files under {train_folder}")
    thumbs = np.array([layout_thumbnail(prepare_gray(decode_image(f), settings)) for f in files])
    template = thumbs.mean(axis=0)
    template /= np.linalg.norm(template)
    correlations = thumbs @ template
    return {
        "template": [round(float(v), 5) for v in template],
        "side": LAYOUT_SIDE,
        "min_correlation": round(float(correlations.min() * MARGIN), 3),
        "fitted_on": f"{len(files)} films of {train_folder.parent.name}/{train_folder.name}",
        "training_correlation": {"min": round(float(correlations.min()), 3),
                                 "p01": round(float(np.quantile(correlations, 0.01)), 3),
                                 "median": round(float(np.median(correlations)), 3)},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.export.guard.layout_fit", description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="a Kermany-style folder; its train/ is read")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    layout = fit(args.data / "train")
    write_json(args.out, layout)
    print(f"wrote {args.out}: cut-off {layout['min_correlation']}, training films {layout['training_correlation']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

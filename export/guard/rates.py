"""The input guard's two rates, measured with a real model:

- false rejections on real chest X-rays (default: the 624 official test images), target <= 1%;
- rejections of non-X-ray images (tests/runtime/guard_corpus.py), target >= 95%.

    python -m pneumo.export.guard.rates [--model pneumo_runtime/models/default.onnx] [--xrays ../shared/data/kermany_224/test]

An image refused by the input checks (constant, too small, unsupported) counts as rejected: it
gets no pneumonia probability either.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pneumo_runtime.batch import IMAGE_SUFFIXES
from pneumo_runtime.data_root import data_root
from pneumo_runtime.decision import REJECTED
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Predictor

CHECKOUT = Path(__file__).resolve().parents[2]
DEFAULT_XRAYS = data_root() / "kermany_224" / "test"


def non_xray_images() -> dict[str, bytes]:
    """The tests' corpus of images that are not X-rays (tests/runtime/guard_corpus.py): a checkout only."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("guard_corpus", CHECKOUT / "tests" / "runtime" / "guard_corpus.py")
    if spec is None or spec.loader is None or not Path(spec.origin or "").is_file():
        raise SystemExit("rates: run this from a checkout of pneumo: the non-X-ray corpus is tests/runtime/guard_corpus.py")
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    return corpus.non_xray_images()


def rejected(predictor: Predictor, source) -> tuple[bool, str]:
    try:
        result = predictor.predict(source)
    except PneumoError as error:
        return True, str(error)
    return result.decision == REJECTED, result.reason


def measure(predictor: Predictor, xray_paths: list[Path]) -> dict:
    false_rejections = [(p.name, why) for p in xray_paths for is_rejected, why in [rejected(predictor, p)] if is_rejected]
    corpus = non_xray_images()
    accepted = [name for name, data in corpus.items() if not rejected(predictor, data)[0]]
    return {
        "xrays": len(xray_paths),
        "false_rejection_rate": len(false_rejections) / max(len(xray_paths), 1),
        "false_rejections": false_rejections,
        "non_xrays": len(corpus),
        "rejection_rate": 1 - len(accepted) / len(corpus),
        "accepted_non_xrays": accepted,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--xrays", type=Path, default=DEFAULT_XRAYS, help="folder of real chest X-rays (searched recursively)")
    args = parser.parse_args()
    paths = sorted(p for p in args.xrays.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    print(json.dumps(measure(Predictor(args.model), paths), indent=1))


if __name__ == "__main__":
    main()

"""The input guard, with the model that ships in the package, on real X-rays and non-X-rays.

The full measurement (624 official test X-rays) is ``python -m benchmarks.guard_rates``; this
test holds the shipped model to the same two targets on the fixtures.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

from pneumo_runtime.decision import REJECTED
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.guard import mirror_symmetry
from pneumo_runtime.predictor import Predictor, default_model_path

sys.path.insert(0, str(Path(__file__).parents[2]))
from benchmarks.guard_corpus import non_xray_images  # noqa: E402

EXAMPLES = Path(__file__).parents[2] / "examples"


def test_mirror_symmetry_of_symmetric_and_antisymmetric_images():
    ramp = np.tile(np.linspace(0, 255, 64), (64, 1))
    symmetric = np.minimum(ramp, ramp[:, ::-1]).astype(np.uint8)
    assert mirror_symmetry(symmetric) == pytest.approx(1.0, abs=1e-6)
    assert mirror_symmetry(ramp.astype(np.uint8)) == pytest.approx(-1.0, abs=1e-2)


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    assert default_model_path().is_file(), "the default model must ship inside pneumo_runtime/models"
    return Predictor()


def is_rejected(predictor: Predictor, source) -> bool:
    try:
        return predictor.predict(source).decision == REJECTED
    except PneumoError:
        return True


def test_real_xrays_are_not_rejected(shipped, fixture_images, fullres_images):
    xrays = [*fixture_images, *fullres_images, *sorted(EXAMPLES.glob("*.jpeg"))]
    rejected = [p.name for p in xrays if is_rejected(shipped, p)]
    assert rejected == []


def test_non_xrays_are_rejected_at_least_95_percent(shipped):
    corpus = non_xray_images()
    accepted = [name for name, data in corpus.items() if not is_rejected(shipped, data)]
    assert len(corpus) >= 80
    assert 1 - len(accepted) / len(corpus) >= 0.95, accepted

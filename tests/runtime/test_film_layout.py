"""The layout check: frontal films pass; negatives, turned films and other images are refused, each
with its own reason."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from pneumo_runtime.film_layout import layout_correlations, layout_refusal
from pneumo_runtime.inputs import decode_image
from pneumo_runtime.predictor import Predictor
from pneumo_runtime.preprocess import PreprocessSettings, prepare_gray
from pneumo_runtime.scope import ADULT_FILM, TURN_HINT

from ..conftest import SHARED_DATA


def prepared(gray: np.ndarray) -> np.ndarray:
    return prepare_gray(gray, PreprocessSettings())


def test_real_films_pass_and_their_negatives_are_named(fixture_images, fullres_images):
    for path in fixture_images + fullres_images:
        gray = decode_image(path, reduce_to=224)
        assert layout_refusal(prepared(gray)) is None, path.name
        reason = layout_refusal(prepared(255 - gray))
        assert reason is not None and reason.startswith("negative (inverted) film"), (path.name, reason)


def test_turned_films_are_refused_with_their_turn(fixture_images):
    for path in fixture_images:
        gray = decode_image(path)
        for quarter in (1, 3):
            reason = layout_refusal(prepared(np.ascontiguousarray(np.rot90(gray, quarter))))
            assert reason is not None and f"turned by {90 * quarter} degrees" in reason, (path.name, quarter, reason)


def test_a_layout_unlike_a_chest_film_is_refused():
    rows = np.linspace(0, 255, 224, dtype=np.float32)
    stripes = np.uint8(127 + 120 * np.sin(np.add.outer(rows, rows) / 9))  # no chest anywhere
    assert np.abs(layout_correlations(prepared(stripes))).max() < 0.25
    assert layout_refusal(prepared(stripes)).startswith("not a frontal chest film")


def test_predictor_rejects_a_negative_full_size_film(fullres_images):
    gray = cv2.imread(str(fullres_images[0]), cv2.IMREAD_GRAYSCALE)
    negative = cv2.imencode(".png", 255 - gray)[1].tobytes()
    result = Predictor(threads=1).predict(negative)
    assert result.decision == "REJECTED" and result.probabilities == {}
    assert result.reason.startswith("negative (inverted) film")


def test_fit_writes_a_template_the_runtime_reads(kermany_mini, tmp_path):
    from pneumo.export.guard.layout_fit import main

    out = tmp_path / "film_layout.json"
    assert main(["--data", str(kermany_mini), "--out", str(out)]) == 0
    layout = json.loads(out.read_text())
    assert len(layout["template"]) == 64 and abs(np.linalg.norm(layout["template"]) - 1) < 1e-3
    assert 0 < layout["min_correlation"] < layout["training_correlation"]["min"]


@pytest.mark.slow
def test_official_test_films_pass_and_their_negatives_do_not():
    """At most 1% of the real pediatric test films refused by the whole guard; every negative refused."""
    folder = SHARED_DATA / "kermany_224" / "test"
    if not folder.is_dir():
        pytest.skip("shared Kermany data not present")
    predictor = Predictor(threads=2)
    films = sorted(folder.glob("*/*.jpeg"))
    refused = sum(predictor.predict(f).decision == "REJECTED" for f in films)
    negatives = [predictor.predict(cv2.imencode(".png", 255 - cv2.imread(str(f), cv2.IMREAD_GRAYSCALE))[1].tobytes()) for f in films[::4]]
    assert refused <= 0.01 * len(films)
    # Every negative is refused; it is named a negative unless the model reads the film as an
    # adult's, which then says so and asks to check the orientation (docs/experiments/2026-12-07-scope.md).
    assert all(n.decision == "REJECTED" and (n.reason.startswith("negative") or n.reason == ADULT_FILM + TURN_HINT) for n in negatives)
    assert sum(n.reason.startswith("negative") for n in negatives) >= 0.95 * len(negatives)

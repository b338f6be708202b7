"""Each stage of the input guard on its own: colour, aspect ratio, layout, symmetry and feature
distance each refuse with their own reason, and each cut-off is pinned at a real film's own value
(passes) and at the next value beyond it (refused). Everything runs through the Predictor, so a
stage that is skipped, reordered or compared the wrong way makes a test fail.
"""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import pytest

from pneumo_runtime import film_layout as film_layout_module
from pneumo_runtime.contract import GUARD_NAME, ModelContract
from pneumo_runtime.decision import REJECTED
from pneumo_runtime.guard import SYMMETRY_SIDE, GuardSettings, InputGuard, mirror_symmetry
from pneumo_runtime.inputs import load_image
from pneumo_runtime.predictor import Predictor
from pneumo_runtime.preprocess import prepare_gray, to_model_input


@pytest.fixture(scope="module")
def shipped() -> Predictor:
    return Predictor(threads=1)


@pytest.fixture
def guarded(shipped):
    """The shipped predictor with guard settings to be replaced by each test, restored afterwards."""
    original = shipped.guard
    yield shipped
    shipped.guard = original


def beyond(value: float, direction: float) -> float:
    """The next float64 after ``value`` towards ``direction``: the smallest step past a cut-off."""
    return float(np.nextafter(value, direction))


def outcome(predictor: Predictor, source, **settings) -> tuple[str, str]:
    predictor.guard = InputGuard(replace(predictor.contract.guard, **settings))
    prediction = predictor.predict(source)
    return prediction.decision, prediction.reason


def film_bytes(path, transform=None) -> bytes:
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    return cv2.imencode(".png", transform(image) if transform else image)[1].tobytes()


def tinted(image: np.ndarray) -> np.ndarray:
    """A real film with a faint warm cast, as a photo of a film on a light box might have."""
    out = image.astype(np.int16)
    out[..., 2] += 12
    out[..., 0] -= 12
    return np.clip(out, 0, 255).astype(np.uint8)


def test_colour_cut_off(guarded, fullres_images):
    source = film_bytes(fullres_images[0], tinted)
    colourfulness = load_image(source).colourfulness
    assert colourfulness > 0
    assert outcome(guarded, source, max_colourfulness=colourfulness)[0] != REJECTED
    decision, reason = outcome(guarded, source, max_colourfulness=beyond(colourfulness, 0))
    assert decision == REJECTED
    assert reason == f"not a chest X-ray: a colour image (colourfulness {colourfulness:.0f} > {beyond(colourfulness, 0):.0f})"


def test_aspect_ratio_cut_off(guarded, fullres_images):
    """A real film at its own, wide proportions (1.89:1): the cut-off at exactly that ratio passes it."""
    source = next(p for p in fullres_images if "bacteria" in p.name)
    gray = load_image(source, reduce_to=guarded.contract.preprocess.input_size).gray
    aspect = max(gray.shape) / min(gray.shape)
    assert aspect > 1.5
    assert outcome(guarded, source, max_aspect_ratio=aspect)[0] != REJECTED
    decision, reason = outcome(guarded, source, max_aspect_ratio=beyond(aspect, 0))
    assert decision == REJECTED and reason == f"not a chest X-ray: aspect ratio {aspect:.1f}:1 is too elongated"
    assert "aspect ratio" in outcome(guarded, np.ascontiguousarray(np.rot90(gray)), max_aspect_ratio=beyond(aspect, 0))[1]  # either way round


def test_colour_is_checked_before_the_aspect_ratio(guarded, fullres_images):
    """A colour image is called a colour image, whatever else is wrong with it."""
    source = film_bytes(fullres_images[0], lambda image: tinted(image)[:, : image.shape[0] // 3])
    decision, reason = outcome(guarded, source, max_colourfulness=0.5, max_aspect_ratio=2.5)
    assert decision == REJECTED and "a colour image" in reason


def layout_with_cut_off(monkeypatch, cutoff: float) -> None:
    fitted = film_layout_module.film_layout()
    monkeypatch.setattr(film_layout_module, "film_layout", lambda: {**fitted, "min_correlation": cutoff})


def test_layout_cut_off(guarded, fullres_images, monkeypatch):
    source = fullres_images[0]
    prepared = prepare_gray(load_image(source, reduce_to=224).gray, guarded.contract.preprocess)
    correlation = float(film_layout_module.layout_correlations(prepared)[0])
    layout_with_cut_off(monkeypatch, correlation)
    assert outcome(guarded, source)[0] != REJECTED
    layout_with_cut_off(monkeypatch, beyond(correlation, 1))
    decision, reason = outcome(guarded, source)
    assert decision == REJECTED and reason.startswith("not a frontal chest film: its layout is unlike a frontal chest X-ray")
    assert f"correlation {correlation:.2f} <" in reason


def test_the_shipped_layout_cut_off_is_the_fitted_one():
    """The runtime reads the cut-off the fit wrote (0.38 and up on every training film, README)."""
    assert film_layout_module.film_layout()["min_correlation"] == pytest.approx(0.2, abs=0.2)
    assert film_layout_module.turned_templates().shape == (4, film_layout_module.LAYOUT_SIDE ** 2)


def test_symmetry_cut_off(guarded, fullres_images):
    source = fullres_images[0]
    prepared = prepare_gray(load_image(source, reduce_to=224).gray, guarded.contract.preprocess)
    symmetry = mirror_symmetry(prepared)
    assert outcome(guarded, source, min_symmetry=symmetry)[0] != REJECTED
    decision, reason = outcome(guarded, source, min_symmetry=beyond(symmetry, 1))
    assert decision == REJECTED and reason == f"not a chest X-ray: no left-right chest layout (symmetry {symmetry:.2f} < {beyond(symmetry, 1):.2f})"
    assert outcome(guarded, source, min_symmetry=None)[0] != REJECTED  # no cut-off: no check


def test_symmetry_is_the_mirror_correlation_at_32_px(fullres_images):
    prepared = prepare_gray(load_image(fullres_images[1], reduce_to=224).gray, Predictor(threads=1).contract.preprocess)
    thumb = cv2.resize(prepared, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    assert SYMMETRY_SIDE == 32
    assert mirror_symmetry(prepared) == pytest.approx(np.corrcoef(thumb.ravel(), thumb[:, ::-1].ravel())[0, 1], abs=1e-9)
    assert mirror_symmetry(np.full((64, 64), 7, np.uint8)) == 0.0  # a flat image has no layout, and no division by zero
    nearly_flat = np.full((32, 32), 100, np.uint8)
    nearly_flat[0, 0] = 101  # the least contrast an 8-bit image can have: still measured, not taken for flat
    expected = np.corrcoef(nearly_flat.astype(np.float64).ravel(), nearly_flat[:, ::-1].astype(np.float64).ravel())[0, 1]
    assert expected != 0 and mirror_symmetry(nearly_flat) == pytest.approx(expected, abs=1e-12)


def test_feature_distance_cut_off(guarded, fullres_images):
    source = fullres_images[1]
    prepared = prepare_gray(load_image(source, reduce_to=224).gray, guarded.contract.preprocess)
    distance = float(guarded.model.outputs(to_model_input(prepared, guarded.contract.preprocess)[None])[GUARD_NAME][0])
    assert 0 < distance < guarded.contract.guard.max_feature_distance
    assert outcome(guarded, source, max_feature_distance=distance)[0] != REJECTED
    decision, reason = outcome(guarded, source, max_feature_distance=beyond(distance, 0))
    assert decision == REJECTED
    assert reason == f"not a chest X-ray: image content unlike the training X-rays (distance {distance:.3f} > {beyond(distance, 0):.3f})"
    assert outcome(guarded, source, max_feature_distance=None)[0] != REJECTED  # no cut-off: no check


def test_after_inference_without_a_distance_passes():
    assert InputGuard(GuardSettings(max_feature_distance=0.1)).after_inference(None) is None
    assert InputGuard(GuardSettings(max_feature_distance=0.1)).after_inference(0.1) is None
    assert InputGuard(GuardSettings()).after_inference(5.0) is None


def test_a_contract_without_guard_settings_gets_the_documented_defaults():
    """Contracts written before the guard existed: colourfulness 12, aspect 2.5:1, no symmetry or feature check."""
    settings = Predictor(threads=1).contract.to_dict()
    del settings["guard"]
    guard = ModelContract.from_dict(settings).guard
    assert (guard.max_colourfulness, guard.max_aspect_ratio, guard.min_symmetry, guard.max_feature_distance) == (12.0, 2.5, None, None)


def inverted_film(path) -> np.ndarray:
    return prepare_gray(255 - load_image(path, reduce_to=224).gray, Predictor(threads=1).contract.preprocess)


def test_a_negative_is_named_only_when_it_matches_clearly(fullres_images, monkeypatch):
    """NAMING_MARGIN: a film is called a negative (or turned) only when it matches that template by
    at least 1.2 times the cut-off; a weaker match is only "unlike a frontal film"."""
    prepared = inverted_film(fullres_images[0])
    correlations = film_layout_module.layout_correlations(prepared)
    best = float(correlations[np.abs(correlations).argmax()])
    assert best < 0 and film_layout_module.NAMING_MARGIN == 1.2
    cutoff = abs(best) / 1.2
    while cutoff * 1.2 > abs(best):  # the largest cut-off whose margin the match still reaches
        cutoff = beyond(cutoff, 0)
    layout_with_cut_off(monkeypatch, cutoff)
    assert film_layout_module.layout_refusal(prepared) == (
        f"negative (inverted) film: dark and bright are swapped (layout correlation {best:.2f}); "
        "submit the positive image, or a DICOM whose Photometric Interpretation says MONOCHROME1")
    layout_with_cut_off(monkeypatch, beyond(cutoff, 1))
    assert film_layout_module.layout_refusal(prepared).startswith("not a frontal chest film: its layout is unlike a frontal chest X-ray")


def test_turned_and_turned_negative_films_are_named_with_their_turn(fullres_images):
    upright = prepare_gray(load_image(fullres_images[0], reduce_to=224).gray, Predictor(threads=1).contract.preprocess)
    turned = np.ascontiguousarray(np.rot90(upright))
    best = float(film_layout_module.layout_correlations(turned)[1])
    assert film_layout_module.layout_refusal(turned) == f"film turned by 90 degrees counter-clockwise (layout correlation {best:.2f}): submit it upright"
    negative = np.ascontiguousarray(np.rot90(255 - upright, 2))
    assert film_layout_module.layout_refusal(negative).startswith("negative (inverted) film, turned by 180 degrees counter-clockwise: dark and bright")


def test_a_flat_image_has_no_layout():
    flat = np.full((224, 224), 90, np.uint8)
    assert not film_layout_module.layout_thumbnail(flat).any()
    assert film_layout_module.layout_refusal(flat).startswith("not a frontal chest film: its layout is unlike a frontal chest X-ray (correlation 0.00 <")
    assert film_layout_module.layout_refusal(flat).endswith("a lateral view, a crop or another body part?)")


def test_the_layout_thumbnail_is_the_centred_unit_8_px_image(fullres_images):
    prepared = prepare_gray(load_image(fullres_images[1], reduce_to=224).gray, Predictor(threads=1).contract.preprocess)
    thumb = cv2.resize(prepared, (8, 8), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    expected = (thumb - thumb.mean()) / np.linalg.norm(thumb - thumb.mean())
    np.testing.assert_allclose(film_layout_module.layout_thumbnail(prepared), expected, atol=1e-12)
    template = np.asarray(film_layout_module.film_layout()["template"]).reshape(8, 8)
    np.testing.assert_allclose(film_layout_module.layout_correlations(prepared),
                               [np.rot90(template, quarter).ravel() @ expected for quarter in range(4)], atol=1e-12)


def test_the_named_fault_is_the_turn_and_inversion_that_undo_it(fullres_images):
    """``named_fault`` says how a refused film is turned or inverted; ``undo_fault`` gives the film
    back upright and positive. Upright films and films that are merely unlike a chest film name none."""
    upright = prepare_gray(load_image(fullres_images[1], reduce_to=224).gray, Predictor(threads=1).contract.preprocess)
    assert film_layout_module.named_fault(upright) is None
    assert film_layout_module.named_fault(np.full((224, 224), 90, np.uint8)) is None
    # Every turn and inversion of this film is named, but for a half turn of the positive film.
    for quarter, negative in [(0, True), (1, False), (1, True), (2, True), (3, False), (3, True)]:
        faulty = np.ascontiguousarray(np.rot90(255 - upright if negative else upright, quarter))
        assert film_layout_module.named_fault(faulty) == (quarter, negative)
        np.testing.assert_array_equal(film_layout_module.undo_fault(faulty, quarter, negative), upright)


def test_a_fault_is_named_exactly_from_the_naming_margin(fullres_images, monkeypatch):
    prepared = inverted_film(fullres_images[0])
    best = abs(float(film_layout_module.layout_correlations(prepared)[0]))
    cutoff = best / 1.2
    while cutoff * 1.2 > best:
        cutoff = beyond(cutoff, 0)
    layout_with_cut_off(monkeypatch, cutoff)
    assert film_layout_module.named_fault(prepared) == (0, True)
    layout_with_cut_off(monkeypatch, beyond(cutoff, 1))
    assert film_layout_module.named_fault(prepared) is None


def test_a_film_at_the_layout_cut_off_passes_even_if_a_turned_template_matches_better(fullres_images, monkeypatch):
    """The upright correlation decides first: at exactly the cut-off the film passes, and no fault is
    named from the turned templates, however well one of them matches."""
    upright = prepare_gray(load_image(fullres_images[0], reduce_to=224).gray, Predictor(threads=1).contract.preprocess)
    turned = np.ascontiguousarray(np.rot90(upright, 2))  # upside down: 0.77 with the upright template, 0.94 with the half-turned one
    correlations = film_layout_module.layout_correlations(turned)
    assert 0 < correlations[0] and np.abs(correlations).max() >= 1.2 * correlations[0]
    layout_with_cut_off(monkeypatch, float(correlations[0]))
    assert film_layout_module.named_fault(turned) is None and film_layout_module.layout_refusal(turned) is None


def test_the_least_contrast_thumbnail_is_still_unit_length():
    nearly_flat = np.full((224, 224), 100, np.uint8)
    nearly_flat[:28, :28] = 101  # one thumbnail pixel brighter by one grey level
    thumb = film_layout_module.layout_thumbnail(nearly_flat)
    assert np.linalg.norm(thumb) == pytest.approx(1.0, abs=1e-12)

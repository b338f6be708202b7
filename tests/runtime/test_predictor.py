import shutil

import cv2
import numpy as np
import pytest

from pneumo_runtime.decision import REJECTED
from pneumo_runtime.errors import ImageDecodeError, ModelError, PneumoError
from pneumo_runtime.predictor import Prediction, Predictor


@pytest.fixture(scope="module")
def predictor(tiny_model) -> Predictor:
    return Predictor(tiny_model, threads=1)


def test_path_bytes_and_array_give_the_same_prediction(predictor, fullres_images):
    path = fullres_images[0]
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    results = [predictor.predict(path), predictor.predict(path.read_bytes()), predictor.predict(rgb)]
    assert all(isinstance(r, Prediction) for r in results)
    first = results[0]
    assert first.decision in ("NORMAL", "PNEUMONIA", "REFER") and first.label in ("NORMAL", "PNEUMONIA")
    assert sum(first.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
    assert first.threshold == 0.5 and 0.0 <= first.uncertainty <= 1.0
    assert set(first.timings_ms) >= {"decode", "preprocess", "inference", "total"}
    assert results[1].probabilities == first.probabilities  # the same bytes
    # An array skips the JPEG decoder's built-in downscaling, so allow a rounding difference.
    assert results[2].probabilities == pytest.approx(first.probabilities, abs=1e-3)


def test_batch_keeps_order_and_survives_a_bad_file(predictor, fixture_images, tmp_path):
    broken = tmp_path / "broken.jpeg"
    broken.write_bytes(fixture_images[0].read_bytes()[:100])
    results = predictor.predict_batch([fixture_images[0], broken, tmp_path / "missing.png", fixture_images[1]])
    assert isinstance(results[0], Prediction) and isinstance(results[3], Prediction)
    assert isinstance(results[1], PneumoError) and isinstance(results[2], ImageDecodeError)
    assert "\n" not in str(results[1])


def test_colour_photo_is_rejected_with_a_reason_and_no_probability(predictor):
    photo = np.zeros((300, 300, 3), np.uint8)
    photo[:, :150] = (200, 40, 40)
    photo[:, 150:] = (30, 160, 60)
    result = predictor.predict(photo)
    assert result.decision == REJECTED and "colour" in result.reason
    assert result.probabilities == {} and result.p_pneumonia is None and result.label is None


def test_explain_returns_a_heatmap_at_the_image_size(predictor, fullres_images):
    explanation = predictor.explain(fullres_images[0])
    assert explanation.heatmap.shape == explanation.image.shape
    assert explanation.heatmap.dtype == np.float32 and 0.0 <= explanation.heatmap.min() and explanation.heatmap.max() <= 1.0
    assert explanation.target_class == "PNEUMONIA" and "Grad-CAM" in explanation.method


def test_missing_and_tampered_models_are_refused(tiny_model, tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Predictor(tmp_path / "nothing.onnx")
    copy = tmp_path / "model.onnx"
    shutil.copy(tiny_model, copy)
    shutil.copy(tiny_model.with_suffix(".json"), copy.with_suffix(".json"))
    Predictor(copy)  # an intact copy loads
    copy.write_bytes(copy.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ModelError, match="integrity"):
        Predictor(copy)

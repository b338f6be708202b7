"""Every model inside the package loads with its hash verified and predicts on real X-rays."""

import numpy as np
import pytest

from pneumo_runtime.decision import REJECTED
from pneumo_runtime.predict_cli import main
from pneumo_runtime.predictor import Predictor, resolve_model, shipped_models


def test_the_release_models_ship():
    assert {"default", "default.int8", "three_class"} <= set(shipped_models())
    for name in ("default", "default.int8"):  # each carries its own official-test figures
        test = Predictor(name).contract.headline_metrics("test")
        assert test["n_images"] == 624 and {"auc_roc", "sensitivity", "specificity"} <= set(test)
    assert Predictor("default.int8").contract.model_version == Predictor("default").contract.model_version + "-int8"


@pytest.mark.parametrize("name", sorted(shipped_models()))
def test_each_shipped_model_loads_by_name_and_predicts(name, fullres_images):
    predictor = Predictor(name)
    assert predictor.model.path == resolve_model(name) == shipped_models()[name]
    for image in fullres_images[:2]:
        result = predictor.predict(image)
        assert result.decision != REJECTED, result.reason
        assert sum(result.probabilities.values()) == pytest.approx(1.0, abs=1e-5)
        assert 0.0 <= result.p_pneumonia <= 1.0


def test_three_class_pneumonia_probability_is_everything_but_normal(fullres_images):
    predictor = Predictor("three_class")
    assert list(predictor.contract.classes) == ["NORMAL", "BACTERIAL", "VIRAL"]
    assert {"auc_roc", "accuracy", "balanced_accuracy"} <= set(predictor.contract.headline_metrics("test"))
    result = predictor.predict(fullres_images[0])
    assert result.p_pneumonia == pytest.approx(result.probabilities["BACTERIAL"] + result.probabilities["VIRAL"], abs=1e-6)
    for image in fullres_images[:4]:  # the map shows the more probable pneumonia class, never "normal"
        explanation = predictor.explain(image)
        probabilities = explanation.prediction.probabilities
        assert explanation.target_class == max(("BACTERIAL", "VIRAL"), key=probabilities.get)


def test_int8_model_agrees_with_fp32_on_full_size_xrays(fullres_images, fixture_images):
    """18 films, 9 of each class (full size and training copies): a correlation over two points is always 1."""
    films = [*fullres_images, *fixture_images]
    assert len(films) >= 18
    fp32, int8 = Predictor("default"), Predictor("default.int8")
    p32 = np.array([fp32.predict(path).p_pneumonia for path in films])
    p8 = np.array([int8.predict(path).p_pneumonia for path in films])
    assert np.abs(p32 - p8).mean() < 0.05
    assert np.corrcoef(p32, p8)[0, 1] > 0.95


def test_cli_runs_a_shipped_model_by_name(fullres_images, capsys):
    assert main(["--model", "three_class", "--format", "csv", str(fullres_images[0])]) == 0
    assert capsys.readouterr().out.splitlines()[1].split(",")[1] in {"NORMAL", "BACTERIAL", "VIRAL", "REFER"}

"""pneumo-adapt: a site model from an exported one, loaded by the runtime like any other model."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from pneumo.export.export_cli import main as export
from pneumo.site_kit.adapt import SiteAdaptationError, adapt_batchnorm
from pneumo.site_kit.adapt_cli import main as adapt
from pneumo_runtime.model import OnnxModel
from pneumo_runtime.predictor import Predictor


@pytest.fixture
def exported(checkpoint_factory, kermany_mini, tmp_path):
    out = tmp_path / "base"
    assert export(["--to", "onnx", "--checkpoint", str(checkpoint_factory("custom_cnn")), "--out", str(out),
                   "--validate-images", str(kermany_mini), "--no-population-check"]) == 0
    return out / "model.onnx"


def initializers(path) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def test_batchnorm_statistics_become_the_site_films_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Dropout(0.5))
    films = np.random.default_rng(0).normal(2.0, 3.0, (64, 3, 16, 16)).astype(np.float32)
    assert adapt_batchnorm(model, films, batch_size=16) == 1
    with torch.no_grad():
        activations = model[0](torch.from_numpy(films))
    norm = model[1]
    assert torch.allclose(norm.running_mean, activations.mean(dim=(0, 2, 3)), atol=1e-4)
    per_chunk_var = torch.stack([c.var(dim=(0, 2, 3)) for c in activations.split(16)]).mean(0)  # unbiased, per chunk, averaged
    assert torch.allclose(norm.running_var, per_chunk_var, rtol=1e-3)
    assert not model.training and norm.momentum == 0.1  # left as found, in eval mode
    with pytest.raises(SiteAdaptationError, match="at least 16"):
        adapt_batchnorm(model, films[:8])


def test_a_site_model_from_unlabelled_and_labelled_films(exported, kermany_mini, tmp_path, capsys):
    out = tmp_path / "site"
    assert adapt(["--model", str(exported), "--site", "St. Elsewhere", "--unlabelled", str(kermany_mini), "--batchnorm", "plain",
                  "--labelled", str(kermany_mini / "train"), "--out", str(out), "--threads", "1", "--no-population-check"]) == 0
    printed = capsys.readouterr()
    assert "St. Elsewhere" not in printed.err and "adapted (plain) without the kit's check" in printed.out
    site, base = OnnxModel(out / "model.onnx"), OnnxModel(exported)  # hash-checked like any model
    adaptation = site.contract.site_adaptation
    assert adaptation["site"] == "St. Elsewhere" and adaptation["methods"] == ["batchnorm_statistics", "calibration"]
    assert adaptation["films"] == {"unlabelled": 16, "labelled": 16} and adaptation["base_model_version"] == base.contract.model_version
    assert site.contract.model_version == base.contract.model_version + "-site-st-elsewhere"
    assert site.contract.metrics == {"validation": None, "test": None}  # the base model's figures are not this model's
    assert site.contract.temperature != base.contract.temperature
    changed = [name for name, value in initializers(out / "model.onnx").items()
               if name in initializers(exported) and not np.array_equal(value, initializers(exported)[name])]
    assert changed, "batch-norm statistics must change the graph"
    assert base.contract.site_adaptation == {}
    prediction = Predictor(out / "model.onnx", threads=1).predict(sorted(kermany_mini.rglob("*.jpeg"))[0])
    assert prediction.decision in ("NORMAL", "PNEUMONIA", "REFER")
    parity = json.loads((out / "adapt_report.json").read_text())["batchnorm"]["parity"]
    assert parity["passed"] and parity["max_abs_probability_difference"] <= parity["tolerance"] == 1e-4  # pneumo-export's own check


def test_labelled_films_alone_recalibrate_without_touching_the_weights(exported, kermany_mini, tmp_path):
    out = tmp_path / "site"
    assert adapt(["--model", str(exported), "--site", "Clinic", "--labelled", str(kermany_mini / "train"), "--out", str(out)]) == 0
    site = OnnxModel(out / "model.onnx")
    assert site.contract.site_adaptation["methods"] == ["calibration"]
    base_weights, site_weights = initializers(exported), initializers(out / "model.onnx")
    assert base_weights.keys() == site_weights.keys() and all(np.array_equal(base_weights[k], site_weights[k]) for k in base_weights)


def test_the_kit_keeps_the_shipped_statistics_when_it_cannot_check_an_adaptation(exported, kermany_mini, tmp_path, capsys):
    """Under the kit's rule (the default) 16 films are too few for its safety check: nothing is adapted, and it says so."""
    out = tmp_path / "site"
    assert adapt(["--model", str(exported), "--site", "Clinic", "--unlabelled", str(kermany_mini), "--out", str(out),
                  "--threads", "1", "--no-population-check"]) == 0
    said = capsys.readouterr().out
    assert "kept the shipped model's, not adapted: 16 films are too few to check an adaptation (at least 100)" in said
    site = OnnxModel(out / "model.onnx")
    assert site.contract.site_adaptation["methods"] == [] and site.contract.site_adaptation["films"] == {"unlabelled": 16}
    base_weights, site_weights = initializers(exported), initializers(out / "model.onnx")
    assert all(np.array_equal(base_weights[k], site_weights[k]) for k in base_weights)
    report = json.loads((out / "adapt_report.json").read_text())["batchnorm"]
    assert report["how"] == "kit" and report["adapted"] is False and report["safety_check"]["passed"] is False


def test_what_cannot_be_adapted_is_one_line_and_exit_2(exported, kermany_mini, tmp_path, capsys):
    one_class = tmp_path / "labelled"
    (one_class / "NORMAL").mkdir(parents=True)
    for path in sorted((kermany_mini / "train" / "NORMAL").glob("*.jpeg")):
        (one_class / "NORMAL" / path.name).write_bytes(path.read_bytes())
    cases = [
        [],  # nothing to adapt
        ["--labelled", str(one_class)],  # one class only
        ["--unlabelled", str(kermany_mini), "--checkpoint", str(tmp_path / "missing.pt")],
    ]
    for extra in cases:
        assert adapt(["--model", str(exported), "--site", "Clinic", "--out", str(tmp_path / "site"), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("pneumo-adapt: error:") and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not (tmp_path / "site" / "model.onnx").exists()

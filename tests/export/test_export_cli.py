import json
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch

from pneumo.export.export_cli import main
from pneumo.training.checkpoint import load_checkpoint, model_from_checkpoint, save_checkpoint
from pneumo.training.models import list_models
from pneumo_runtime.contract import METADATA_KEY, ModelContract
from pneumo_runtime.errors import ModelError
from pneumo_runtime.model import OnnxModel


def export(checkpoint, out, *extra):
    population = () if "--population-data" in extra else ("--no-population-check",)
    return main(["--to", "onnx", "--checkpoint", str(checkpoint), "--out", str(out), *population, *extra])


@pytest.mark.parametrize("name", list_models())
def test_every_architecture_exports_and_matches_torch_on_real_images(name, checkpoint_factory, kermany_mini, tmp_path, capsys):
    out = tmp_path / "out"
    assert export(checkpoint_factory(name), out, "--validate-images", str(kermany_mini)) == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["parity"]["images"] == 16 and report["parity"]["passed"]
    assert report["parity"]["max_abs_probability_difference"] <= 1e-4
    assert "max |p_torch - p_onnx|" in capsys.readouterr().out
    explain_weights = model_from_checkpoint(out / "model.pt")  # the slim torch twin, for Grad-CAM
    assert explain_weights.config.model == name and "optimizer_state" not in explain_weights.checkpoint
    model = OnnxModel(out / "model.onnx")
    assert model.contract.architecture == name and model.has_features
    batch = np.zeros((3, 3, 64, 64), np.float32)  # the batch axis is dynamic
    assert model.logits(batch).shape == (3, 2)


def test_contract_round_trips_and_is_embedded_in_the_onnx(checkpoint_factory, tmp_path, kermany_mini):
    out = tmp_path / "out"
    assert export(checkpoint_factory("custom_cnn"), out, "--validate-images", str(kermany_mini)) == 0
    sidecar = json.loads((out / "model.json").read_text())
    contract = ModelContract.from_dict(sidecar)
    assert ModelContract.from_dict(contract.to_dict()) == contract
    assert (contract.temperature, contract.threshold, contract.uncertainty.cutoff) == (1.5, 0.5, 0.99)
    assert contract.classes == ("NORMAL", "PNEUMONIA") and contract.preprocess.input_size == 64
    assert "Not a diagnostic device" in contract.disclaimer and "CC BY 4.0" in contract.data_citation
    assert len(contract.onnx_sha256) == 64 and len(contract.config_digest) == 64
    embedded = {p.key: p.value for p in onnx.load(str(out / "model.onnx")).metadata_props}[METADATA_KEY]
    assert ModelContract.from_dict(json.loads(embedded)) == ModelContract.from_dict({**sidecar, "onnx_sha256": ""})
    # A bare .onnx (no sidecar) still carries its contract, but loads only unverified.
    (out / "model.json").unlink()
    with pytest.raises(ModelError, match="contract not found"):
        OnnxModel(out / "model.onnx")
    assert OnnxModel(out / "model.onnx", verify=False).contract.temperature == 1.5


def test_a_tampered_onnx_fails_the_hash_check(checkpoint_factory, tmp_path, kermany_mini):
    out = tmp_path / "out"
    assert export(checkpoint_factory("custom_cnn"), out, "--validate-images", str(kermany_mini)) == 0
    data = bytearray((out / "model.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (out / "model.onnx").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="integrity check"):
        OnnxModel(out / "model.onnx")


def test_int8_is_written_when_it_keeps_its_auc_and_refused_otherwise(checkpoint_factory, tmp_path, capsys):
    checkpoint = checkpoint_factory("custom_cnn")
    accepted, refused = tmp_path / "accepted", tmp_path / "refused"
    assert export(checkpoint, accepted, "--quantize", "int8", "--calibration-images", "8", "--max-auc-drop", "1.0") == 0
    report = json.loads((accepted / "export_report.json").read_text())["int8"]
    assert report["accepted"] and report["int8"]["size_mb"] < report["fp32"]["size_mb"]
    int8, fp32 = OnnxModel(accepted / "model.int8.onnx").contract, OnnxModel(accepted / "model.onnx").contract
    assert int8.architecture == "custom_cnn" and int8.model_version == fp32.model_version + "-int8"
    assert int8.metrics["test"] is None and int8.metrics["validation"]["auc_roc"] == report["int8"]["auc"]
    # A drop limit no model can meet: the INT8 model must not be written.
    assert export(checkpoint, refused, "--quantize", "int8", "--calibration-images", "8", "--max-auc-drop", "-1.0") == 1
    assert (refused / "model.onnx").is_file() and not (refused / "model.int8.onnx").exists()
    assert "INT8 model refused" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(checkpoint_factory, tmp_path, capsys):
    good = checkpoint_factory("custom_cnn")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"\x00garbage")
    checkpoint = load_checkpoint(good)
    checkpoint.pop("format")
    unknown = tmp_path / "unknown.pt"
    save_checkpoint(unknown, {**checkpoint, "config": {**checkpoint["config"], "model": "vgg11"}})
    uncalibrated = tmp_path / "uncalibrated.pt"
    save_checkpoint(uncalibrated, {k: v for k, v in checkpoint.items() if k != "calibration"})
    cases = [
        (tmp_path / "missing.pt", "checkpoint not found"),
        (corrupt, "cannot read checkpoint"),
        (unknown, "unknown model 'vgg11'"),
        (uncalibrated, "lacks the contract field(s) calibration"),
    ]
    for checkpoint_path, message in cases:
        assert export(checkpoint_path, tmp_path / "o") == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert main(["--to", "tflite", "--checkpoint", str(good), "--out", str(tmp_path / "o")]) == 2
    assert "unsupported --to 'tflite'" in capsys.readouterr().err
    assert not list((tmp_path / "o").glob("*.onnx"))


def test_test_metrics_are_recorded_only_for_the_model_that_was_evaluated(checkpoint_factory, kermany_mini, tmp_path, capsys):
    import shutil

    from pneumo.training.evaluation.evaluate_cli import main as evaluate

    out = tmp_path / "out"
    assert export(checkpoint_factory("custom_cnn"), out, "--quantize", "int8", "--calibration-images", "8", "--max-auc-drop", "1.0",
                  "--validate-images", str(kermany_mini)) == 0
    shutil.copytree(kermany_mini / "train", tmp_path / "data" / "test")  # stands in for a test split
    fast = ["--no-tta", "--mc-passes", "0", "--bootstrap", "20", "--train-data", str(kermany_mini)]
    assert evaluate(["--model", str(out / "model.int8.onnx"), "--data", str(tmp_path / "data"), "--out", str(tmp_path / "ev"), *fast]) == 0
    before = OnnxModel(out / "model.int8.onnx")
    batch = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    # The FP32 model was not evaluated: its contract must not take the INT8 model's figures.
    assert main(["--record-test-metrics", str(out / "model.onnx"), "--test-metrics", str(tmp_path / "ev" / "metrics.json")]) == 2
    assert "not 'custom_cnn" in capsys.readouterr().err
    assert main(["--record-test-metrics", str(out / "model.int8.onnx"), "--test-metrics", str(tmp_path / "ev" / "metrics.json")]) == 0
    after = OnnxModel(out / "model.int8.onnx")  # re-sealed: the new hash verifies
    assert after.contract.headline_metrics("test")["n_images"] == 16
    np.testing.assert_array_equal(after.logits(batch), before.logits(batch))


def export_logit_ensemble(ingredients, kermany_mini, tmp_path):
    """Combine the ingredients' logits, export FP32 and INT8; both must pass their checks."""
    from pneumo.training.combine import combine_models, combined_checkpoint

    ensemble = combine_models(list(ingredients.values()), "logits")
    first = next(iter(ingredients.values()))
    path = tmp_path / "ensemble.pt"
    save_checkpoint(path, {**combined_checkpoint(ingredients, ensemble, "logits", {}), "calibration": first["calibration"]})
    out = tmp_path / "out"
    assert export(path, out, "--validate-images", str(kermany_mini), "--quantize", "int8", "--calibration-images", "8", "--max-auc-drop", "1.0") == 0
    report = json.loads((out / "export_report.json").read_text())
    assert report["parity"]["passed"] and report["int8"]["accepted"]  # the concatenated graph quantises too
    return ensemble, out


def test_a_logit_ensemble_exports_as_one_graph_with_its_twin(checkpoint_factory, kermany_mini, tmp_path):
    first = load_checkpoint(checkpoint_factory("custom_cnn"))
    torch.manual_seed(1)
    other_weights = {k: v + 0.01 * torch.randn_like(v) if v.is_floating_point() else v for k, v in first["model_state"].items()}
    ingredients = {"a.pt": first, "b.pt": {**first, "model_state": other_weights}}
    ensemble, out = export_logit_ensemble(ingredients, kermany_mini, tmp_path)
    assert OnnxModel(out / "model.int8.onnx").contract.model_version.endswith("-int8")
    model = OnnxModel(out / "model.onnx")
    assert model.contract.model_version.startswith("custom_cnn-ens2-") and "x2" in model.contract.architecture
    assert len(model.contract.cam_weights[0]) == ensemble.classifier.fc.in_features  # the CAM spans both members' maps
    images = torch.randn(2, 3, 64, 64)
    twin = model_from_checkpoint(out / "model.pt").model
    with torch.no_grad():
        assert torch.allclose(twin(images), ensemble(images), atol=1e-5)
        assert np.allclose(model.logits(images.numpy()), ensemble(images).numpy(), atol=1e-4)


def test_a_mixed_resolution_ensemble_exports_as_one_graph(checkpoint_factory, kermany_mini, tmp_path):
    """Two full-resolution members and a half-resolution one (models/resolution.py): one graph, one
    CAM grid, INT8 too, and the torch twin rebuilds each member at its own resolution."""
    from pneumo.training.combine import combine_models
    from pneumo.training.config import config_from_dict
    from pneumo.training.models import create_model

    first = load_checkpoint(checkpoint_factory("custom_cnn"))
    pair = combine_models([first, {**first, "model_state": {k: v * 1.01 if v.is_floating_point() else v
                                                            for k, v in first["model_state"].items()}}], "logits")
    torch.manual_seed(2)
    half = create_model("custom_cnn", 2, input_downsample=2).eval()
    half_config = config_from_dict({**first["config"], "input_downsample": 2}).to_dict()
    ingredients = {"pair.pt": {**first, "model_state": pair.state_dict(), "ensemble_members": 2},
                   "half.pt": {**first, "config": half_config, "model_state": half.state_dict()}}
    trio, out = export_logit_ensemble(ingredients, kermany_mini, tmp_path)
    model = OnnxModel(out / "model.onnx")
    assert model.contract.model_version.startswith("custom_cnn-ens3-")
    assert model.contract.architecture == "custom_cnn x3 (seeing 64, 64, 32 px), mean of logits"
    images = torch.randn(2, 3, 64, 64)
    twin = model_from_checkpoint(out / "model.pt").model
    with torch.no_grad():
        assert torch.allclose(twin(images), trio(images), atol=1e-5)
        assert np.allclose(model.logits(images.numpy()), trio(images).numpy(), atol=1e-4)


def test_the_feature_guard_cut_off_is_what_export_claims_and_refuses_beyond_it(checkpoint_factory, kermany_mini, tmp_path, monkeypatch):
    """Export with the feature guard on (the default): the cut-off in the contract is the most
    distant held-out X-ray's distance times DISTANCE_MARGIN, as the ONNX graph itself measures it,
    and the Predictor refuses an image whose distance lies beyond it."""
    from pneumo.export.guard.feature_fit import DISTANCE_MARGIN, SYMMETRY_QUANTILE
    from pneumo.training.config import config_from_dict
    from pneumo.training.data.split import select_samples
    from pneumo_runtime import film_layout as film_layout_module
    from pneumo_runtime.contract import GUARD_NAME
    from pneumo_runtime.decision import REJECTED
    from pneumo_runtime.guard import InputGuard, mirror_symmetry
    from pneumo_runtime.inputs import load_image
    from pneumo_runtime.predictor import Predictor
    from pneumo_runtime.preprocess import prepare_gray, to_model_input

    from ..runtime.guard_corpus import generated_images

    checkpoint, out = checkpoint_factory("custom_cnn"), tmp_path / "out"
    assert export(checkpoint, out, "--validate-images", str(kermany_mini)) == 0
    predictor = Predictor(out / "model.onnx", threads=1)
    guard, settings = predictor.contract.guard, predictor.contract.preprocess
    assert predictor.model.has_guard and guard.max_feature_distance is not None and guard.min_symmetry is not None
    assert json.loads((out / "export_report.json").read_text())["guard"]["max_feature_distance"] == guard.max_feature_distance

    def measured(source) -> tuple[float, float]:
        """(feature distance from the exported graph, mirror symmetry), on the Predictor's own path."""
        prepared = prepare_gray(load_image(source, reduce_to=settings.input_size).gray, settings)
        return float(predictor.model.outputs(to_model_input(prepared, settings)[None])[GUARD_NAME][0]), mirror_symmetry(prepared)

    held_out = select_samples(config_from_dict(load_checkpoint(checkpoint)["config"]))[1]
    distances, symmetries = np.array([measured(s.path) for s in held_out]).T
    assert len(held_out) >= 6
    assert guard.max_feature_distance == pytest.approx(max(distances) * DISTANCE_MARGIN, abs=1e-4)  # rounded to 4 places
    assert guard.min_symmetry == pytest.approx(np.quantile(symmetries, SYMMETRY_QUANTILE), abs=1e-4)
    assert (distances <= guard.max_feature_distance).all()

    # Beyond it: the first generated non-X-ray whose distance exceeds the cut-off is refused for it.
    # Untrained features set only a loose cut-off, so the pixel checks are relaxed to let it reach the model.
    beyond = next((data for data in generated_images().values() if measured(data)[0] > guard.max_feature_distance), None)
    assert beyond is not None, "no generated image lies beyond the cut-off"
    predictor.guard = InputGuard(replace(guard, min_symmetry=None, max_colourfulness=255, max_aspect_ratio=100))
    fitted_layout = film_layout_module.film_layout()
    monkeypatch.setattr(film_layout_module, "film_layout", lambda: {**fitted_layout, "min_correlation": -1.0})
    result = predictor.predict(beyond)
    assert result.decision == REJECTED and "unlike the training X-rays" in result.reason


def test_every_model_written_carries_a_sealed_population_check(checkpoint_factory, kermany_mini, population_data, tmp_path):
    """pneumo-export fits the check into the FP32 and INT8 models; pneumo-adapt keeps it sealed to its
    new file (labelled, or the kit declined to adapt: same features) or fits it again (new batch-norm statistics)."""
    from pneumo.site_kit.adapt_cli import main as adapt
    from pneumo_runtime.predictor import Predictor

    out = tmp_path / "out"
    assert export(checkpoint_factory("custom_cnn"), out, "--validate-images", str(kermany_mini), "--population-data", str(population_data),
                  "--quantize", "int8", "--max-auc-drop", "1", "--calibration-images", "8") == 0
    for name in ("model.onnx", "model.int8.onnx"):
        check = Predictor(out / name).population
        assert check is not None and check.fitted_on["children"] == len(list((kermany_mini / "train").glob("*/*.jpeg"))) and check.fitted_on["adults"] == 30
        # Not inside the file: it is fitted on the written file and bound to its hash from the sidecar.
        assert json.loads(onnx.load(str(out / name)).metadata_props[0].value)["population_check"] is None
    report = json.loads((out / "export_report.json").read_text())
    assert report["population_check"]["model.onnx"]["fitted"]
    base = Predictor(out / "model.onnx").population
    labelled, unlabelled = tmp_path / "labelled", tmp_path / "unlabelled"
    assert adapt(["--model", str(out / "model.onnx"), "--site", "A", "--labelled", str(kermany_mini / "train"), "--out", str(labelled)]) == 0
    kept = Predictor(labelled / "model.onnx").population  # loads: the digest matches the new file
    assert kept.weights == base.weights and kept.digest != base.digest
    # 16 films: the kit refuses to adapt (too few to check), so the check is only resealed...
    assert adapt(["--model", str(out / "model.onnx"), "--site", "B", "--unlabelled", str(kermany_mini), "--out", str(unlabelled),
                  "--population-data", str(population_data), "--threads", "1"]) == 0
    unadapted = Predictor(unlabelled / "model.onnx").population
    assert unadapted.weights == base.weights and unadapted.digest != base.digest
    # ...while batch-norm statistics forced on the same films move every feature: fitted again.
    assert adapt(["--model", str(out / "model.onnx"), "--site", "B", "--unlabelled", str(kermany_mini), "--out", str(tmp_path / "plain"),
                  "--batchnorm", "plain", "--population-data", str(population_data), "--threads", "1"]) == 0
    refitted = Predictor(tmp_path / "plain" / "model.onnx").population
    assert refitted.weights != base.weights


def test_without_the_population_data_an_export_says_so_in_one_line(checkpoint_factory, kermany_mini, tmp_path, capsys):
    out = tmp_path / "out"
    assert export(checkpoint_factory("custom_cnn"), out, "--validate-images", str(kermany_mini), "--population-data", str(tmp_path / "none")) == 2
    err = capsys.readouterr().err.strip()
    assert "kermany_224/train and adult_cxr/adults" in err and len(err.splitlines()) == 1
    assert not (out / "model.onnx").exists()

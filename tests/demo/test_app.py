"""The app builds without launching; the explain modes, the Captum check and the texts."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from pneumo.demo.analysis import CAM_METHOD, DemoService, load_explainer
from pneumo.demo.app import build_app
from pneumo.demo.demo_cli import main as demo_main
from pneumo.demo.demo_cli import parse_auth
from pneumo.demo.texts import metrics_line, model_card, recommendation
from pneumo.demo.torch_explain import METHOD as GRADCAM_METHOD
from pneumo.demo.uploads import discard_upload, gradio_cache_root, public_digests
from pneumo_runtime.errors import ModelError, PneumoError
from pneumo_runtime.predictor import Predictor


def test_build_app_builds_with_named_endpoints():
    app = build_app()
    names = {dependency.api_name for dependency in app.fns.values()}
    assert {"predict", "explain"} <= names
    assert not getattr(app, "is_running", False)


def test_model_card_shows_disclaimer_version_and_labelled_metrics():
    contract = Predictor().contract
    card = model_card(contract)
    assert contract.disclaimer in card and contract.model_version in card
    assert metrics_line(contract).startswith("test split" if contract.metrics.get("test") else "validation split")


def test_every_decision_has_a_careful_recommendation():
    assert "radiologist" in recommendation("PNEUMONIA", "")
    assert "does not exclude" in recommendation("NORMAL", "")
    assert "refer" in recommendation("REFER", "").lower()
    assert "a colour image" in recommendation("REJECTED", "not a chest X-ray: a colour image")


@pytest.fixture(scope="module")
def tiny_pair(tiny_model):
    """The exported tiny custom_cnn and the checkpoint it was exported from (tests/conftest.py)."""
    return tiny_model, tiny_model.parent / "tiny.pt"


def test_matching_checkpoint_gives_captum_gradcam_and_attention(tiny_pair, example_xrays):
    onnx_path, checkpoint = tiny_pair
    predictor = Predictor(onnx_path)
    explainer, note = load_explainer("captum", checkpoint, predictor)
    analysis = DemoService(predictor, explainer, "captum", note).explain(example_xrays[0])
    assert analysis.method == GRADCAM_METHOD and analysis.details["explanation_method"] == GRADCAM_METHOD
    assert analysis.heatmap.shape == analysis.gray.shape and 0 <= analysis.heatmap.min() <= analysis.heatmap.max() <= 1
    assert analysis.attention is not None and analysis.attention.shape == analysis.gray.shape


def test_captum_map_agrees_with_runtime_cam(tiny_pair, example_xrays):
    onnx_path, checkpoint = tiny_pair
    predictor = Predictor(onnx_path)
    explainer, _ = load_explainer("captum", checkpoint, predictor)
    compared = 0
    for image in example_xrays:
        runtime = predictor.explain(image)
        captum = explainer.gradcam_map(runtime.image, runtime.target_class)
        # An untrained net can give an all-zero map: then both must be flat, and that film proves nothing.
        assert (runtime.heatmap.std() > 0) == (captum.std() > 0), image.name
        if runtime.heatmap.std() > 0:
            assert np.corrcoef(runtime.heatmap.ravel(), captum.ravel())[0, 1] > 0.95, image.name
            compared += 1
    assert compared >= 1, "no example gave a map to compare"


def test_checkpoint_of_another_config_or_epoch_is_refused(tiny_pair, tmp_path, kermany_mini):
    from pneumo.training.checkpoint import load_checkpoint, save_checkpoint
    from tests.conftest import write_checkpoint

    onnx_path, checkpoint = tiny_pair
    predictor = Predictor(onnx_path)
    other_config = write_checkpoint(tmp_path / "other.pt", "custom_cnn", kermany_mini, input_size=32)
    with pytest.raises(ModelError, match="config_digest"):
        load_explainer("captum", other_config, predictor)
    other_epoch = load_checkpoint(checkpoint)
    other_epoch["model_state"]["classifier.fc.weight"] = other_epoch["model_state"]["classifier.fc.weight"] + 0.01
    save_checkpoint(tmp_path / "epoch.pt", {k: v for k, v in other_epoch.items() if k != "format"})
    with pytest.raises(ModelError, match="other weights"):
        load_explainer("captum", tmp_path / "epoch.pt", predictor)
    explainer, note = load_explainer("auto", tmp_path / "epoch.pt", predictor)  # auto falls back and says why
    assert explainer is None and note.startswith(CAM_METHOD) and "other weights" in note


def test_captum_without_checkpoint_is_a_one_line_usage_error(capsys, tmp_path):
    from pneumo_runtime.predictor import default_model_path

    for suffix in (".onnx", ".json"):  # the shipped model without its torch twin (default.pt)
        shutil.copy(default_model_path().with_suffix(suffix), tmp_path / f"model{suffix}")
    assert demo_main(["--model", str(tmp_path / "model.onnx"), "--explain", "captum"]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_shipped_model_finds_its_torch_twin_for_captum():
    from pneumo.demo.analysis import load_explainer
    from pneumo_runtime.predictor import Predictor

    explainer, note = load_explainer("auto", None, Predictor())
    assert explainer is not None and "Captum" in note


def test_auth_is_user_colon_pass():
    assert parse_auth("ann:secret") == ("ann", "secret")
    assert parse_auth(None) is None
    with pytest.raises(PneumoError):
        parse_auth("no-colon")


def test_only_files_inside_gradios_cache_are_deleted(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    upload = gradio_cache_root() / "abc123" / "scan.jpeg"
    upload.parent.mkdir(parents=True)
    upload.write_bytes(b"x")
    outside = tmp_path / "example.jpeg"
    outside.write_bytes(b"x")
    discard_upload(upload)
    discard_upload(outside)
    assert not upload.exists() and not upload.parent.exists() and outside.exists()


def test_cached_copies_of_public_examples_are_kept(tmp_path, monkeypatch, example_xrays):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path / "cache"))
    cached = gradio_cache_root() / "def456" / example_xrays[0].name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(example_xrays[0].read_bytes())
    discard_upload(cached, public_digests(example_xrays))
    assert cached.exists()


def test_the_map_outlines_the_field_of_view_and_says_so():
    from pneumo.demo.page import heatmap_figure

    with_mask = heatmap_figure("data:,", "data:,", 0.4, "Map", None, 0.8, "alt")
    assert "<ellipse" in with_mask and 'rx="40.0"' in with_mask and "<ellipse" not in heatmap_figure("data:,", "data:,", 0.4, "Map", None, 0.0, "alt")
    contract = Predictor().contract
    masked = dataclasses.replace(contract, preprocess=dataclasses.replace(contract.preprocess, ellipse_mask=1.0))
    assert "white ellipse" in model_card(masked) and "white ellipse" not in model_card(
        dataclasses.replace(contract, preprocess=dataclasses.replace(contract.preprocess, ellipse_mask=0.0)))


class SiteAdaptedContract:
    """The loaded model's contract with a ``site_adaptation`` record, as a site-adapted release carries."""

    def __init__(self, contract, adaptation):
        self._contract, self.site_adaptation = contract, adaptation

    def __getattr__(self, name):
        return getattr(self._contract, name)


def test_a_site_adapted_model_says_so_on_the_page():
    from pneumo.demo.page import header
    from pneumo.demo.texts import site_line

    contract = Predictor().contract
    adapted = SiteAdaptedContract(contract, {"site": "St Elsewhere", "methods": ["recalibration"]})
    assert "Site-adapted model: St Elsewhere" in header(adapted) and "Site-adapted model" in model_card(adapted)
    assert site_line(contract) == "" and "Site-adapted" not in header(contract)
    assert site_line(SiteAdaptedContract(contract, {})) == ""  # an empty record is no adaptation

    service = DemoService(Predictor())
    service.contract = adapted
    config = str(build_app(service=service).config)
    assert "Site-adapted model: St Elsewhere" in config


def test_the_map_peak_rule_flags_edges_and_corners_only():
    from pneumo.demo.overlay import map_peak

    def peak_at(row, column, size=7):
        heatmap = np.zeros((size, size), np.float32)
        heatmap[row, column] = 1
        return map_peak(heatmap)

    assert not peak_at(3, 3).outside_lung_fields and not peak_at(1, 5).outside_lung_fields  # inner 5x5 cells
    bottom = peak_at(6, 3)
    assert bottom.outside_lung_fields and not bottom.at_corner and "bottom edge" in bottom.warning()
    corner = peak_at(0, 6)
    assert corner.at_corner and "top right corner" in corner.warning() and "marker" in corner.warning()
    assert map_peak(np.zeros((7, 7), np.float32)) is None  # a flat map points nowhere


def test_decisions_lead_in_words_symbols_and_colours():
    from pneumo.demo.page import DECISION_PX, DECISION_STYLE, headline

    assert len({symbol for symbol, _ in DECISION_STYLE.values()}) == len(DECISION_STYLE)  # colour is never the only signal

    def luminance(colour: str) -> float:  # WCAG 2 relative luminance
        channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
        linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    for _, background in DECISION_STYLE.values():  # white text on it: WCAG AA needs 4.5:1
        assert 1.05 / (luminance(background) + 0.05) >= 4.5, background
    refer = headline("REFER", recommendation("REFER", ""), "uncertain: 0.95 is above the referral cut-off 0.80")
    assert 'aria-label="Decision: REFER"' in refer and f"font-size:{DECISION_PX}px" in refer and "cut-off" in refer
    assert "PNEUMONIA" not in refer and "NORMAL" not in refer  # no class name beside a referral
    assert "&lt;script&gt;" in headline("REJECTED", "<script>", "x")  # text is escaped


def test_normal_result_has_no_map_unless_asked_and_pneumonia_has_one(example_xrays, fullres_images):
    from pneumo.demo.app import image_panels

    service = DemoService(Predictor())
    # A full-size normal film that the shipped default calls NORMAL with confidence (the normal
    # example is referred by it: uncertainty 0.40 over the cut-off 0.29).
    normal = service.explain(next(p for p in fullres_images if p.name.startswith("NORMAL")))
    pneumonia = service.explain(next(p for p in example_xrays if p.name.startswith("viral")))
    assert normal.prediction.decision == "NORMAL" and pneumonia.prediction.decision in {"PNEUMONIA", "REFER"}
    _, normal_map, normal_notes = image_panels(normal, 0.4, "PNEUMONIA", 0.0)
    assert "No finding to localise" in normal_map and "<details" in normal_map and "on request" in normal_map
    assert normal_notes == ""
    original, pneumonia_map, notes = image_panels(pneumonia, 0.4, "PNEUMONIA", 0.0)
    assert original.count("data:image/jpeg;base64,") == 1 and 'class="pneumo-heat"' in pneumonia_map
    assert "Not a segmentation" in notes and "<details" not in pneumonia_map
    refer = dataclasses.replace(normal, prediction=dataclasses.replace(normal.prediction, decision="REFER"))
    _, refer_map, refer_notes = image_panels(refer, 0.4, "PNEUMONIA", 0.0)  # a referral shows its map at once
    assert 'class="pneumo-heat"' in refer_map and "<details" not in refer_map and "Not a segmentation" in refer_notes

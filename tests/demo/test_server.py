"""The served API through gradio_client, as a script or a notebook would call it."""

from __future__ import annotations

import shutil

import pytest
from gradio_client import Client, handle_file

from pneumo.demo.uploads import gradio_cache_root


@pytest.fixture(scope="module")
def client(demo_url) -> Client:
    return Client(demo_url, verbose=False)


def test_predict_returns_calibrated_label_for_a_full_size_xray(client, example_xrays):
    label, summary, details = client.predict(handle_file(str(example_xrays[0])), api_name="/predict")
    assert details["decision"] in {"NORMAL", "PNEUMONIA", "REFER"}
    assert {c["label"] for c in label["confidences"]} == {"NORMAL", "PNEUMONIA"}
    assert abs(sum(c["confidence"] for c in label["confidences"]) - 1) < 1e-6
    assert "Decision" in summary and details["decision"] in summary
    assert details["threshold"] is not None and details["processing_ms"] > 0


def test_explain_returns_the_map_inside_the_page_not_as_a_file(client, example_xrays):
    pneumonia = next(p for p in example_xrays if p.name.startswith("viral"))
    label, headline, details, original, overlay, notes, _ = client.predict(
        handle_file(str(pneumonia)), 0.5, api_name="/explain")
    assert label["confidences"] and details["explanation_method"]
    assert details["decision"] in {"PNEUMONIA", "REFER"} and details["decision"] in headline
    # Pictures travel as data: URIs: Gradio writes no image.webp of a patient's film to its cache.
    assert 'src="data:image/jpeg;base64,' in original and 'class="pneumo-heat"' in overlay
    assert "Not a segmentation" in notes and "Map drawn by" in notes


def test_the_age_box_refuses_outside_1_to_5_and_an_empty_box_says_nothing(client, example_xrays):
    _, summary, details = client.predict(handle_file(str(example_xrays[0])), "45", api_name="/predict")
    assert details["decision"] == "REJECTED" and "adult" in details["reason"] and details["probabilities"] == {}
    _, _, plain = client.predict(handle_file(str(example_xrays[0])), "", api_name="/predict")
    assert plain["decision"] != "REJECTED"  # an empty box is "not given", never age 0


def test_colour_photo_is_rejected_without_a_probability(client, colour_photo):
    label, summary, details = client.predict(handle_file(str(colour_photo)), api_name="/predict")
    assert label["label"] == "REJECTED" and not label.get("confidences")
    assert details["decision"] == "REJECTED" and details["probabilities"] == {}
    assert "colour" in details["reason"] and "colour" in summary


def test_nothing_of_an_upload_stays_in_gradios_cache(client, fullres_images, tmp_path):
    """Neither the upload, nor a rendered picture, nor an empty temp file (gr.File's, see upload_field)."""
    unique = tmp_path / "upload-must-not-persist-7f3a.jpeg"  # not one of the public examples, which stay cached
    shutil.copy(fullres_images[0], unique)
    before = {p for p in gradio_cache_root().rglob("*") if p.is_file()}
    client.predict(handle_file(str(unique)), api_name="/predict")
    client.predict(handle_file(str(unique)), 0.5, api_name="/explain")
    left = {p for p in gradio_cache_root().rglob("*") if p.is_file()} - before
    assert not left, sorted(str(p) for p in left)

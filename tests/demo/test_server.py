"""The served API through gradio_client, as a script or a notebook would call it."""

from __future__ import annotations

import shutil
from pathlib import Path

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
    assert "Decision" in summary and details["threshold"] is not None and details["processing_ms"] > 0


def test_explain_returns_a_heatmap(client, example_xrays):
    label, summary, details, original, overlay, method, attention = client.predict(
        handle_file(str(example_xrays[-1])), 0.5, api_name="/explain")
    assert label["confidences"] and details["explanation_method"]
    assert Path(overlay).is_file() and Path(original).is_file()
    assert "Map drawn by" in method


def test_colour_photo_is_rejected_without_a_probability(client, colour_photo):
    label, summary, details = client.predict(handle_file(str(colour_photo)), api_name="/predict")
    assert label["label"] == "REJECTED" and not label.get("confidences")
    assert details["decision"] == "REJECTED" and details["probabilities"] == {}
    assert "colour" in details["reason"] and "colour" in summary


def test_upload_is_deleted_after_the_request(client, fullres_images, tmp_path):
    unique = tmp_path / "upload-must-not-persist-7f3a.jpeg"  # not one of the public examples, which stay cached
    shutil.copy(fullres_images[0], unique)
    client.predict(handle_file(str(unique)), api_name="/predict")
    assert not list(gradio_cache_root().rglob(unique.name))

"""``build_app``: the Gradio Blocks UI and its named API endpoints ``/predict`` and ``/explain``.

Importing this module launches nothing. Nothing of an upload outlives its request: the upload is
deleted after the analysis (``uploads``), and the pictures travel inside the page as ``data:``
URIs (``overlay``, ``page``), so Gradio writes no image file; the opacity slider works in the browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from pneumo_runtime.decision import REJECTED
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Predictor

from . import page
from .analysis import Analysis, DemoService, is_rejected
from .overlay import data_uri, display_gray, heat_layer, map_peak
from .uploads import discard_upload, public_digests, upload_field

ACCEPTED_TYPES = [".jpeg", ".jpg", ".png", ".bmp", ".dcm", ".dicom"]
CONCURRENCY_LIMIT = 2  # requests computed at once: this is a CPU app; more only slows each one down
QUEUE_SIZE = 16  # requests waiting beyond that are refused ("queue full") instead of piling up
DEFAULT_OPACITY = 0.45
CACHE_SWEEP = (60, 300)  # every 60 s, delete cached files older than 300 s: an upload never analysed goes too
# Installed, the examples are package data beside this file (pneumo/demo/examples); in a checkout
# and in the Space they are the repository's examples/.
EXAMPLES = next((p for p in (Path(__file__).resolve().parent / "examples", Path(__file__).resolve().parent.parent / "examples") if p.is_dir()),
                Path(__file__).resolve().parent.parent / "examples")


def example_files(folder: Path = EXAMPLES) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.jpeg")) if folder.is_dir() else []


def label_value(analysis: Analysis) -> dict[str, float] | str:
    """Calibrated probabilities, second to the decision; a rejected image gets no probability, only the word."""
    return "REJECTED" if is_rejected(analysis) else analysis.prediction.probabilities


def show_probabilities(details: dict | None) -> Any:
    """The page hides the probability box of a rejected image: its heading would repeat the word."""
    return gr.update(visible=not details or details.get("decision") != REJECTED)


def headline_html(analysis: Analysis) -> str:
    details = analysis.details
    return page.headline(details["decision"], details["recommendation"], details["reason"])


def heatmap_target(contract) -> str:
    """The runtime maps the pneumonia class; with sub-classes, whichever is more probable."""
    pneumonia_classes = contract.pneumonia_classes
    return pneumonia_classes[0] if len(pneumonia_classes) == 1 else "the more probable of " + " / ".join(pneumonia_classes)


def image_panels(analysis: Analysis, opacity: float, target: str, ellipse_mask: float) -> tuple[str, str, str]:
    """(original, map, notes) as HTML. A map is shown for PNEUMONIA and REFER; for NORMAL only on
    request, labelled as such; for a rejected image not at all."""
    if analysis.gray is None:
        return page.no_map("No picture: the image could not be read."), "", ""
    base = display_gray(analysis.gray)
    base_src = data_uri(base)
    if is_rejected(analysis):
        original = page.picture(base_src, "The uploaded image, in grey", "Uploaded image (in grey)")
        return original, page.no_map("No map: the image was not analysed."), ""
    original = page.picture(base_src, "The uploaded chest X-ray", "X-ray")
    if analysis.heatmap is None:
        return original, page.no_map("No map: explanations are off."), ""
    peak = map_peak(analysis.heatmap)
    where = "nowhere (flat map)" if peak is None else f"strongest at {100 * peak.x:.0f}% across, {100 * peak.y:.0f}% down"
    normal = analysis.prediction.decision == "NORMAL"
    label = f"Map for {target}" + (" (on request)" if normal else "")
    figure = page.heatmap_figure(base_src, data_uri(heat_layer(analysis.heatmap, (base.shape[1], base.shape[0]))), opacity,
                                 label, peak, ellipse_mask, f"Heatmap for {target} over the X-ray, {where}")
    notes = page.map_notes(target, peak, analysis.method, on_request=normal)
    if normal:
        return original, page.no_finding(figure, notes), ""
    return original, figure, notes


def attention_panel(analysis: Analysis, opacity: float, ellipse_mask: float) -> str:
    if analysis.attention is None or analysis.gray is None or is_rejected(analysis):
        return ""
    base = display_gray(analysis.gray)
    return page.heatmap_figure(data_uri(base), data_uri(heat_layer(analysis.attention, (base.shape[1], base.shape[0]))), opacity,
                               "custom_cnn attention map", map_peak(analysis.attention), ellipse_mask, "Attention map over the X-ray")


# Runs in the browser: the slider changes the maps' opacity without a request to the server.
SET_OPACITY_JS = "(value) => { document.querySelectorAll('.pneumo-heat').forEach((layer) => { layer.style.opacity = value; }); return []; }"


def build_app(predictor: Predictor | None = None, service: DemoService | None = None, examples: list[str] | None = None) -> gr.Blocks:
    """The demo, queued but not launched. Give a ``service`` (with a torch explainer) or a ``predictor``."""
    service = service or DemoService(predictor or Predictor())
    contract = service.contract
    has_attention = bool(service.explainer and service.explainer.has_attention)
    files = examples if examples is not None else example_files()
    keep = public_digests(files)
    field_of_view = contract.preprocess.ellipse_mask  # outlined on every map: the model saw nothing outside it
    target = heatmap_target(contract)

    def run(kind: str, path: str | None, age: str | None) -> Analysis:  # age None: the API client left it out
        if not path:
            raise gr.Error("Upload a chest X-ray first (JPEG, PNG, BMP or DICOM).")
        if not Path(path).is_file():
            raise gr.Error("The upload is no longer on the server (uploads are deleted after each analysis): upload it again.")
        try:
            # Bytes, not the path: error messages then never carry the upload's file name, which
            # may identify a patient, and Gradio may print them to the server console.
            data = Path(path).read_bytes()
            return service.explain(data, patient_age=age) if kind == "explain" else service.predict(data, patient_age=age)
        except PneumoError as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # one line for the user, never a traceback, never the input
            raise gr.Error(f"Could not analyse this file ({type(exc).__name__}).") from None
        finally:
            discard_upload(path, keep)

    def predict(path: str | None, age: str | None = None) -> tuple[Any, str, dict]:
        analysis = run("predict", path, age)
        return label_value(analysis), headline_html(analysis), analysis.details

    def explain(path: str | None, opacity: float, age: str | None = None) -> tuple[Any, ...]:
        analysis = run("explain", path, age)
        original, overlay, notes = image_panels(analysis, opacity, target, field_of_view)
        return (label_value(analysis), headline_html(analysis), analysis.details, original, overlay, notes,
                attention_panel(analysis, opacity, field_of_view))

    def clear_pictures(message: str) -> tuple[str, str, str, str]:
        return "", page.no_map(message), "", ""

    with gr.Blocks(title="pneumo: pneumonia second opinion (not a diagnostic device)", delete_cache=CACHE_SWEEP, fill_width=True) as app:
        gr.HTML(page.header(contract), elem_id="model-card")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4, min_width=360):
                upload = upload_field(label="Chest X-ray: JPEG, PNG, BMP or DICOM", file_types=ACCEPTED_TYPES, elem_id="upload",
                                      height=100)
                with gr.Row():
                    # Text, not a number box: an empty number box reaches the server as 0, a newborn's age.
                    age = gr.Textbox(label="Patient age in years (optional; for ages 1-5)", placeholder="Age (years)",
                                     show_label=False, container=False, max_lines=1, min_width=100, elem_id="patient-age")
                    analyse_button = gr.Button("Analyse", variant="primary", elem_id="analyse", min_width=100)
                    predict_button = gr.Button("Prediction only", elem_id="predict", min_width=100)
                headline = gr.HTML(page.empty_headline(), elem_id="headline")
                label = gr.Label(label="Calibrated probabilities", show_heading=False, elem_id="label")
                with gr.Accordion("Details (JSON)", open=False, elem_id="details-accordion"):
                    details = gr.JSON(label="Details", elem_id="details")
            with gr.Column(scale=7):
                with gr.Row(equal_height=False):
                    original = gr.HTML(elem_id="original")
                    overlay = gr.HTML(elem_id="overlay")
                notes = gr.HTML(elem_id="method")
                with gr.Row(equal_height=False):
                    opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Heatmap opacity", elem_id="opacity")
                    if files:
                        gr.Examples(examples=[[f] for f in files], inputs=[upload], label="Example X-rays (Kermany, CC BY 4.0)",
                                    cache_examples=False)
                attention = gr.HTML(visible=has_attention, elem_id="attention")

        pictures = [original, overlay, notes, attention]
        analysed = analyse_button.click(explain, [upload, opacity, age], [label, headline, details, *pictures], api_name="explain")
        predict_button.click(lambda: clear_pictures("Prediction only: no map computed."), None, pictures, queue=False,
                             api_visibility="private")
        predicted = predict_button.click(predict, [upload, age], [label, headline, details], api_name="predict")
        for event in (analysed, predicted):
            event.then(show_probabilities, [details], [label], queue=False, api_visibility="private")
        upload.upload(lambda: (page.empty_headline(), gr.update(value=None, visible=True), None, *clear_pictures("")), None,
                      [headline, label, details, *pictures], queue=False, api_visibility="private")
        opacity.input(None, [opacity], None, js=SET_OPACITY_JS, api_visibility="private", queue=False)
    return app.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE)

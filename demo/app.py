"""``build_app``: the Gradio Blocks UI and its named API endpoints ``/predict`` and ``/explain``.

Importing this module launches nothing. Every request deletes its upload (see ``uploads``); the
decoded image lives only in the browser session's memory, for the opacity slider.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from pneumo_runtime.errors import PneumoError
from pneumo_runtime.predictor import Predictor

from .analysis import Analysis, DemoService, is_rejected
from .overlay import blend, display_gray
from .texts import model_card
from .uploads import discard_upload, public_digests

ACCEPTED_TYPES = [".jpeg", ".jpg", ".png", ".bmp", ".dcm", ".dicom"]
CONCURRENCY_LIMIT = 2  # requests computed at once: this is a CPU app; more only slows each one down
QUEUE_SIZE = 16  # requests waiting beyond that are refused ("queue full") instead of piling up
DEFAULT_OPACITY = 0.45
CACHE_SWEEP = (60, 300)  # every 60 s, delete Gradio's cached outputs older than 300 s: they show patient images
# Installed, the examples are package data beside this file (pneumo/demo/examples); in a checkout
# and in the Space they are the repository's examples/.
EXAMPLES = next((p for p in (Path(__file__).resolve().parent / "examples", Path(__file__).resolve().parent.parent / "examples") if p.is_dir()),
                Path(__file__).resolve().parent.parent / "examples")


def example_files(folder: Path = EXAMPLES) -> list[str]:
    return sorted(str(p) for p in folder.glob("*.jpeg")) if folder.is_dir() else []


def summary_markdown(analysis: Analysis) -> str:
    details = analysis.details
    lines = [f"### Decision: {details['decision']}", details["recommendation"]]
    if not is_rejected(analysis):
        threshold = "argmax" if details["threshold"] is None else f"{details['threshold']:.3f} on P(PNEUMONIA)"
        cutoff = "none" if details["uncertainty_cutoff"] is None else f"{details['uncertainty_cutoff']:.2f}"
        lines.append(f"Threshold {threshold}; uncertainty {details['uncertainty']:.2f} (refer above {cutoff}). {details['reason']}.")
    lines.append(f"Processing time: {details['processing_ms']:.0f} ms.")
    return "\n\n".join(lines)


def label_value(analysis: Analysis) -> dict[str, float] | str:
    """Calibrated probabilities; a rejected image gets no probability at all, only the word."""
    return "REJECTED" if is_rejected(analysis) else analysis.prediction.probabilities


def heatmap_target(contract) -> str:
    """The runtime maps the pneumonia class; with sub-classes, whichever is more probable."""
    pneumonia_classes = contract.pneumonia_classes
    return pneumonia_classes[0] if len(pneumonia_classes) == 1 else "the more probable of " + " / ".join(pneumonia_classes)


def build_app(predictor: Predictor | None = None, service: DemoService | None = None, examples: list[str] | None = None) -> gr.Blocks:
    """The demo, queued but not launched. Give a ``service`` (with a torch explainer) or a ``predictor``."""
    service = service or DemoService(predictor or Predictor())
    contract = service.contract
    has_attention = bool(service.explainer and service.explainer.has_attention)
    files = examples if examples is not None else example_files()
    keep = public_digests(files)
    field_of_view = contract.preprocess.ellipse_mask  # outlined on every map: the model saw nothing outside it

    def run(kind: str, path: str | None) -> Analysis:
        if not path:
            raise gr.Error("Upload a chest X-ray first (JPEG, PNG, BMP or DICOM).")
        if not Path(path).is_file():
            raise gr.Error("The upload is no longer on the server (uploads are deleted after each analysis): upload it again.")
        try:
            # Bytes, not the path: error messages then never carry the upload's file name, which
            # may identify a patient, and Gradio may print them to the server console.
            data = Path(path).read_bytes()
            return service.explain(data) if kind == "explain" else service.predict(data)
        except PneumoError as exc:
            raise gr.Error(str(exc)) from None
        except Exception as exc:  # one line for the user, never a traceback, never the input
            raise gr.Error(f"Could not analyse this file ({type(exc).__name__}).") from None
        finally:
            discard_upload(path, keep)

    def predict(path: str | None) -> tuple[Any, str, dict]:
        analysis = run("predict", path)
        return label_value(analysis), summary_markdown(analysis), analysis.details

    def explain(path: str | None, opacity: float) -> tuple[Any, ...]:
        analysis = run("explain", path)
        original = display_gray(analysis.gray) if analysis.gray is not None else None
        overlay = blend(analysis.gray, analysis.heatmap, opacity, field_of_view) if analysis.heatmap is not None else None
        attention = blend(analysis.gray, analysis.attention, opacity, field_of_view) if analysis.attention is not None else None
        method = f"Map drawn by: **{analysis.method}**" if analysis.method else "No map: the image was not analysed."
        maps = (analysis.gray, analysis.heatmap, analysis.attention) if overlay is not None else None
        return label_value(analysis), summary_markdown(analysis), analysis.details, original, overlay, method, attention, maps

    def reblend(maps: tuple | None, opacity: float) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not maps:
            return None, None
        gray, heatmap, attention = maps
        return (blend(gray, heatmap, opacity, field_of_view),
                blend(gray, attention, opacity, field_of_view) if attention is not None else None)

    with gr.Blocks(title="pneumo: pneumonia second opinion (not a diagnostic device)", delete_cache=CACHE_SWEEP) as app:
        gr.Markdown("# pneumo: pneumonia second opinion on chest X-rays")
        gr.Markdown(model_card(contract), elem_id="model-card")
        with gr.Row():
            with gr.Column():
                upload = gr.File(label="Chest X-ray: JPEG, PNG, BMP or DICOM", file_types=ACCEPTED_TYPES, type="filepath", elem_id="upload")
                with gr.Row():
                    analyse_button = gr.Button("Analyse with heatmap", variant="primary", elem_id="analyse")
                    predict_button = gr.Button("Prediction only", elem_id="predict")
                if files:
                    gr.Examples(examples=[[f] for f in files], inputs=[upload], label="Example X-rays (Kermany, CC BY 4.0)", cache_examples=False)
            with gr.Column():
                label = gr.Label(label="Calibrated probabilities", elem_id="label")
                summary = gr.Markdown(elem_id="summary")
                details = gr.JSON(label="Details")
        method = gr.Markdown(f"Maps are drawn by: **{service.note}**", elem_id="method")
        opacity = gr.Slider(0.0, 1.0, value=DEFAULT_OPACITY, step=0.05, label="Heatmap opacity")
        with gr.Row():
            original = gr.Image(label="Original", interactive=False, elem_id="original")
            overlay = gr.Image(label=f"Heatmap (target: {heatmap_target(contract)})", interactive=False, elem_id="overlay")
        attention = gr.Image(label="custom_cnn attention map", interactive=False, visible=has_attention, elem_id="attention")
        maps = gr.State(None)  # in this session's memory only, so the slider needs no second upload

        analyse_button.click(explain, [upload, opacity], [label, summary, details, original, overlay, method, attention, maps], api_name="explain")
        predict_button.click(predict, [upload], [label, summary, details], api_name="predict")
        opacity.release(reblend, [maps, opacity], [overlay, attention], api_visibility="private", queue=False)
    return app.queue(default_concurrency_limit=CONCURRENCY_LIMIT, max_size=QUEUE_SIZE)

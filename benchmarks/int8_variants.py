"""INT8 quantisation variants of a shipped model against its FP32 original: speed and validation AUC.

    python -m benchmarks.int8_variants [--model default] [--val-images 400] [--calibration-images 128] [--rounds 2] [--films N]

Each variant is quantised from the FP32 ONNX file (calibrated on training images, as
``pneumo-export --quantize int8`` does), scored on a seeded sample of the validation split carved
from train by patient (the split training and export use), and timed end to end on the full-size
films, interleaved with FP32. Session-level settings (graph optimisation level, threads) are timed
on the default variant. Nothing here changes a shipped file: variants are written under runs/.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from pneumo_runtime.contract import INPUT_NAME
from pneumo_runtime.inputs import model_input
from pneumo_runtime.json_file import write_json
from pneumo_runtime.model import OnnxModel, session_options
from pneumo_runtime.predictor import Predictor, resolve_model
from pneumo_runtime.torch_twin import torch_twin

from .common import (
    FULLRES,
    KERMANY,
    REPO,
    RESULTS,
    images_in,
    interleaved,
    machine,
    ratio,
    summary,
)

VARIANTS = {
    "qdq-per-channel": dict(),  # what pneumo-export ships
    "qdq-per-tensor": dict(per_channel=False),
    "qoperator-per-channel": dict(quant_format="QOperator"),
    "qoperator-per-tensor": dict(quant_format="QOperator", per_channel=False),
    "qdq-per-channel-fp32-depthwise": dict(exclude_depthwise=True),
    "qdq-per-channel-no-preprocess": dict(pre_process=False),
    "qdq-per-channel-static-batch": dict(static_batch=True),
    "qdq-per-tensor-static-batch": dict(static_batch=True, per_channel=False),
}


def validation_samples(count: int, checkpoint: Path) -> tuple[list[Path], np.ndarray, list[Path]]:
    """(validation paths, labels, calibration paths) exactly as the checkpoint's config splits train."""
    from pneumo.training.checkpoint import load_checkpoint
    from pneumo.training.config import config_from_dict
    from pneumo.training.data.split import select_samples

    stored = {k: v for k, v in load_checkpoint(checkpoint)["config"].items() if k not in ("val_data", "max_train_samples", "max_val_samples")}
    config = config_from_dict({**stored, "data": str(KERMANY)})
    train, val = select_samples(config)
    chosen = random.Random(0).sample(val, min(count, len(val)))
    calibration = [s.path for s in random.Random(1).sample(train, 128)]
    return [s.path for s in chosen], np.array([s.label for s in chosen]), calibration


def auc(model: OnnxModel, images: np.ndarray, labels: np.ndarray) -> float:
    from pneumo.training.evaluation.metrics import auc_roc

    return auc_roc(labels, model.calibrated_probabilities(model.logits(images)))


def session_settings(path: Path, films: list[Path], rounds: int) -> dict:
    """Inference alone at batch 1 under optimisation levels and thread counts, interleaved."""
    image = model_input(films[0], OnnxModel(path).contract.preprocess)[None]
    sessions = {}
    for label, threads, level in (("all-levels-default-threads", None, ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
                                  ("extended-default-threads", None, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED),
                                  ("basic-default-threads", None, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
                                  ("all-levels-1-thread", 1, ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
                                  ("all-levels-2-threads", 2, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)):
        options = session_options(threads)
        options.graph_optimization_level = level
        sessions[label] = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    timings = interleaved({k: (lambda s=s: s.run(None, {INPUT_NAME: image})) for k, s in sessions.items()}, max(1, rounds) * 20)
    return {k: summary(v) for k, v in timings.items()}


def main(argv: list[str] | None = None) -> dict:
    from pneumo.export.quantize import QuantVariant, quantize_int8

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="a shipped model name or an FP32 .onnx with its sidecar")
    parser.add_argument("--val-images", type=int, default=400)
    parser.add_argument("--calibration-images", type=int, default=128, help="as pneumo-export (default 128)")
    parser.add_argument("--rounds", type=int, default=2, help="passes over the 48 full-size films")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--films", type=int, help="time on the first N full-size films only (default: all 48)")
    parser.add_argument("--out", type=Path, default=REPO / "runs" / "int8_variants", help="where the variant models go")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the JSON report goes")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    fp32_path = resolve_model(args.model)
    fp32 = OnnxModel(fp32_path)
    val_paths, labels, calibration_paths = validation_samples(args.val_images, torch_twin(fp32_path))
    val = np.stack([model_input(p, fp32.contract.preprocess) for p in val_paths])
    calibration = np.stack([model_input(p, fp32.contract.preprocess) for p in calibration_paths[:args.calibration_images]])
    fp32_auc = auc(fp32, val, labels)
    report: dict = {"machine": machine(), "model": str(fp32_path.name), "validation_images": len(labels),
                    "calibration_images": len(calibration), "fp32_auc": fp32_auc, "variants": {}}
    shipped_int8 = fp32_path.with_name(f"{fp32_path.stem}.int8.onnx")
    if shipped_int8.is_file():  # the shipped INT8 model (calibrated on 128 training images), on the same images
        report["shipped_int8_auc"] = auc(OnnxModel(shipped_int8), val, labels)
        report["shipped_int8_auc_loss"] = fp32_auc - report["shipped_int8_auc"]
    paths = {}
    for name in args.variants:
        variant = QuantVariant(name=name, **VARIANTS[name])
        path = args.out / f"{fp32_path.stem}.{name}.onnx"
        started = time.perf_counter()
        contract = dataclasses.replace(fp32.contract, model_version=f"{fp32.contract.model_version}-{name}")
        quantize_int8(fp32_path, path, calibration, contract, variant)
        seconds = time.perf_counter() - started
        variant_auc = auc(OnnxModel(path), val, labels)
        report["variants"][name] = {**variant.describe(), "quantise_s": seconds, "auc": variant_auc,
                                    "auc_loss": fp32_auc - variant_auc, "size_mb": path.stat().st_size / 1e6}
        paths[name] = path
        print(f"{name}: AUC {variant_auc:.4f} (FP32 {fp32_auc:.4f}), {path.stat().st_size / 1e6:.1f} MB", flush=True)
    films = images_in(FULLRES)[:args.films]
    predictors = {"fp32": Predictor(fp32_path), **{name: Predictor(path) for name, path in paths.items()}}
    for label, threads in (("default threads", None), ("1 thread", 1)):
        if threads:
            predictors = {"fp32": Predictor(fp32_path, threads=1), **{name: Predictor(path, threads=1) for name, path in paths.items()}}
        timings: dict[str, list[float]] = {name: [] for name in predictors}
        for _ in range(args.rounds):
            for film in films:
                found = interleaved({name: (lambda p=p, f=film: p.predict(f)) for name, p in predictors.items()}, 1, warmup=0)
                for name, values in found.items():
                    timings[name].extend(values)
        for name in paths:
            report["variants"][name][f"end_to_end_speedup_vs_fp32 ({label})"] = ratio(timings["fp32"], timings[name])
            report["variants"][name][f"end_to_end ({label})"] = summary(timings[name])
        report[f"fp32_end_to_end ({label})"] = summary(timings["fp32"])
    report["session_settings_fp32"] = session_settings(fp32_path, films, args.rounds)
    if "qdq-per-channel" in paths:
        report["session_settings_int8"] = session_settings(paths["qdq-per-channel"], films, args.rounds)
    args.results.mkdir(parents=True, exist_ok=True)
    stamp = report["machine"]["date_utc"][:10]
    target = args.results / f"{stamp}-{report['machine']['hostname']}-int8.json"
    write_json(target, report)
    for name, row in report["variants"].items():
        print(f"{name:32s} AUC loss {row['auc_loss']:+.4f}  end-to-end x{row['end_to_end_speedup_vs_fp32 (default threads)']:.2f} "
              f"(1 thread x{row['end_to_end_speedup_vs_fp32 (1 thread)']:.2f})  {row['size_mb']:.1f} MB")
    print(f"wrote {target}")
    return report


if __name__ == "__main__":
    main()

"""``pneumo-export --to onnx``: export, validate against torch, write the contract, optionally INT8."""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import shutil
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from pneumo_runtime.batch import expand
from pneumo_runtime.contract import ModelContract
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.guard import GuardSettings
from pneumo_runtime.inputs import decode_image, model_input
from pneumo_runtime.json_file import write_json
from pneumo_runtime.model import OnnxModel
from pneumo_runtime.preprocess import PreprocessSettings, prepare_gray, to_model_input

from .errors import ExportError, ExportValidationError
from .guard.population_fit import add_population_arguments, population_check

if TYPE_CHECKING:
    from .quantize import ModelScore

MODEL_NAME = "model"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumo-export", description="Export a pneumo checkpoint and prove the export equals the torch model.")
    parser.add_argument("--to", help="target format (only 'onnx'); required for an export")
    parser.add_argument("--checkpoint", type=Path, help="a pneumo-train checkpoint (best.pt), calibrated; required for an export")
    parser.add_argument("--out", type=Path, help="folder for model.onnx, model.json (+ model.int8.*); required for an export")
    parser.add_argument("--record-test-metrics", type=Path, metavar="MODEL_ONNX",
                        help="instead of exporting: write --test-metrics (pneumo-evaluate on test of this very .onnx) into its contract")
    parser.add_argument("--quantize", choices=["int8"], help="also write a static INT8 (QDQ) model")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--validate-images", type=Path, help="folder of real X-rays for the parity check (default: 64 images of the validation split)")
    parser.add_argument("--data", help="override the training data location stored in the checkpoint")
    parser.add_argument("--test-metrics", type=Path, help="metrics.json from pneumo-evaluate on test, to record in the contract")
    parser.add_argument("--max-auc-drop", type=float, default=0.005, help="refuse INT8 if validation AUC drops more (default 0.005)")
    parser.add_argument("--calibration-images", type=int, default=128, help="training images for INT8 calibration")
    parser.add_argument("--guard-images", type=int, default=600, help="training images in the input guard's feature bank")
    parser.add_argument("--guard-xrays", type=Path, help="extra real X-rays, e.g. full-resolution files (never test): alternate files join the "
                        "guard's feature bank and its cut-off set, so that the guard knows that input domain too")
    add_population_arguments(parser)
    parser.add_argument("--feature-guard", action=argparse.BooleanOptionalAction, default=True,
                        help="reject inputs whose features are unlike the training X-rays (off: colour/shape checks only; for untrained smoke-test models)")
    return parser


def runtime_batch(paths: list[Path], settings: PreprocessSettings) -> np.ndarray:
    """Preprocessed exactly as the runtime will see these files (large JPEGs decoded at reduced scale)."""
    return np.stack([model_input(p, settings) for p in paths])


def images_in(folder: Path) -> list[Path]:
    return expand([folder], recursive=True)


def sample_paths(samples: list, count: int, seed: int = 0) -> list[Path]:
    return [s.path for s in random.Random(seed).sample(samples, min(count, len(samples)))]


def run_export(args: argparse.Namespace) -> dict:
    from pneumo.training.checkpoint import load_checkpoint, rebuild_model
    from pneumo.training.config import config_from_dict
    from pneumo.training.data.split import select_samples

    from .contract_builder import build_contract, check_checkpoint_fields
    from .guard.feature_fit import fit_guard
    from .validate import export_checked

    if args.to != "onnx":
        raise ExportError(f"unsupported --to {args.to!r}: only 'onnx' is supported")
    checkpoint = load_checkpoint(args.checkpoint)
    check_checkpoint_fields(checkpoint)
    loaded = rebuild_model(checkpoint)
    config = config_from_dict({**loaded.checkpoint["config"], **({"data": args.data} if args.data else {})})
    train_samples, val_samples = select_samples(config)
    extra = images_in(args.guard_xrays) if args.guard_xrays and args.feature_guard else []
    # Validation images are prepared once: the guard's symmetry cut-off needs them before
    # normalisation, parity, the feature cut-off and INT8 scoring after it.
    held_out = [prepare_gray(decode_image(p, reduce_to=loaded.preprocess.input_size), loaded.preprocess)
                for p in [s.path for s in val_samples] + extra[1::2]]
    held_out_batch = np.stack([to_model_input(p, loaded.preprocess) for p in held_out])
    val_batch = held_out_batch[:len(val_samples)]
    guard, guard_module = GuardSettings(), None
    if args.feature_guard:
        bank = [*sample_paths(train_samples, args.guard_images), *extra[0::2]]
        guard, guard_module = fit_guard(loaded.model, runtime_batch(bank, loaded.preprocess), held_out_batch, held_out)
    head = loaded.model.classifier.fc
    test_metrics = json.loads(args.test_metrics.read_text()) if args.test_metrics else None
    contract = build_contract(loaded.checkpoint, head.weight.tolist(), head.bias.tolist(), guard, test_metrics)
    report: dict = {"checkpoint": args.checkpoint.name, "model_version": contract.model_version}
    with tempfile.TemporaryDirectory(dir=args.out) as staging_dir:  # nothing half-written is left behind
        staging = Path(staging_dir)
        parity_images = images_in(args.validate_images) if args.validate_images else [s.path for s in val_samples[:64]]
        if not parity_images:
            raise ExportError("no validation images: give --validate-images DIR with real X-rays")
        parity_batch = runtime_batch(parity_images, contract.preprocess)
        fp32, parity = export_checked(loaded.model, contract, staging / f"{MODEL_NAME}.onnx", parity_batch, args.opset, guard_module)
        report["parity"] = parity.to_dict()
        report["guard"] = {**guard.__dict__, "bank_images": min(args.guard_images, len(train_samples)) if args.feature_guard else 0}
        if args.quantize:
            labels = np.array([s.label for s in val_samples])
            report["int8"] = quantize_and_compare(fp32, staging, contract, train_samples, val_batch, labels, args)
        for onnx_path in sorted(staging.glob("*.onnx")):
            report.setdefault("population_check", {})[onnx_path.name] = population_check(onnx_path, args)
        save_explain_checkpoint(loaded.checkpoint, staging / f"{MODEL_NAME}.pt")
        for produced in staging.iterdir():
            shutil.move(str(produced), args.out / produced.name)
    return report


def save_explain_checkpoint(checkpoint: dict, path: Path) -> None:
    """The torch weights that Grad-CAM (Captum) needs, beside the ONNX they were exported to: the
    state_dict and what rebuilds the model, without the optimizer and training state (a third of
    the size)."""
    from pneumo.training.checkpoint import inference_checkpoint, save_checkpoint

    save_checkpoint(path, inference_checkpoint(checkpoint))


def quantize_and_compare(fp32: OnnxModel, staging: Path, contract, train_samples, images: np.ndarray, labels: np.ndarray, args) -> dict:
    from .onnx_export import reseal
    from .quantize import QuantizationReport, quantize_int8, score

    calibration = runtime_batch(sample_paths(train_samples, args.calibration_images, seed=1), contract.preprocess)
    int8_path = staging / f"{MODEL_NAME}.int8.onnx"
    quantize_int8(fp32.path, int8_path, calibration, contract)
    fp32_score, int8_score = score(fp32, images, labels), score(OnnxModel(int8_path), images, labels)
    drop = fp32_score.auc - int8_score.auc
    report = QuantizationReport(fp32_score, int8_score, drop, args.max_auc_drop, drop <= args.max_auc_drop, len(labels))
    print(f"INT8 vs FP32 on {len(labels)} validation images: AUC {int8_score.auc:.4f} vs {fp32_score.auc:.4f} (drop {drop:+.4f}), "
          f"accuracy {int8_score.accuracy:.4f} vs {fp32_score.accuracy:.4f}, latency {int8_score.latency_ms_p50:.1f} vs "
          f"{fp32_score.latency_ms_p50:.1f} ms, size {int8_score.size_mb:.1f} vs {fp32_score.size_mb:.1f} MB")
    if not report.accepted:
        for path in (int8_path, int8_path.with_suffix(".json")):
            path.unlink()
        print(f"INT8 model refused: AUC dropped {drop:.4f} > {args.max_auc_drop}", file=sys.stderr)
    else:
        reseal(int8_path, int8_contract(contract, int8_score, len(labels)))
    return report.to_dict()


def int8_contract(fp32_contract: ModelContract, int8_score: ModelScore, n_images: int) -> ModelContract:
    """The INT8 model is a model of its own: its own version and validation figures, and no test
    metrics until it is evaluated itself (pneumo-export --record-test-metrics)."""
    validation = {"auc_roc": int8_score.auc, "accuracy": int8_score.accuracy, "n_images": n_images,
                  "note": "measured on the INT8 model; temperature and threshold are the FP32 model's"}
    return dataclasses.replace(fp32_contract, model_version=f"{fp32_contract.model_version}-int8",
                               metrics={"validation": validation, "test": None})


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.record_test_metrics:
        return record(args, parser)
    missing = [flag for flag in ("to", "checkpoint", "out") if getattr(args, flag) is None]
    if missing:
        parser.error("an export needs " + ", ".join(f"--{flag}" for flag in missing))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        report = run_export(args)
    except (PneumoError, ValueError, KeyError) as exc:
        # ValueError covers the training side's typed errors (config, data, checkpoint, unknown model).
        print(f"pneumo-export: error: {str(exc).strip() or type(exc).__name__}", file=sys.stderr)
        return 1 if isinstance(exc, ExportValidationError) else 2
    write_json(args.out / "export_report.json", report)
    accepted = report.get("int8", {}).get("accepted", True)
    print(f"wrote {', '.join(sorted(p.name for p in args.out.glob(MODEL_NAME + '*')))} to {args.out}")
    return 0 if accepted else 1


def record(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from .record_metrics import record_test_metrics

    if not args.test_metrics:
        parser.error("--record-test-metrics needs --test-metrics METRICS_JSON")
    try:
        contract = record_test_metrics(args.record_test_metrics, args.test_metrics)
    except PneumoError as exc:
        print(f"pneumo-export: error: {exc}", file=sys.stderr)
        return 2
    shown = ", ".join(f"{k} {v:.4f}" for k, v in contract.headline_metrics("test").items())
    print(f"recorded test metrics in {args.record_test_metrics.name} ({contract.model_version}): {shown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

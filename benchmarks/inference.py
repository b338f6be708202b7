"""Inference alone: PyTorch eager against ONNX Runtime FP32 and INT8, per shipped model and per
registered architecture, interleaved.

    python -m benchmarks.inference [--quick] [--architectures custom_cnn efficientnet_lite0]

For each model: p50/p95 latency at batch 1, throughput (images/s) at batch 1, 8 and 32, peak
resident memory of a fresh process that loads the model and runs it, and the file size. ONNX
Runtime runs through the runtime's own loader and session settings (pneumo_runtime/model.py).
Architectures are timed with random weights, exported here to ONNX and quantised (calibrated on
real training images): speed does not depend on the weights' values. The shipped models' ONNX
graphs also compute the feature map and the guard's distance; their torch twins only the logits.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from pneumo_runtime.json_file import write_json

from .common import KERMANY, MODELS, REPO, WEIGHTS, images_in, interleaved, ratio, summary

SHIPPED = {"default": ("default.onnx", "default.int8.onnx", "default.pt"), "three_class": ("three_class.onnx", None, "three_class.pt")}
BATCHES = (1, 8, 32)

# Run in a fresh interpreter: peak RSS of one process that loads one model and runs batch 1.
RSS_PROBE = """
import sys, numpy as np
backend, path, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
x = np.zeros((1, 3, 224, 224), np.float32)
if backend == "torch":
    import torch
    torch.set_num_threads(threads)
    if path.endswith(".pt"):
        from pneumo.training.checkpoint import model_from_checkpoint
        model = model_from_checkpoint(path).model
    else:
        from pneumo.training.models import create_model
        model = create_model(path, 2, "none").eval()
    with torch.inference_mode():
        for _ in range(3):
            model(torch.from_numpy(x))
else:
    if path.endswith(".pt") is False and __import__("os").path.exists(path[:-5] + ".json"):
        from pneumo_runtime.model import OnnxModel
        run = OnnxModel(path, threads=threads).outputs
    else:  # an architecture's bare export: no contract
        import onnxruntime as ort
        from pneumo_runtime.model import session_options
        session = ort.InferenceSession(path, session_options(threads), providers=["CPUExecutionProvider"])
        run = lambda batch: session.run(None, {"image": batch})
    for _ in range(3):
        run(x)
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from the parent benchmark process
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024)
"""


def peak_rss_mb(backend: str, path: str, threads: int) -> float:
    done = subprocess.run([sys.executable, "-c", RSS_PROBE, backend, path, str(threads)], capture_output=True, text=True, cwd=REPO, timeout=600)
    if done.returncode:
        raise RuntimeError(done.stderr.strip().splitlines()[-1])
    return float(done.stdout.strip().splitlines()[-1])


def real_images(count: int) -> np.ndarray:
    """Real test X-rays, preprocessed by the runtime (the values do not change speed, but honesty)."""
    from pneumo_runtime.inputs import model_input
    from pneumo_runtime.preprocess import PreprocessSettings

    paths = images_in(KERMANY / "test")
    chosen = [paths[i * len(paths) // count] for i in range(count)]
    return np.stack([model_input(p, PreprocessSettings()) for p in chosen])


def contenders(torch_model, onnx_fp32, onnx_int8) -> dict:
    import torch

    def torch_call(batch: np.ndarray):
        with torch.inference_mode():
            return torch_model(torch.from_numpy(batch))

    found = {"pytorch": torch_call, "onnxruntime-fp32": onnx_fp32.outputs}
    if onnx_int8 is not None:
        found["onnxruntime-int8"] = onnx_int8.outputs
    return found


def measure(calls: dict, images: np.ndarray, rounds: int, throughput_rounds: int) -> dict:
    one = images[:1]
    latency = interleaved({name: (lambda c=c: c(one)) for name, c in calls.items()}, rounds)
    result = {name: {"batch1": summary(values)} for name, values in latency.items()}
    for size in BATCHES:
        batch = np.ascontiguousarray(images[:size])
        timings = interleaved({name: (lambda c=c, batch=batch: c(batch)) for name, c in calls.items()}, throughput_rounds)
        for name, values in timings.items():
            result[name][f"throughput_batch{size}_img_s"] = float(size * 1000 / np.median(values))
    fp32 = latency["onnxruntime-fp32"]
    for name, values in latency.items():
        result[name]["speedup_vs_pytorch_batch1"] = ratio(latency["pytorch"], values)
        result[name]["speedup_vs_onnx_fp32_batch1"] = ratio(fp32, values)
    return result


def shipped(name: str, images: np.ndarray, rounds: int, throughput_rounds: int, threads: int, rss: bool) -> dict:
    from pneumo.training.checkpoint import model_from_checkpoint
    from pneumo_runtime.model import OnnxModel

    fp32_file, int8_file, torch_file = SHIPPED[name]
    torch_model = model_from_checkpoint(WEIGHTS / torch_file).model
    fp32 = OnnxModel(MODELS / fp32_file, threads=threads)
    int8 = OnnxModel(MODELS / int8_file, threads=threads) if int8_file else None
    result = measure(contenders(torch_model, fp32, int8), images, rounds, throughput_rounds)
    files = {"pytorch": torch_file, "onnxruntime-fp32": fp32_file, "onnxruntime-int8": int8_file}
    for backend, row in result.items():
        path = (WEIGHTS if backend == "pytorch" else MODELS) / files[backend]
        row["file_mb"] = path.stat().st_size / 1e6
        if rss:
            row["peak_rss_mb"] = peak_rss_mb("torch" if backend == "pytorch" else "onnx", str(path), threads)
    return result


class BareSession:
    """An exported graph without a contract, on the runtime's session settings, run as OnnxModel runs it."""

    def __init__(self, path: Path, threads: int):
        import onnxruntime as ort

        from pneumo_runtime.model import session_options

        self.session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])

    def outputs(self, batch: np.ndarray) -> list[np.ndarray]:
        return [self.session.run(None, {"image": batch[i:i + 1]}) for i in range(len(batch))]


def architecture(name: str, images: np.ndarray, rounds: int, throughput_rounds: int, threads: int, rss: bool, int8: bool, scratch: Path) -> dict:
    import onnx

    from pneumo.export.onnx_export import export_onnx_proto
    from pneumo.export.quantize import BatchReader
    from pneumo.training.models import create_model
    torch_model = create_model(name, 2, "none").eval()
    fp32_path = scratch / f"{name}.onnx"
    onnx.save(export_onnx_proto(torch_model, 224, 17), str(fp32_path))
    paths = {"onnxruntime-fp32": fp32_path}
    if int8:
        from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

        paths["onnxruntime-int8"] = scratch / f"{name}.int8.onnx"
        quantize_static(str(fp32_path), str(paths["onnxruntime-int8"]), BatchReader(images[:8]), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, op_types_to_quantize=["Conv", "Gemm"])
    fp32 = BareSession(fp32_path, threads)
    quantised = BareSession(paths["onnxruntime-int8"], threads) if int8 else None
    result = measure(contenders(torch_model, fp32, quantised), images, rounds, throughput_rounds)
    import torch

    weights = scratch / f"{name}.pt"
    torch.save(torch_model.state_dict(), weights)
    for backend, row in result.items():
        path = weights if backend == "pytorch" else paths[backend]
        row["file_mb"] = path.stat().st_size / 1e6
        if rss:
            row["peak_rss_mb"] = peak_rss_mb("torch", name, threads) if backend == "pytorch" else peak_rss_mb("onnx", str(path), threads)
    return result


def run(quick: bool = False, architectures: list[str] | None = None, threads: int | None = None,
        shipped_models: list[str] | None = None, rounds: int = 20, throughput_rounds: int = 2) -> dict:
    import torch

    from pneumo.training.models import list_models

    threads = threads or torch.get_num_threads()
    torch.set_num_threads(threads)
    rounds, throughput_rounds = (1, 1) if quick else (rounds, throughput_rounds)
    images = real_images(max(BATCHES))
    names = architectures if architectures is not None else (["custom_cnn"] if quick else list_models())
    report = {"threads": threads, "rounds_batch1": rounds, "rounds_throughput": throughput_rounds, "shipped": {}, "architectures": {}}
    for name in (["default"] if quick else shipped_models or list(SHIPPED)):
        report["shipped"][name] = shipped(name, images, rounds, throughput_rounds, threads, rss=True)
        print(f"inference: {name} done", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for name in names:
            report["architectures"][name] = architecture(name, images, rounds, throughput_rounds, threads, rss=not quick, int8=True, scratch=Path(scratch))
            print(f"inference: {name} done", flush=True)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one iteration of everything (the smoke test)")
    parser.add_argument("--architectures", nargs="*")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--shipped", nargs="*", choices=list(SHIPPED), help="shipped models (default: all)")
    parser.add_argument("--rounds", type=int, default=20, help="interleaved rounds at batch 1")
    parser.add_argument("--throughput-rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write a report JSON (python -m benchmarks.report can merge it)")
    args = parser.parse_args()
    result = run(args.quick, args.architectures, args.threads, args.shipped, args.rounds, args.throughput_rounds)
    print(json.dumps(result, indent=1))
    if args.out:
        from .common import machine

        command = "python -m benchmarks.inference " + " ".join(sys.argv[1:])
        write_json(args.out, {"machine": machine(), "quick": args.quick, "command": command, "note": "", "sections": {"inference": result}})


if __name__ == "__main__":
    main()

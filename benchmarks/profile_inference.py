"""Where inference time goes: onnxruntime's own profiler, summed by operator type.

    python -m benchmarks.profile_inference [--model default] [--runs 20] [--threads 1]

Runs one full-size film's model input ``--runs`` times through the runtime's session settings with
profiling on, and prints each operator type's share of the kernel time, plus the optimised graph's
node count (what onnxruntime actually executes).
"""

from __future__ import annotations

import argparse
import collections
import json
import tempfile
from pathlib import Path

import onnxruntime as ort

from pneumo_runtime.contract import INPUT_NAME
from pneumo_runtime.inputs import model_input
from pneumo_runtime.model import session_options
from pneumo_runtime.predictor import Predictor, resolve_model

from .common import FULLRES, images_in


def profile(model: str, runs: int, threads: int | None) -> dict:
    path = resolve_model(model)
    contract = Predictor(model).contract
    image = model_input(images_in(FULLRES)[0], contract.preprocess)[None]
    with tempfile.TemporaryDirectory() as scratch:
        options = session_options(threads)
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(scratch) / "ort")
        options.optimized_model_filepath = str(Path(scratch) / "optimised.onnx")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        for _ in range(runs + 1):
            session.run(None, {INPUT_NAME: image})
        events = json.loads(Path(session.end_profiling()).read_text())
        import onnx

        nodes = len(onnx.load(options.optimized_model_filepath).graph.node)
    by_type: collections.Counter = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            by_type[event["args"]["op_name"]] += event["dur"]
    total = sum(by_type.values())
    return {"model": path.name, "runs": runs, "optimised_nodes": nodes, "kernel_ms_per_run": total / 1000 / (runs + 1),
            "share": {op: round(us / total, 3) for op, us in by_type.most_common(10)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", nargs="+", default=["default", "default.int8"])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps([profile(m, args.runs, args.threads) for m in args.model], indent=1))


if __name__ == "__main__":
    main()

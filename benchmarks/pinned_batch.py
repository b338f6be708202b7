"""The runtime's session settings against onnxruntime's defaults, end to end on the full-size films.

    python -m benchmarks.pinned_batch [--rounds 1] [--model default]

"pinned": the runtime as it is (batch axis pinned to 1, no spinning; pneumo_runtime/model.py).
"free batch": the same predictor with a session whose batch axis stays free and whose threads
spin (onnxruntime's defaults, what the runtime used before). Interleaved film by film, at the
default thread count and at one thread; quoted as ratios of medians.
"""

from __future__ import annotations

import argparse
import json

import onnxruntime as ort

from .common import FULLRES, images_in, interleaved, machine, ratio, summary


def free_batch_predictor(model: str, threads: int | None):
    from pneumo_runtime.predictor import Predictor

    predictor = Predictor(model, threads=threads)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    options.log_severity_level = 3
    predictor.model.session = ort.InferenceSession(str(predictor.model.path), options, providers=["CPUExecutionProvider"])
    return predictor


def run(quick: bool = False, rounds: int = 1, model: str = "default") -> dict:
    from pneumo_runtime.predictor import Predictor

    films = images_in(FULLRES)[: 2 if quick else None]
    report: dict = {"machine": machine(), "model": model, "films": len(films), "rounds": rounds}
    for label, threads in (("default threads", None), ("1 thread", 1)):
        contenders = {"pinned": Predictor(model, threads=threads), "free batch": free_batch_predictor(model, threads)}
        timings: dict[str, list[float]] = {name: [] for name in contenders}
        for _ in range(rounds):
            for film in films:
                for name, values in interleaved({n: (lambda p=p, f=film: p.predict(f)) for n, p in contenders.items()}, 1, warmup=0).items():
                    timings[name].extend(values)
        report[label] = {**{name: summary(values) for name, values in timings.items()}, "pinned_speedup": ratio(timings["free batch"], timings["pinned"])}
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--model", default="default")
    args = parser.parse_args()
    print(json.dumps(run(rounds=args.rounds, model=args.model), indent=1))


if __name__ == "__main__":
    main()

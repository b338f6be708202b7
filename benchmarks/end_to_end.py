"""A full-size film end to end in the runtime, stage by stage, and start-up (import + model load).

    python -m benchmarks.end_to_end [--quick] [--rounds 2] [--models default default.int8] [--films FOLDER]

By default on the 48 original-resolution films of kermany_fullres_sample, for the shipped model
and its INT8 version; ``--models`` takes any names or .onnx files ``pneumo-predict --model`` takes
(an exported model, a zoo member), ``--films`` any folder of films. Stages are timed exactly as
``Predictor`` chains them (decode, preprocessing, guard before and after inference, inference,
decision); ``Predictor.predict`` is timed as a whole beside them; the models, and default threads
against one thread, are interleaved film by film. CLAHE is also timed on the film's own
decoded resolution and on the 224 px image, to show what resizing before CLAHE saves.
Start-up is a fresh interpreter each time, as a user's first call sees it; ``pneumo-predict``
over all the films is timed as a command too.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from .common import FULLRES, REPO, images_in, interleaved, ratio, summary

STARTUP = """
import time, sys
started = time.perf_counter()
from pneumo_runtime.predictor import Predictor
imported = time.perf_counter()
predictor = Predictor(sys.argv[1] or None)
print(imported - started, time.perf_counter() - imported)
"""


def startup(model: str, runs: int) -> dict:
    found = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", STARTUP, model], check=True, capture_output=True, text=True, cwd=REPO).stdout.split()
        found.append((float(out[0]) * 1000, float(out[1]) * 1000))
    imports, loads = [f[0] for f in found], [f[1] for f in found]
    return {"runs": runs, "import_ms": summary(imports), "load_ms": summary(loads), "import_plus_load_ms": summary([a + b for a, b in found])}


def staged(predictor, film: Path) -> dict[str, float]:
    """Predictor._run's chain, each step timed (the same functions, in the same order)."""
    from pneumo_runtime.contract import GUARD_NAME, LOGITS_NAME
    from pneumo_runtime.decision import decisions
    from pneumo_runtime.inputs import load_image
    from pneumo_runtime.preprocess import prepare_gray, to_model_input

    contract = predictor.contract
    marks = [time.perf_counter()]
    loaded = load_image(film, predictor.max_pixels, reduce_to=contract.preprocess.input_size)
    marks.append(time.perf_counter())
    prepared = prepare_gray(loaded.gray, contract.preprocess)
    model_input = to_model_input(prepared, contract.preprocess)[None]
    marks.append(time.perf_counter())
    refused = predictor.guard.before_inference(loaded, prepared)
    marks.append(time.perf_counter())
    outputs = predictor.model.outputs(model_input)
    marks.append(time.perf_counter())
    distance = outputs.get(GUARD_NAME)
    refused = refused or predictor.guard.after_inference(None if distance is None else float(distance[0]))
    marks.append(time.perf_counter())
    decisions(predictor.model.calibrated_probabilities(outputs[LOGITS_NAME]), contract)
    marks.append(time.perf_counter())
    names = ("decode", "preprocess", "guard_before", "inference", "guard_after", "decision")
    return {name: (marks[i + 1] - marks[i]) * 1000 for i, name in enumerate(names)}


def clahe_cost(films: list[Path], rounds: int) -> dict:
    """CLAHE on the decoded film (reduced-scale JPEG decode) against CLAHE on the 224 px image."""
    import cv2

    from pneumo_runtime.inputs import load_image
    from pneumo_runtime.preprocess import ClaheSettings

    clahe = ClaheSettings()
    full = [load_image(f).gray for f in films]
    decoded = [load_image(f, reduce_to=224).gray for f in films]
    small = [cv2.resize(g, (224, 224), interpolation=cv2.INTER_AREA) for g in decoded]
    timings = {"full_resolution": [], "reduced_decode": [], "224px": []}
    for _ in range(rounds):
        for a, b, c in zip(full, decoded, small, strict=True):
            found = interleaved({"full_resolution": lambda a=a: clahe.apply(a), "reduced_decode": lambda b=b: clahe.apply(b),
                                 "224px": lambda c=c: clahe.apply(c)}, 1, warmup=0)
            for k, v in found.items():
                timings[k].extend(v)
    return {**{k: summary(v) for k, v in timings.items()},
            "mean_full_resolution_pixels": float(np.mean([g.size for g in full])),
            "mean_reduced_decode_pixels": float(np.mean([g.size for g in decoded]))}


def through_cli(films: list[Path], model: str, threads: int | None) -> dict:
    """``pneumo-predict`` over all the films as one command: wall time per film, start-up included."""
    command = [str(Path(sys.executable).with_name("pneumo-predict")), *map(str, films), "--model", model, "--format", "csv"]
    if not Path(command[0]).exists():
        command[0:1] = [sys.executable, "-m", "pneumo_runtime.predict_cli"]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    return {"returncode": done.returncode, "films": len(films), "wall_s": seconds, "ms_per_film_with_startup": seconds * 1000 / len(films)}


SHIPPED = ("default", "default.int8")


def run(quick: bool = False, rounds: int = 2, models: tuple[str, ...] = SHIPPED, films_folder: Path = FULLRES) -> dict:
    from pneumo_runtime.predictor import Predictor

    films = images_in(films_folder)[: 2 if quick else None]
    rounds = 1 if quick else rounds
    predictors = {f"{model}, {label}": Predictor(model, threads=threads)
                  for model in models for label, threads in (("default threads", None), ("1 thread", 1))}
    whole: dict[str, list[float]] = {name: [] for name in predictors}
    stages: dict[str, dict[str, list[float]]] = {name: {} for name in predictors}
    for _ in range(rounds):
        for film in films:
            for name, predictor in predictors.items():
                for stage, ms in staged(predictor, film).items():
                    stages[name].setdefault(stage, []).append(ms)
            for name, values in interleaved({n: (lambda p=p, f=film: p.predict(f)) for n, p in predictors.items()}, 1, warmup=0).items():
                whole[name].extend(values)
    report: dict = {"films": len(films), "rounds": rounds, "predict": {}, "ratios": {}}
    for name in predictors:
        report["predict"][name] = {"end_to_end": summary(whole[name]), "stages_p50_ms": {s: float(np.median(v)) for s, v in stages[name].items()}}
    first = models[0]
    report["ratios"] = {f"default_threads_vs_1_thread ({first})": ratio(whole[f"{first}, 1 thread"], whole[f"{first}, default threads"])}
    if set(SHIPPED) <= set(models):
        report["ratios"].update({
            "int8_vs_fp32_end_to_end (default threads)": ratio(whole["default, default threads"], whole["default.int8, default threads"]),
            "int8_vs_fp32_end_to_end (1 thread)": ratio(whole["default, 1 thread"], whole["default.int8, 1 thread"]),
        })
    report["clahe"] = clahe_cost(films[:8], 1 if quick else 3)
    report["startup"] = {model: startup(model, 1 if quick else 5) for model in models}
    report["cli"] = {f"{model}, {label}": through_cli(films, model, threads)
                     for model in models for label, threads in (("default threads", None), ("1 thread", 1))}
    report["py_spy"] = shutil.which("py-spy") is not None
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--models", nargs="+", default=list(SHIPPED), help="shipped model names or .onnx files, as pneumo-predict --model takes them")
    parser.add_argument("--films", type=Path, default=FULLRES, help="folder of films (searched recursively)")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.rounds, tuple(args.models), args.films), indent=1))


if __name__ == "__main__":
    main()

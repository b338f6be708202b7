"""Runtime speed on this machine: start-up (import + model load) and end-to-end latency per image.

    python -m benchmarks.runtime_speed [--model pneumo_runtime/models/default.onnx] [--images ../shared/data/kermany_fullres_sample] [--repeats 5]

End to end means what a user waits for: read the file, decode, CLAHE, resize, inference, guard,
calibrated decision. Start-up is measured in a fresh interpreter, as a user's first call sees it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

DEFAULT_IMAGES = Path(__file__).parents[1].parent / "shared" / "data" / "kermany_fullres_sample"

STARTUP = """
import time, sys
started = time.perf_counter()
from pneumo_runtime.predictor import Predictor
predictor = Predictor(sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else None)
print(time.perf_counter() - started)
"""


def startup_seconds(model: Path | None, runs: int = 3) -> float:
    timings = [float(subprocess.run([sys.executable, "-c", STARTUP, str(model or "")], check=True, capture_output=True, text=True).stdout) for _ in range(runs)]
    return float(np.median(timings))


def latencies_ms(model: Path | None, images: list[Path], repeats: int, threads: int | None) -> dict:
    from pneumo_runtime.predictor import Predictor

    predictor = Predictor(model, threads=threads)
    predictor.predict(images[0])  # warm-up
    timings = []
    for _ in range(repeats):
        for path in images:
            started = time.perf_counter()
            predictor.predict(path)
            timings.append((time.perf_counter() - started) * 1000)
    return {"images": len(images), "runs": len(timings), "p50_ms": float(np.percentile(timings, 50)),
            "p90_ms": float(np.percentile(timings, 90)), "max_ms": float(np.max(timings))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=Path)
    parser.add_argument("--images", type=Path, default=DEFAULT_IMAGES)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int)
    args = parser.parse_args()
    images = sorted(p for p in args.images.rglob("*") if p.suffix.lower() in {".jpeg", ".jpg", ".png"})
    result = {"model": str(args.model or "default"), "startup_s": startup_seconds(args.model),
              "end_to_end": latencies_ms(args.model, images, args.repeats, args.threads)}
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

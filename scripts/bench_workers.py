"""Throughput of ``pneumo-predict --workers N`` (README, "Reliability"): images/s for each N, run
back to back and interleaved (N = 1, 2, 4, 1, 2, 4, ...) so that a noisy machine hurts every
contender alike; medians and ratios to one worker. Each run is the whole command as a user runs it
(start, model load, every image, rows written), timed from outside.

    python scripts/bench_workers.py FOLDER [FOLDER ...] [--workers 1 2 4] [--rounds 3]

Prints one JSON line per folder, with the load average seen before each run: a load above the core
count means other jobs were running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(executable: Path, folder: Path, workers: int, output: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(executable), str(folder), "--recursive", "--output", str(output), "--workers", str(workers)],
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode not in (0, 1):
        raise SystemExit(f"pneumo-predict failed: {done.stderr[-2000:]}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="+", type=Path)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    executable = Path(sys.executable).parent / "pneumo-predict"
    for folder in args.folders:
        images = sum(1 for p in folder.rglob("*") if p.suffix.lower() in (".jpeg", ".jpg", ".png", ".bmp", ".dcm"))
        seconds: dict[int, list[float]] = {n: [] for n in args.workers}
        loads = []
        with tempfile.TemporaryDirectory() as tmp:
            outputs = {}
            for _ in range(args.rounds):
                for n in args.workers:
                    loads.append(round(os.getloadavg()[0], 2))
                    outputs[n] = Path(tmp) / f"rows_{n}.csv"
                    seconds[n].append(one_run(executable, folder, n, outputs[n]))
            same = len({outputs[n].read_bytes() for n in args.workers}) == 1
        rate = {n: images / statistics.median(s) for n, s in seconds.items()}
        print(json.dumps({
            "folder": str(folder), "images": images, "rounds": args.rounds, "cores": os.cpu_count(),
            "seconds": {n: [round(x, 2) for x in s] for n, s in seconds.items()},
            "images_per_s_median": {n: round(r, 1) for n, r in rate.items()},
            "ratio_to_one_worker": {n: round(r / rate[args.workers[0]], 2) for n, r in rate.items()},
            "rows_identical_across_workers": same, "load_average_before_runs": loads,
        }), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Batch prediction through the command line: images/s of ``pneumo-predict`` over a folder.

    python -m benchmarks.batch [--quick] [--workers 1 2 4] [--rounds 3] [FOLDER ...]

By default over the 624 official test images (224 px) and the 48 full-size films; any folders
given instead. Each round runs the plain command, then ``--workers N`` for each N, back to back
(plain, 1, 2, 4, plain, 1, 2, 4, ...), so that a noisy machine hurts every contender alike; the
report gives medians over rounds and each row's ratio to the plain run. Wall time includes
start-up, as a user waiting for a folder sees it. A worker run's rows are compared with the plain
run's (same order, same decisions). The load average before each run is kept: a load above the
core count means other jobs were running.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .common import FULLRES, KERMANY, REPO, images_in


def cli() -> list[str]:
    script = Path(sys.executable).with_name("pneumo-predict")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pneumo_runtime.predict_cli"]


def timed(arguments: list[str], images: int) -> tuple[dict, str]:
    load = os.getloadavg()[0]
    started = time.perf_counter()
    done = subprocess.run([*cli(), *arguments, "--format", "csv"], capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    row = {"returncode": done.returncode, "wall_s": seconds, "images": images, "images_per_s": images / seconds, "load_average_before": round(load, 2)}
    if done.returncode and "unrecognized arguments" in done.stderr:
        return {"available": False, "note": "not available: " + done.stderr.strip().splitlines()[-1][:200]}, ""
    return row, done.stdout


def rows(csv_text: str) -> list[str]:
    """The CSV lines without per-run columns (timings), for comparing two runs' results."""
    lines = csv_text.strip().splitlines()
    if not lines:
        return []
    header = lines[0].split(",")
    keep = [i for i, name in enumerate(header) if "ms" not in name and "time" not in name]
    return [",".join(cells[i] for i in keep if i < len(cells)) for cells in (line.split(",") for line in lines)]


def one_set(arguments: list[str], count: int, workers: list[int], rounds: int = 1) -> dict:
    """Plain and ``--workers N`` runs interleaved over ``rounds``; medians of wall time."""
    contenders = {"plain": arguments, **{f"workers_{n}": [*arguments, "--workers", str(n)] for n in workers}}
    runs: dict[str, list[dict]] = {name: [] for name in contenders}
    outputs: dict[str, str] = {}
    for _ in range(rounds):
        for name, command in contenders.items():
            row, outputs[name] = timed(command, count)
            runs[name].append(row)
    report: dict = {}
    for name, found in runs.items():
        if not found[0].get("available", True):
            report[name] = found[0]
            continue
        wall = statistics.median(r["wall_s"] for r in found)
        report[name] = {"returncode": found[-1]["returncode"], "rounds": rounds, "wall_s": wall, "wall_s_each": [round(r["wall_s"], 2) for r in found],
                        "images": count, "images_per_s": count / wall, "load_average_before": [r["load_average_before"] for r in found]}
        if name != "plain":
            report[name]["speedup_vs_plain"] = report["plain"]["wall_s"] / wall
            report[name]["identical_rows"] = rows(outputs[name]) == rows(outputs["plain"])
    if "workers_1" in report and "workers_2" in report and report["workers_2"].get("available", True) and report["workers_1"].get("available", True):
        report["workers_2_vs_1"] = report["workers_1"]["wall_s"] / report["workers_2"]["wall_s"]
    return report


def run(quick: bool = False, workers: list[int] | None = None, rounds: int = 1, folders: list[Path] | None = None) -> dict:
    workers = workers or [1, 2, 4]
    if quick:
        films = images_in(FULLRES)
        return {"full_size_sample": one_set([str(f) for f in films[:2]], 2, workers[:1])}
    sets = {str(f): f for f in folders} if folders else {"test_624": KERMANY / "test", "full_size_sample": FULLRES}
    report: dict = {"cores": os.cpu_count()}
    for name, folder in sets.items():
        report[name] = one_set([str(folder), "--recursive"], len(images_in(folder)), workers, rounds)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folders", nargs="*", type=Path, help="folders of images (default: the official test set and the full-size sample)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+")
    parser.add_argument("--rounds", type=int, default=1, help="interleaved rounds; the report gives medians")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.workers, args.rounds, args.folders), indent=1))


if __name__ == "__main__":
    main()

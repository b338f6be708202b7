"""Batch prediction through the command line: images/s of ``pneumo-predict`` over a folder.

    python -m benchmarks.batch [--quick] [--workers 1 2 4]

Over the 624 official test images (224 px) and the 48 full-size films: once as a plain command and
once per ``--workers N``. Wall time includes start-up, as a user waiting for a folder sees it. A
``pneumo-predict`` without ``--workers`` records the worker rows as not available; rows of a
worker run are compared with the plain run's (same order, same decisions).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from .common import FULLRES, KERMANY, REPO, images_in


def cli() -> list[str]:
    script = Path(sys.executable).with_name("pneumo-predict")
    return [str(script)] if script.exists() else [sys.executable, "-m", "pneumo_runtime.cli"]


def timed(arguments: list[str], images: int) -> tuple[dict, str]:
    started = time.perf_counter()
    done = subprocess.run([*cli(), *arguments, "--format", "csv"], capture_output=True, text=True, cwd=REPO)
    seconds = time.perf_counter() - started
    row = {"returncode": done.returncode, "wall_s": seconds, "images": images, "images_per_s": images / seconds}
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


def one_set(arguments: list[str], count: int, workers: list[int]) -> dict:
    plain, plain_csv = timed(arguments, count)
    report = {"plain": plain}
    for n in workers:
        row, found_csv = timed([*arguments, "--workers", str(n)], count)
        if row.get("available", True):
            row["speedup_vs_plain"] = plain["wall_s"] / row["wall_s"]
            row["identical_rows"] = rows(found_csv) == rows(plain_csv)
        report[f"workers_{n}"] = row
    if "workers_1" in report and "workers_2" in report and report["workers_2"].get("available", True) and report["workers_1"].get("available", True):
        report["workers_2_vs_1"] = report["workers_1"]["wall_s"] / report["workers_2"]["wall_s"]
    return report


def run(quick: bool = False, workers: list[int] | None = None) -> dict:
    workers = workers or [1, 2, 4]
    test, films = images_in(KERMANY / "test"), images_in(FULLRES)
    if quick:
        return {"full_size_sample": one_set([str(f) for f in films[:2]], 2, workers[:1])}
    return {"test_624": one_set([str(KERMANY / "test"), "--recursive"], len(test), workers),
            "full_size_sample": one_set([str(FULLRES), "--recursive"], len(films), workers)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--workers", type=int, nargs="+")
    args = parser.parse_args()
    print(json.dumps(run(args.quick, args.workers), indent=1))


if __name__ == "__main__":
    main()

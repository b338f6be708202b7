"""Resident memory of ``pneumo-predict`` over a large folder: is it flat?

Builds a temporary folder of N links (default 5,000) to the 624 official test images, runs
``pneumo-predict FOLDER --output rows.csv`` and samples the resident memory (VmRSS, Linux /proc) of
the process and its workers twice a second. Prints RSS after the first rows, at the peak and at the
end, with the rows done at each sample, as JSON (one line) and as a short text summary.

    python -m benchmarks.batch_memory [--images 5000] [--workers 1] [--source DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from pneumo_runtime.batch import IMAGE_SUFFIXES
from pneumo_runtime.data_root import data_root

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = data_root() / "kermany_224" / "test"


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` and its children (the workers), in MiB; 0 once it has exited."""
    total = 0
    for each in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{each}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def rows_done(path: Path) -> int:
    try:
        with path.open("rb") as handle:
            return max(0, sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b"")) - 1)
    except OSError:
        return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE, help="folder of images, walked recursively")
    args = parser.parse_args()
    sources = sorted(p for p in args.source.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
    if not sources:
        print(f"no images under {args.source}", file=sys.stderr)
        return 2
    executable = Path(sys.executable).parent / "pneumo-predict"
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        for index in range(args.images):
            (folder / f"{index:06d}{sources[index % len(sources)].suffix}").symlink_to(sources[index % len(sources)])
        output = Path(tmp) / "rows.csv"
        started = time.monotonic()
        process = subprocess.Popen([str(executable), str(folder), "--output", str(output), "--workers", str(args.workers)],
                                   stderr=subprocess.PIPE, text=True)
        samples = []
        while process.poll() is None:
            samples.append((round(time.monotonic() - started, 1), rows_done(output), round(rss_mib(process.pid), 1)))
            time.sleep(0.5)
        stderr = process.stderr.read()
        elapsed = time.monotonic() - started
        total_rows = rows_done(output)
    working = [s for s in samples if s[1] > 0]
    if process.returncode not in (0, 1) or not working:
        print(f"pneumo-predict failed ({process.returncode}): {stderr[-2000:]}", file=sys.stderr)
        return 1
    first, peak, last = working[0], max(working, key=lambda s: s[2]), working[-1]
    after_100 = next((s for s in working if s[1] >= 100), first)
    result = {
        "images": args.images, "workers": args.workers, "rows": total_rows, "seconds": round(elapsed, 1),
        "rss_mib_first_rows": first[2], "rss_mib_after_100_rows": after_100[2], "rss_mib_peak": peak[2],
        "rss_mib_at_end": last[2], "growth_mib_from_100_rows_to_end": round(last[2] - after_100[2], 1),
        "samples_seconds_rows_rss": working[:: max(1, len(working) // 20)],
        "load_average_at_end": os.getloadavg(), "cores": os.cpu_count(),
    }
    print(json.dumps(result))
    print(f"{total_rows} rows in {elapsed:.0f} s; RSS {after_100[2]:.0f} MiB after 100 rows (at {after_100[1]}), "
          f"peak {peak[2]:.0f} MiB (at row {peak[1]}), {last[2]:.0f} MiB at row {last[1]}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

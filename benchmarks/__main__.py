"""Every speed benchmark in one run: ``python -m benchmarks [--quick] [--sections ...] [--out DIR]``.

Writes ``<date>-<machine>.json``, ``.md`` (tables) and ``.png`` (plot) under benchmarks/results/,
each naming the CPU model, core count and library versions. Sections: inference, end_to_end,
explain, serving, batch, training, footprint (python -m benchmarks.<section> runs one alone);
INT8 variants are a separate, longer run: python -m benchmarks.int8_variants.
``--quick`` runs each benchmark for one iteration (what the smoke test does): its numbers mean nothing.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from pathlib import Path

from pneumo_runtime.json_file import write_json

from .common import RESULTS, machine
from .report import write_markdown, write_plot

SECTIONS = ("footprint", "end_to_end", "inference", "explain", "batch", "serving", "training")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="one iteration of each benchmark (the smoke test); numbers mean nothing")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--architectures", nargs="+", help="registered architectures for inference and training (default: all)")
    args = parser.parse_args(argv)
    report: dict = {"machine": machine(), "quick": args.quick, "command": "python -m benchmarks " + " ".join(argv if argv is not None else sys.argv[1:]),
                    "note": "shared machine: contenders are interleaved in one run and compared as ratios of medians", "sections": {}}
    failed = []
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"{report['machine']['date_utc'][:10]}-{report['machine']['hostname']}{'-quick' if args.quick else ''}"
    for section in args.sections:
        started = time.perf_counter()
        print(f"== {section}", flush=True)
        try:
            extra = {"architectures": args.architectures} if args.architectures and section in ("inference", "training") else {}
            result = importlib.import_module(f"benchmarks.{section}").run(quick=args.quick, **extra)
        except Exception as exc:  # one broken section must not lose the others' numbers
            traceback.print_exc()
            result = {"error": f"{type(exc).__name__}: {exc}"}
            failed.append(section)
        result["section_wall_s"] = time.perf_counter() - started
        report["sections"][section] = result
        write_json(stem.with_suffix(".json"), report)  # after each section: a long run's numbers survive an interruption
    write_markdown(report, stem.with_suffix(".md"))
    write_plot(report, stem.with_suffix(".png"))
    print(f"wrote {stem}.json, .md, .png")
    if failed:
        print(f"failed sections: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())

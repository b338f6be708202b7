"""What the scope checks cost a full-size film end to end: ``Predictor.predict`` with the model's
population check (and the features output it reads) against the same predictor without it.

    python -m benchmarks.population_check [--model default] [--rounds 5] [--threads 1]

Both contenders share one model session and run film by film in turn (``interleaved``), so that
the load of the machine weighs on both alike. Writes results/population_check.json.
"""

from __future__ import annotations

import argparse
import copy
import os

from .common import FULLRES, RESULTS, images_in, interleaved, summary


def main(argv: list[str] | None = None) -> int:
    from pneumo_runtime.json_file import write_json
    from pneumo_runtime.predictor import Predictor

    parser = argparse.ArgumentParser(prog="python -m benchmarks.population_check", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    films = images_in(FULLRES)
    with_check = Predictor(args.model, threads=args.threads)
    without = copy.copy(with_check)
    without.population = None  # the same session; no features output read, no score
    timings: dict[str, list[float]] = {"with the check": [], "without": []}
    for film in films:
        found = interleaved({"with the check": lambda film=film: with_check.predict(film), "without": lambda film=film: without.predict(film)}, args.rounds)
        for name, values in found.items():
            timings[name].extend(values)
    result = {"model": args.model, "films": len(films), "threads": args.threads, "load_average": os.getloadavg(),
              **{name: summary(values) for name, values in timings.items()}}
    result["added_p50_ms"] = result["with the check"]["p50_ms"] - result["without"]["p50_ms"]
    write_json(RESULTS / "population_check.json", result)
    for name in timings:
        print(f"{name:>15}: p50 {result[name]['p50_ms']:.2f} ms, p95 {result[name]['p95_ms']:.2f} ms")
    print(f"added: {result['added_p50_ms']:+.2f} ms at p50 ({len(films)} full-size films x {args.rounds} rounds, load {result['load_average'][0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

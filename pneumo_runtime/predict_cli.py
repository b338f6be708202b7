"""``pneumo-predict``: one row per input file, in input order, each written and flushed as soon as
it is known; one bad file never stops the rest, and an interrupted run keeps every finished row."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from .arguments import add_model_argument
from .batch import COLUMNS, BatchPredictor, expand, walk_inputs  # noqa: F401  (expand, COLUMNS: public names)
from .errors import PneumoError
from .inputs import DEFAULT_MAX_PIXELS
from .notices import DISCLAIMER
from .output import FORMATS, RESUMABLE, RowWriter, format_for, resume
from .predictor import Predictor
from .scope import INTENDED_USE, scope_line

PROGRESS_FROM = 5  # rows; fewer need no summary line
PROGRESS_EVERY = 0.25  # seconds between progress updates on a terminal


class UsageError(Exception):
    pass


class Stop:
    """The first Ctrl-C or SIGTERM asks the run to stop after the row at hand; a second one forces it."""

    def __init__(self):
        self.signal: int | None = None

    def __call__(self, signum, frame) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum

    def install(self) -> dict:
        """Returns the handlers it replaced, to restore them (the CLI may run inside another program)."""
        return {signum: signal.signal(signum, self) for signum in (signal.SIGINT, signal.SIGTERM)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumo-predict", description=f"Pneumonia second opinion on chest X-rays. {DISCLAIMER}")
    parser.add_argument("paths", nargs="*", type=Path, help="image files (JPEG, PNG, BMP, DICOM) or folders")
    parser.add_argument("--about", action="store_true", help="describe the model (version, metrics, intended use) and exit")
    parser.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    add_model_argument(parser)
    parser.add_argument("--format", choices=FORMATS, help="csv and jsonl stream one line per row; json is an array; "
                        "default: from the --output suffix (.csv, .jsonl, .json), else a table")
    parser.add_argument("--output", type=Path, help="write the rows here instead of standard output")
    parser.add_argument("--skip-existing", type=Path, metavar="OUTPUT", help="resume: keep the rows already in OUTPUT, "
                        "skip their inputs and append the others' rows to it (implies --output OUTPUT)")
    parser.add_argument("--workers", type=int, default=1, help="processes predicting in parallel, each with its own "
                        "model session and its share of the cores (default: 1)")
    parser.add_argument("--threads", type=int, help="onnxruntime threads per worker (default: the cores shared among workers)")
    parser.add_argument("--patient-age", metavar="YEARS", help="the patients' age in years, for every input of this run "
                        "(DICOM files otherwise give their own); outside 1-5 every film is REJECTED: " + INTENDED_USE)
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images, and files larger "
                        "than such an image can be (decompression-bomb and endless-file guard)")
    return parser


def check_arguments(args: argparse.Namespace) -> None:
    if args.skip_existing:
        if args.output and args.output.resolve() != args.skip_existing.resolve():
            raise UsageError("--skip-existing OUTPUT and --output name different files")
        args.output = args.skip_existing
    args.format = args.format or format_for(args.output)
    if args.skip_existing and args.format not in RESUMABLE:
        raise UsageError(f"--skip-existing needs --format {', '.join(RESUMABLE)} (or an OUTPUT ending in .csv, .jsonl, .json)")
    if args.workers < 1 or (args.threads is not None and args.threads < 1):
        raise UsageError("--workers and --threads must be at least 1")
    if args.max_pixels < 1:
        raise UsageError("--max-pixels must be at least 1")


def about(predictor: Predictor) -> str:
    """What an IT person or a clinician should know before using the model: all from its contract."""
    c = predictor.contract
    decision = "decision argmax"
    if c.threshold is not None:
        rule, target = c.threshold_rule.get("rule", "?"), c.threshold_rule.get("target")
        decision = f"threshold {c.threshold:.3f} (rule: validation {rule}{'' if target is None else f' >= {target}'})"
    cutoff = "never" if c.uncertainty.cutoff is None else f"{c.uncertainty.cutoff:.3f}"
    rows = [
        ("model", f"{c.model_version} ({c.architecture}), file {predictor.model.path.name}, SHA-256 {c.onnx_sha256[:16]}... verified"),
        ("classes", f"{', '.join(c.classes)}; input {c.preprocess.input_size} px, CLAHE {'on' if c.preprocess.clahe.enabled else 'off'}, "
                    + (f"field of view: centred ellipse ({c.preprocess.ellipse_mask:g} x the inscribed one), corners hidden"
                       if c.preprocess.ellipse_mask else "field of view: the whole image")),
        ("calibration", f"temperature {c.temperature:.3f}; {decision}; refer above uncertainty {cutoff}"),
    ]
    for split in ("validation", "test"):
        shown = {k: v for k, v in c.headline_metrics(split).items() if k in ("auc_roc", "accuracy", "balanced_accuracy", "sensitivity", "specificity", "ece_after")}
        rows.append((f"{split} metrics", ", ".join(f"{k} {v:.3f}" for k, v in shown.items()) or "not recorded in this model's contract"))
    rows += [("intended use", c.intended_use), ("scope", scope_line(c.population_check)), ("data", c.data_citation)]
    return "\n".join(f"{name:<20}{value}" for name, value in rows) + f"\n\n{c.disclaimer}"


class Progress:
    """On standard error only, never among the rows; no file names (they may identify a patient)."""

    def __init__(self):
        self.started = self.shown = time.monotonic()
        self.done = self.errors = 0
        self.live = sys.stderr.isatty()

    def update(self, row: dict) -> None:
        self.done += 1
        self.errors += row["prediction"] == "ERROR"
        now = time.monotonic()
        if self.live and now - self.shown >= PROGRESS_EVERY:
            self.shown = now
            print(f"\r{self.line()}", end="", file=sys.stderr, flush=True)

    def line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return f"{self.done} rows ({self.errors} errors), {self.done / elapsed:.1f} images/s"

    def finish(self) -> None:
        if self.live and self.done or self.done >= PROGRESS_FROM:
            print(f"{chr(13) if self.live else ''}{self.line()}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    try:
        return run(argv)
    except BrokenPipeError:  # e.g. piped into `head`: not an error worth a traceback
        sys.stderr = open(os.devnull, "w")
        return 0


def run(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exit_:
        return 2 if exit_.code else 0
    if not args.paths and not args.about:
        parser.print_usage(sys.stderr)
        print("pneumo-predict: error: give image files or folders (or --about)", file=sys.stderr)
        return 2
    try:
        check_arguments(args)
        if args.about:
            print(about(Predictor(args.model, threads=args.threads)))
            return 0
        batch = BatchPredictor(args.model, workers=args.workers, threads=args.threads, max_pixels=args.max_pixels, patient_age=args.patient_age)
        done, rows_before = resume(args.skip_existing, args.format) if args.skip_existing else (set(), 0)
        # Opened before any work: an unwritable output must not cost a computed row.
        handle = args.output.open("a" if args.skip_existing else "w", encoding="utf-8") if args.output else sys.stdout
    except (UsageError, PneumoError, OSError, ValueError) as exc:  # ValueError: an OUTPUT that is not text
        print(f"pneumo-predict: error: {exc}", file=sys.stderr)
        return 2
    inputs = (path for path in walk_inputs(args.paths, args.recursive) if str(path) not in done)
    stop = Stop()
    previous = stop.install()
    try:
        with handle if args.output else contextlib.nullcontext(handle):  # standard output is not ours to close
            progress, written = predict_all(batch, inputs, RowWriter(handle, args.format, rows_before), stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if args.output and not written and not rows_before:
        args.output.unlink(missing_ok=True)  # no row at all: leave no empty file behind
    return report(progress, written, args, stop, skipped=len(done))


def predict_all(batch: BatchPredictor, inputs, writer: RowWriter, stop: Stop) -> tuple[Progress, int]:
    progress = Progress()
    rows = batch.rows(inputs)
    try:
        for result in rows:
            writer.write(result)
            progress.update(result)
            if stop.signal is not None:
                break
    except KeyboardInterrupt:  # a second signal: stop now; rows written so far are complete
        stop.signal = stop.signal or signal.SIGINT
    finally:
        rows.close()  # stops the workers, if any
        if writer.count or writer.rows_before:
            writer.close()
    progress.finish()
    return progress, writer.count


def report(progress: Progress, written: int, args: argparse.Namespace, stop: Stop, skipped: int) -> int:
    where = args.output or "standard output"
    if stop.signal is not None:
        print(f"pneumo-predict: interrupted after {progress.done} rows; every finished row is in {where}"
              + (f"; resume with --skip-existing {args.output}" if args.output and args.format in RESUMABLE else ""), file=sys.stderr)
        return 128 + stop.signal
    if not written and not skipped:
        print("pneumo-predict: error: no image files found", file=sys.stderr)
        return 2
    if skipped:
        print(f"pneumo-predict: {skipped} inputs already had a row in {args.output}; {progress.done} new rows", file=sys.stderr)
    return 1 if progress.errors else 0


if __name__ == "__main__":
    sys.exit(main())

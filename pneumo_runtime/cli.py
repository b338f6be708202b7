"""``pneumo-predict``: one row per input file, in input order; one bad file never stops the rest."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import sys
from pathlib import Path

from .errors import PneumoError
from .inputs import DEFAULT_MAX_PIXELS
from .notices import DISCLAIMER
from .predictor import Prediction, Predictor, shipped_models

IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png", ".bmp", ".dcm", ".dicom"}
COLUMNS = ("path", "prediction", "p_pneumonia", "uncertainty", "threshold", "reason", "error")
PROGRESS_FROM = 5  # files; fewer need no progress bar


class UsageError(Exception):
    pass


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pneumo-predict", description=f"Pneumonia second opinion on chest X-rays. {DISCLAIMER}")
    parser.add_argument("paths", nargs="*", type=Path, help="image files (JPEG, PNG, BMP, DICOM) or folders")
    parser.add_argument("--about", action="store_true", help="describe the model (version, metrics, intended use) and exit")
    parser.add_argument("--recursive", action="store_true", help="descend into sub-folders")
    parser.add_argument("--model", help="a shipped model (" + ", ".join(shipped_models()) + "; default: default) "
                        "or the path of an exported .onnx")
    parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
    parser.add_argument("--output", type=Path, help="write the results here instead of standard output")
    parser.add_argument("--threads", type=int, help="onnxruntime threads (default: all cores)")
    parser.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (decompression-bomb guard)")
    return parser


def expand(paths: list[Path], recursive: bool) -> list[Path]:
    """Files as given; folders become their image files, sorted. A missing path stays, to be reported."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = path.rglob("*") if recursive else path.glob("*")
            files += sorted(p for p in found if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
        else:
            files.append(path)
    return files


def row(path: Path, result: Prediction | PneumoError) -> dict:
    if isinstance(result, PneumoError):
        return {"path": str(path), "prediction": "ERROR", "p_pneumonia": None, "uncertainty": None, "threshold": None, "reason": "", "error": str(result)}
    return {"path": str(path), "prediction": result.decision, "p_pneumonia": result.p_pneumonia, "uncertainty": result.uncertainty,
            "threshold": result.threshold, "reason": result.reason, "error": ""}


def render(rows: list[dict], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(rows, indent=1) + "\n"
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in r.items()} for r in rows)
        return buffer.getvalue()
    return table(rows)


def table(rows: list[dict]) -> str:
    def cell(value) -> str:
        return "" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    shown = ("path", "prediction", "p_pneumonia", "uncertainty", "threshold", "error")
    cells = [[cell(r[c]) for c in shown] for r in rows]
    widths = [max(len(c), *(len(line[i]) for line in cells)) for i, c in enumerate(shown)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(shown, widths))]
    lines += ["  ".join(v.ljust(w) for v, w in zip(line, widths)).rstrip() for line in cells]
    return "\n".join(lines) + f"\n\n{DISCLAIMER}\n"


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
    rows += [("intended use", c.intended_use), ("data", c.data_citation)]
    return "\n".join(f"{name:<20}{value}" for name, value in rows) + f"\n\n{c.disclaimer}"


def progress(done: int, total: int) -> None:
    if total >= PROGRESS_FROM and sys.stderr.isatty() or total >= PROGRESS_FROM and done == total:
        filled = int(30 * done / total)
        print(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}", end="\n" if done == total else "", file=sys.stderr, flush=True)


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
        predictor = Predictor(args.model, threads=args.threads, max_pixels=args.max_pixels)
    except PneumoError as exc:
        print(f"pneumo-predict: error: {exc}", file=sys.stderr)
        return 2
    if args.about:
        print(about(predictor))
        return 0
    files = expand(args.paths, args.recursive)
    if not files:
        print("pneumo-predict: error: no image files found", file=sys.stderr)
        return 2
    rows = []
    for index, path in enumerate(files, start=1):
        rows.append(row(path, predictor.predict_batch([path])[0]))
        progress(index, len(files))
    text = render(rows, args.format)
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 1 if any(r["prediction"] == "ERROR" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())

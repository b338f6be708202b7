"""Fit, seal and study the population check (``pneumo_runtime.scope.PopulationCheck``).

The check is a logistic regression on the model's own pooled features: the training children of
``kermany_224/train`` against the adults of ``adult_cxr/adults`` (never the test split). Its cut-offs
are quantiles of the training children's out-of-fold scores (5 folds by patient): above the 99.5%
quantile a film is referred as possibly an older child's or an adult's, above the 99.9% quantile it is
refused as an adult's. The rule (C, folds, quantiles) was fixed before any figure was read:
docs/experiments/2026-12-07-scope.md.

    python -m pneumo.export.guard.population_fit seal --model default --model default.int8 --model three_class
    python -m pneumo.export.guard.population_fit study --model default --out runs/population
    python -m pneumo.export.guard.population_fit naming --model default --out runs/population

``seal`` writes the check into each model's contract sidecar, bound to the model file by its digest.
``naming`` counts how refusals name their cause (adults never "turned"; inverted and turned test
films named so). ``study`` writes the leave-one-source-out table (fitted on two adult collections, the third scored
through the whole runtime), the refusals on the official test split, and the other-source children
by age, as JSON and Markdown.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np

from pneumo_runtime.contract import FEATURES_NAME, read_sidecar, sidecar_path
from pneumo_runtime.data_root import data_root
from pneumo_runtime.errors import PneumoError
from pneumo_runtime.inputs import model_input
from pneumo_runtime.json_file import write_json
from pneumo_runtime.model import OnnxModel
from pneumo_runtime.predictor import Predictor, resolve_model
from pneumo_runtime.scope import PopulationCheck, pooled_features

REGULARISATION_C = 0.1  # fixed before the figures; standardised features, classes weighted equally
FOLDS = 5
REFER_QUANTILE = 0.995
REJECT_QUANTILE = 0.999
ADULT_SOURCES = ("ieee8023", "covid_cxnet", "hannover")
IMAGE_SUFFIXES = {".jpeg", ".jpg", ".png"}


def images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)


def feature_rows(model: OnnxModel, paths: list[Path]) -> np.ndarray:
    """(N, C) pooled features of each film as the Predictor sees it; a film that cannot be read
    gets a row of NaN (and is left out of the fit)."""
    settings = model.contract.preprocess
    rows = []
    for path in paths:
        try:
            pixels = model_input(path, settings)[None]
            rows.append(pooled_features(model.outputs(pixels, features=True)[FEATURES_NAME])[0])
        except PneumoError:
            rows.append(None)
    width = next((len(r) for r in rows if r is not None), 0)
    return np.array([r if r is not None else np.full(width, np.nan) for r in rows])


def _fit(children: np.ndarray, adults: np.ndarray) -> PopulationCheck:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    features = np.vstack([children, adults])
    target = np.r_[np.zeros(len(children)), np.ones(len(adults))]
    scaler = StandardScaler().fit(features)
    regression = LogisticRegression(C=REGULARISATION_C, class_weight="balanced", max_iter=5000).fit(scaler.transform(features), target)
    # StandardScaler's scale_ is 1 for a constant feature, so the division is always defined.
    return PopulationCheck(mean=tuple(scaler.mean_), scale=tuple(scaler.scale_), weights=tuple(regression.coef_[0]),
                           bias=float(regression.intercept_[0]), refer_above=np.inf, reject_above=np.inf, fitted_on={})


def fit_check(children: np.ndarray, patients: list[str], adults: np.ndarray, fitted_on: dict) -> PopulationCheck:
    """The check on all films, its cut-offs from the children's out-of-fold scores (folds by patient)."""
    from sklearn.model_selection import GroupKFold

    keep = ~np.isnan(children).any(axis=1)
    children, groups = children[keep], np.asarray(patients)[keep]
    adults = adults[~np.isnan(adults).any(axis=1)]
    out_of_fold = np.empty(len(children))
    for fit_rows, held_rows in GroupKFold(FOLDS).split(children, groups=groups):
        out_of_fold[held_rows] = _fit(children[fit_rows], adults).scores(children[held_rows])
    check = _fit(children, adults)
    return PopulationCheck(**{**check.__dict__, "refer_above": float(np.quantile(out_of_fold, REFER_QUANTILE)),
                              "reject_above": float(np.quantile(out_of_fold, REJECT_QUANTILE)),
                              "fitted_on": {**fitted_on, "children": int(len(children)), "adults": int(len(adults)),
                                            "C": REGULARISATION_C, "folds": FOLDS, "quantiles": [REFER_QUANTILE, REJECT_QUANTILE]}})


def seal(onnx_path: Path, check: PopulationCheck) -> None:
    """Write the check into the model's contract sidecar, bound to the model file."""
    contract = read_sidecar(onnx_path)
    sealed = dataclasses.replace(contract, population_check=check.sealed(contract.onnx_sha256))
    sidecar_path(onnx_path).write_text(sealed.to_json() + "\n")  # the contract's own serialisation, as export writes it


class Corpus:
    """Every film the check is fitted or judged on, and the model's features of each, cached per model."""

    def __init__(self, root: Path, cache: Path | None):
        self.root, self.cache = root, cache
        self.children = images(root / "kermany_224" / "train")
        self.adults = {source: images(root / "adult_cxr" / "adults" / source) for source in ADULT_SOURCES}
        if not self.children or not all(self.adults.values()):
            raise PneumoError(f"population_fit: kermany_224/train and adult_cxr/adults/{{{','.join(ADULT_SOURCES)}}} are needed under {root}")

    def features(self, model_path: Path, name: str, paths: list[Path]) -> np.ndarray:
        cached = self.cache / f"{model_path.stem}-{name}.npy" if self.cache else None
        if cached and cached.is_file():
            return np.load(cached)
        rows = feature_rows(OnnxModel(model_path, threads=1), paths)
        if cached:
            cached.parent.mkdir(parents=True, exist_ok=True)
            np.save(cached, rows)
        return rows

    def check(self, model_path: Path, sources: tuple[str, ...] = ADULT_SOURCES) -> PopulationCheck:
        from pneumo.training.data.samples import patient_id

        children = self.features(model_path, "children", self.children)
        adults = np.vstack([self.features(model_path, f"adults-{s}", self.adults[s]) for s in sources])
        return fit_check(children, [patient_id(p) for p in self.children], adults,
                         {"children": "kermany_224/train", "adults": [f"adult_cxr/adults/{s}" for s in sources]})


def add_population_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that writes a model (pneumo-export, pneumo-adapt)."""
    parser.add_argument("--population-data", type=Path, help="the folder holding kermany_224/train (children) and adult_cxr/adults "
                        "(adults) that the population check is fitted on (default: ../shared/data, or $PNEUMO_DATA)")
    parser.add_argument("--population-check", action=argparse.BooleanOptionalAction, default=True,
                        help="fit the population check that refuses adults' films into every model written (default: on; "
                             "--no-population-check only for smoke tests of untrained models)")


def population_check(onnx_path: Path, args: argparse.Namespace) -> dict:
    """Fit the check on the model just written and seal it into its contract; a summary for the report."""
    if not args.population_check:
        return {"fitted": False}
    check = Corpus(args.population_data or data_root(), None).check(onnx_path)
    seal(onnx_path, check)
    return {"fitted": True, "refer_above": check.refer_above, "reject_above": check.reject_above, **check.fitted_on}


def wilson(k: int, n: int) -> tuple[float, float]:
    from pneumo.training.evaluation.intervals import wilson_interval

    return wilson_interval(k, n)


def _copy_with_check(onnx_path: Path, check: PopulationCheck, folder: Path) -> Path:
    """A model beside a contract carrying another check: the runtime then judges exactly that check."""
    target = folder / onnx_path.name
    target.symlink_to(onnx_path.resolve())
    shutil.copy(sidecar_path(onnx_path), sidecar_path(target))
    seal(target, check)
    return target


def study(model: str, corpus: Corpus, out: Path) -> dict:
    onnx_path = resolve_model(model)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for left_out in ADULT_SOURCES:
            kept = tuple(s for s in ADULT_SOURCES if s != left_out)
            folder = Path(scratch) / left_out
            folder.mkdir()
            predictor = Predictor(_copy_with_check(onnx_path, corpus.check(onnx_path, kept), folder), threads=1)
            counts = Counter(_decision(predictor, path) for path in corpus.adults[left_out])
            n = sum(counts.values())
            decided = n - counts["REJECTED"] - counts["REFER"] - counts["ERROR"]
            rows.append({"left_out": left_out, "films": n, "decided": decided, "decided_share": decided / n,
                         "decided_ci": wilson(decided, n), "counts": dict(counts)})
    predictor = Predictor(onnx_path, threads=1)
    test = [(p, _prediction(predictor, p)) for p in images(corpus.root / "kermany_224" / "test")]
    children = _children_by_age(predictor, corpus.root / "adult_cxr")
    result = {"model": model, "leave_one_source_out": rows, "test": _refusals(test), "children_other_sources": children}
    write_json(out / f"population-{model}.json", result)
    return result


def _prediction(predictor: Predictor, path: Path):
    try:
        return predictor.predict(path)
    except PneumoError:
        return None


def _decision(predictor: Predictor, path: Path) -> str:
    prediction = _prediction(predictor, path)
    return "ERROR" if prediction is None else prediction.decision


def _refusals(results: list) -> dict:
    rejected = [r for _, r in results if r is not None and r.decision == "REJECTED"]
    return {"films": len(results), "rejected": len(rejected),
            "rejected_as_adult": sum("adult's chest film" in r.reason for r in rejected),
            "referred_as_older": sum(r is not None and r.decision == "REFER" and "older child" in r.reason for _, r in results),
            "errors": sum(r is None for _, r in results)}


def _children_by_age(predictor: Predictor, adult_root: Path) -> list[dict]:
    with (adult_root / "manifest.csv").open() as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"].startswith("children_other_sources/")]
    bands = {"under 1": [], "1-5": [], "6-17": []}
    for row in rows:
        age = float(row["age"])
        band = "under 1" if age < 1 else "1-5" if age < 6 else "6-17"
        prediction = _prediction(predictor, adult_root / row["file"])  # the image alone: no age stated
        bands[band].append("ERROR" if prediction is None else prediction.decision + (" (older/adult)" if "adult" in prediction.reason else ""))
    return [{"age": band, "films": len(found), "answers": dict(Counter(found))} for band, found in bands.items()]


def naming(model: str, corpus: Corpus, out: Path) -> dict:
    """Does a refusal name the right cause? Upright adults never "turned" or "negative"; the test
    split's films inverted, and turned by 90 degrees, named as such."""
    import cv2

    predictor = Predictor(resolve_model(model), threads=1)

    def first_clause(source) -> str:
        try:
            return predictor.predict(source).reason.split(";")[0]
        except PneumoError:
            return "error"

    adults = [first_clause(p) for films in corpus.adults.values() for p in films]
    test = [cv2.imread(str(p), cv2.IMREAD_GRAYSCALE) for p in images(corpus.root / "kermany_224" / "test")]
    inverted = [first_clause(255 - g) for g in test]
    turned = [first_clause(np.ascontiguousarray(np.rot90(g))) for g in test]
    result = {"model": model, "adults": len(adults), "adults_called_turned_or_negative": sum("turned" in r or "negative" in r for r in adults),
              "test_films": len(test), "inverted_named_negative": sum("negative" in r for r in inverted),
              "turned_named_turned": sum("turned" in r for r in turned), "turned_refused_as_adult": sum("adult" in r for r in turned)}
    write_json(out / f"naming-{model}.json", result)
    return result


def markdown(result: dict) -> str:
    lines = [f"### {result['model']}", "", "| left-out collection | films | decided NORMAL/PNEUMONIA | 95% CI | all answers |", "| --- | --- | --- | --- | --- |"]
    for row in result["leave_one_source_out"]:
        low, high = row["decided_ci"]
        lines.append(f"| {row['left_out']} | {row['films']} | {row['decided']} ({100 * row['decided_share']:.1f}%) | "
                     f"{100 * low:.1f}-{100 * high:.1f}% | {json.dumps(row['counts'], sort_keys=True)} |")
    t = result["test"]
    lines += ["", f"Official test split: {t['rejected']} of {t['films']} REJECTED ({100 * t['rejected'] / t['films']:.1f}%), "
              f"{t['rejected_as_adult']} of them as adults'; {t['referred_as_older']} referred as possibly older; {t['errors']} errors.", "",
              "| age (other hospitals) | films | answers |", "| --- | --- | --- |"]
    lines += [f"| {c['age']} | {c['films']} | {json.dumps(c['answers'], sort_keys=True)} |" for c in result["children_other_sources"]]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pneumo.export.guard.population_fit", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["seal", "study", "naming"])
    parser.add_argument("--model", action="append", help="a shipped model's name or an .onnx path (repeatable; default: default)")
    parser.add_argument("--data", type=Path, default=None, help="the folder holding kermany_224/ and adult_cxr/ (default: ../shared/data)")
    parser.add_argument("--cache", type=Path, default=Path("runs/population/features"), help="features cached here, per model and set")
    parser.add_argument("--out", type=Path, default=Path("runs/population"), help="study: JSON and Markdown go here")
    args = parser.parse_args(argv)
    try:
        corpus = Corpus(args.data or data_root(), args.cache)
        for model in args.model or ["default"]:
            if args.command == "seal":
                check = corpus.check(resolve_model(model))
                seal(resolve_model(model), check)
                print(f"{model}: sealed; refer above {check.refer_above:.3f}, reject above {check.reject_above:.3f}")
            elif args.command == "naming":
                print(json.dumps(naming(model, corpus, args.out)))
            else:
                text = markdown(study(model, corpus, args.out))
                (args.out / f"population-{model}.md").write_text(text)
                print(text)
    except PneumoError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""``pneumo-adapt study``: what a new site gets from pneumo-adapt, measured honestly.

The official Kermany test split stands in for a new site: another cohort than train, never used
to choose anything about the shipped model. It is split in two halves by patient. Each step is
fitted on one half and scored on the other, both ways (cross-fitting), so every test film is
scored by a model that never saw it, its pixels or its label. Rows:

- the label-free methods (shipped, batch-norm statistics, prevalence-corrected and interpolated
  statistics, a prior-shifted threshold and the kit's rule), on the split as it is and resampled
  to pneumonia shares of 10% to 80% (prevalence_study.py);
- calibration: temperature, threshold (the shipped rule: sensitivity 0.95) and referral cut-off
  refitted on the other half's labelled films, on the shipped and on the batch-norm-adapted model.

Then the learning curve of calibration against the number of labelled films (25 to 200), drawn
at random from the other half, 20 draws each, on the shipped and on the batch-norm-adapted model.
The torch twin computes the adapted logits; pneumo-adapt's export reproduces them (parity checked).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from pneumo_runtime.inputs import model_input
from pneumo_runtime.json_file import write_json
from pneumo_runtime.model import OnnxModel
from pneumo_runtime.predictor import resolve_model
from pneumo_runtime.torch_twin import torch_twin

from . import prevalence_study
from .adapt import MIN_LABELLED_PER_CLASS, adapt_batchnorm, recalibration

LABELLED_COUNTS = (25, 50, 100, 200)
DRAWS = 20
BATCH = 32


def torch_logits(model, films: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return np.concatenate([model(torch.from_numpy(films[i:i + BATCH])).numpy() for i in range(0, len(films), BATCH)])


def pooled(parts: list[tuple[np.ndarray, np.ndarray, list[str], float, float, float]], intervals: bool = True) -> dict:
    """Each half scored with the settings fitted on the other, then the figures over all films at once.

    ``parts``: per half, (logits, labels, patients, temperature, threshold, referral cut-off).
    ``intervals``: patient-bootstrap CIs for AUC; the learning curve's draws need only the values.
    """
    from pneumo.training.calibration.fitting import expected_calibration_error, negative_log_likelihood, probabilities_from_logits
    from pneumo.training.evaluation.intervals import patient_bootstrap_indices
    from pneumo.training.evaluation.metrics import binary_metrics_at_threshold, brier_score, threshold_free_metrics
    from pneumo_runtime.decision import entropy_uncertainty, referred

    scaled = np.concatenate([logits / temperature for logits, _, _, temperature, _, _ in parts])
    labels = np.concatenate([part[1] for part in parts])
    patients = [f"{half}:{patient}" for half, part in enumerate(parts) for patient in part[2]]
    thresholds = np.concatenate([np.full(len(part[1]), part[4]) for part in parts]).clip(1e-7, 1 - 1e-7)
    cutoffs = np.concatenate([np.full(len(part[1]), part[5]) for part in parts])
    probabilities = probabilities_from_logits(scaled)
    # Per-film thresholds: each film's logit margin minus its threshold's logit, decided at 0.
    margin = scaled[:, 1] - scaled[:, 0] - np.log(thresholds / (1 - thresholds))
    at = binary_metrics_at_threshold(labels, margin, 0.0, [])
    free = threshold_free_metrics(labels, probabilities, patient_bootstrap_indices(patients, 200, seed=0) if intervals else [])
    pick = lambda entry: {"value": round(entry["value"], 4), "low": round(entry["ci_low"], 4), "high": round(entry["ci_high"], 4)}  # noqa: E731
    return {
        "auc_roc": pick(free["auc_roc"]), "sensitivity": pick(at["sensitivity"]), "specificity": pick(at["specificity"]),
        "accuracy": pick(at["accuracy"]), "balanced_accuracy": round((at["sensitivity"]["value"] + at["specificity"]["value"]) / 2, 4),
        "ece": round(expected_calibration_error(probabilities, labels), 4),
        "nll": round(negative_log_likelihood(scaled, labels), 4),
        "brier": round(float(brier_score(labels, probabilities)), 4),
        "referral_rate": round(float(referred(entropy_uncertainty(probabilities), cutoffs).mean()), 4),
        "n_images": int(len(labels)),
    }


def draw(rng: np.random.Generator, labels: np.ndarray, count: int) -> np.ndarray:
    while True:  # a site collects films as they come; redraw only if a class is too rare to set a threshold
        chosen = rng.choice(len(labels), size=min(count, len(labels)), replace=False)
        if np.bincount(labels[chosen], minlength=2).min() >= MIN_LABELLED_PER_CLASS:
            return chosen


def summarise(results: list[dict]) -> dict:
    value = lambda r, key: r[key]["value"] if isinstance(r[key], dict) else r[key]  # noqa: E731
    return {key: {"mean": round(float(np.mean([value(r, key) for r in results])), 4),
                  "p10": round(float(np.percentile([value(r, key) for r in results], 10)), 4),
                  "p90": round(float(np.percentile([value(r, key) for r in results], 90)), 4)}
            for key in ("sensitivity", "specificity", "accuracy", "ece", "nll", "referral_rate")}


def site_halves(data: Path, preprocess, seed: int) -> tuple:
    """The official test split as a site: two halves disjoint by patient, each with its films, labels and patients."""
    from pneumo.training.data.samples import discover_kermany
    from pneumo.training.data.split import patient_folds

    samples = discover_kermany(data, "test", "binary")
    halves = list(patient_folds(samples, 2, seed)[0])  # (one half, the other half), disjoint by patient
    films = [np.stack([model_input(s.path, preprocess) for s in half]) for half in halves]
    labels = [np.array([s.label for s in half]) for half in halves]
    patients = [[s.patient for s in half] for half in halves]
    return halves, films, labels, patients


def run(data: Path, model_name: str | None, checkpoint: Path | None, seed: int, cache: Path | None = None,
        prevalences=prevalence_study.PREVALENCES, draws: int = prevalence_study.DRAWS) -> dict:
    from pneumo.training.checkpoint import model_from_checkpoint

    base_path = resolve_model(model_name)
    base = OnnxModel(base_path)
    contract = base.contract
    halves, films, labels, patients = site_halves(data, contract.preprocess, seed)
    twin = checkpoint or torch_twin(base_path)
    if cache is not None and cache.is_file() and str(np.load(cache)["model"]) == f"{contract.model_version}/{seed}":
        stored = np.load(cache)  # the minutes of forward passes, reused when only the analysis changed
        shipped, adapted_fit, adapted_score = ([stored[f"{name}{h}"] for h in (0, 1)] for name in ("shipped", "fit", "score"))
        onnx_gap = float(stored["onnx_gap"])
    else:
        shipped = [torch_logits(model_from_checkpoint(twin).model, f) for f in films]
        onnx_gap = float(max(np.abs(base.logits(f[:BATCH]) - s[:BATCH]).max() for f, s in zip(films, shipped, strict=True)))
        # AdaBN on each half's films (no labels): logits of that half (to fit calibration on) and of the other (to score).
        adapted_fit, adapted_score = [None, None], [None, None]
        for fit in (0, 1):
            model = model_from_checkpoint(twin).model
            adapt_batchnorm(model, films[fit])
            adapted_fit[fit], adapted_score[1 - fit] = torch_logits(model, films[fit]), torch_logits(model, films[1 - fit])
        if cache is not None:
            np.savez(cache, model=f"{contract.model_version}/{seed}", onnx_gap=onnx_gap,
                     **{f"{name}{h}": arrays[h] for name, arrays in (("shipped", shipped), ("fit", adapted_fit), ("score", adapted_score)) for h in (0, 1)})
    families = {"shipped": (shipped, shipped), "batch-norm statistics": (adapted_score, adapted_fit)}

    def recalibrated(family: str, choose) -> list:
        score, fit = families[family]
        parts = []
        for half in (0, 1):
            other = 1 - half
            chosen = choose(other)
            calibration = recalibration(fit[other][chosen], labels[other][chosen], [patients[other][i] for i in chosen], contract)
            parts.append((score[half], labels[half], patients[half], calibration["temperature"], calibration["threshold"],
                          calibration["uncertainty"]["cutoff"]))
        return parts

    everything = lambda half: np.arange(len(labels[half]))  # noqa: E731
    labelled_films = round(np.mean([len(part) for part in labels]))  # each half is calibrated on all of the other's
    label_free = prevalence_study.run(model_from_checkpoint(twin).model, films, labels, patients, shipped, contract, seed, prevalences, draws)
    rows = label_free["rows"] + [
        row_of(setting, labelled_films, pooled(recalibrated(family, everything)))
        for setting, family in (("calibration", "shipped"), ("batch-norm statistics + calibration", "batch-norm statistics"))
    ]
    curve = {}
    for family in families:
        for count in LABELLED_COUNTS:
            rng = np.random.default_rng(seed + count)
            calibrated = [pooled(recalibrated(family, lambda half, rng=rng, count=count: draw(rng, labels[half], count)), intervals=False)
                          for _ in range(DRAWS)]
            curve[f"{family} + calibration, {count} labelled"] = summarise(calibrated)
    return {"model": contract.model_version, "data": f"{data.name}/test, halves of {len(halves[0])} and {len(halves[1])} films by patient",
            "seed": seed, "onnx_vs_torch_max_logit_gap": onnx_gap, "rows": rows, "labelled_curve": curve, "draws": DRAWS,
            "prevalence_draws": draws, "paired_differences": label_free["paired_differences"],
            "safety_checks": label_free["safety_checks"], "kit_targets": {kit: prevalence_study.check_targets(rows, kit) for kit in prevalence_study.KITS}}


def row_of(setting: str, labelled_films: int, figures: dict) -> dict:
    """A pooled() result as a row of site_study.json, on the split as it is."""
    return {"setting": setting, "labelled_films": labelled_films, "prevalence": None, "auc": figures["auc_roc"],
            **{key: figures[key] for key in ("sensitivity", "specificity", "balanced_accuracy", "ece")}, "n_images": figures["n_images"]}


def cell(metric) -> str:
    """A metric as a table cell: value (low-high), or the number alone."""
    if isinstance(metric, dict):
        return f"{metric['value']:.3f} ({metric['low']:.3f}-{metric['high']:.3f})"
    return f"{metric:.3f}"


def share(prevalence: float | None) -> str:
    return "as is (62.5%)" if prevalence is None else f"{prevalence:.0%}"


def markdown(study: dict) -> str:
    draws = study["prevalence_draws"]
    lines = [f"Label-free methods by pneumonia share (resampled by patient, mean of {draws} draws; 95% patient-bootstrap interval):", "",
             "| share | setting | AUC | sensitivity | specificity | balanced accuracy | ECE |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in study["rows"]:
        if not r["labelled_films"]:
            lines.append(f"| {share(r['prevalence'])} | {r['setting']} | {cell(r['auc'])} | {cell(r['sensitivity'])} | {cell(r['specificity'])} | "
                         f"{cell(r['balanced_accuracy'])} | {r['ece']:.3f} |")
    lines += ["", "Against batch-norm statistics, paired (the same films and resamples; difference, 95% interval):", "",
              "| share | setting | AUC | sensitivity | specificity | balanced accuracy |", "| --- | --- | --- | --- | --- | --- |"]
    for r in study["paired_differences"]:
        lines.append(f"| {share(r['prevalence'])} | {r['setting']} | " + " | ".join(
            f"{r[m]['value']:+.3f} ({r[m]['low']:+.3f} to {r[m]['high']:+.3f})" for m in prevalence_study.METRICS) + " |")
    checks = study["safety_checks"]
    kept = [c for c in checks if c["passed"]]
    trained = [c for c in kept if c["self_training"]["passed"]]
    lines += ["", f"The kit kept its adaptation in {len(kept)} of {len(checks)} fits, and self-training passed the same check in "
              f"{len(trained)} of those."]
    for kit, targets in study["kit_targets"].items():
        lines.append(f"Musts for {kit}: " + ", ".join(f"{name}: {'met' if all(v.values()) else 'MISSED'}" for name, v in targets.items()) + ".")
    lines += ["",
              "With labelled films of the other half (the split as it is):", "",
              "| setting | labelled films | AUC | sensitivity | specificity | balanced accuracy | ECE |", "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in study["rows"]:
        if r["labelled_films"]:
            lines.append(f"| {r['setting']} | {r['labelled_films']} | {cell(r['auc'])} | {cell(r['sensitivity'])} | {cell(r['specificity'])} | "
                         f"{cell(r['balanced_accuracy'])} | {r['ece']:.3f} |")
    lines += ["", f"Calibration from n labelled films (mean over {study['draws']} draws, 10th-90th percentile):", "",
              "| setting | sensitivity | specificity | ECE | NLL |", "| --- | --- | --- | --- | --- |"]
    band = lambda e: f"{e['mean']:.3f} ({e['p10']:.3f}-{e['p90']:.3f})"  # noqa: E731
    for name, r in study["labelled_curve"].items():
        lines.append(f"| {name} | {band(r['sensitivity'])} | {band(r['specificity'])} | {band(r['ece'])} | {band(r['nll'])} |")
    return "\n".join(lines) + "\n"


def site_parser(prog: str, doc: str, name: str) -> argparse.ArgumentParser:
    """The arguments every measurement of the kit on the official test split takes; it writes ``name``.json and .md."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.splitlines()[0].split(": ", 1)[1])
    parser.add_argument("--data", type=Path, required=True, help="a Kermany-style folder; its test/ stands in for a new site")
    parser.add_argument("--model", help="shipped model name or .onnx (default: default)")
    parser.add_argument("--checkpoint", type=Path, help="its torch twin (default: the .pt beside the .onnx; for a shipped model, pneumo-torch-weights)")
    parser.add_argument("--out", type=Path, required=True, help=f"folder for {name}.json and {name}.md")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = site_parser("pneumo-adapt study", __doc__, "site_study")
    parser.add_argument("--draws", type=int, default=prevalence_study.DRAWS, help="resampled sites per pneumonia share")
    parser.add_argument("--prevalences", type=float, nargs="+", default=list(prevalence_study.PREVALENCES), metavar="SHARE",
                        help="pneumonia shares to resample the site to (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    save_study(args.out, "site_study", run(args.data, args.model, args.checkpoint, args.seed, cache=args.out / "logits.npz",
                                            prevalences=tuple(args.prevalences), draws=args.draws), markdown)
    return 0


def save_study(out: Path, name: str, study: dict, render) -> None:
    """``name``.json (every number) and ``name``.md (the tables) in ``out``; the tables on stdout."""
    write_json(out / f"{name}.json", study)
    (out / f"{name}.md").write_text(render(study))
    print(render(study))


if __name__ == "__main__":
    sys.exit(main())

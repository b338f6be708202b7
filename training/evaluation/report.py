"""report.md and its figures, drawn from metrics.json alone.

Every plotting function takes the metrics dictionary and nothing else, so every figure traces to
numbers a reader can find in metrics.json (the curves are stored there too).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

Metrics = dict[str, Any]
FIGURES = ("roc.png", "pr.png", "reliability.png", "confusion.png", "histogram.png", "coverage.png")
THRESHOLD_METRICS = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1", "balanced_accuracy", "mcc")


def _save(figure: plt.Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _operating_points(metrics: Metrics) -> dict[str, dict]:
    return metrics.get("at_threshold", {})


def _value(entry: dict | None) -> float:
    """A metric's value for plotting; NaN where metrics.json holds null (undefined)."""
    return float("nan") if not entry or entry.get("value") is None else float(entry["value"])


# ----------------------------------------------------------------- figures
def plot_roc(metrics: Metrics, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(5.5, 5))
    for name, roc in metrics["curves"]["roc"].items():
        low, high = (np.array([np.nan if v is None else v for v in roc[k]], float) for k in ("band_tpr_low", "band_tpr_high"))
        axis.fill_between(roc["band_fpr"], low, high, alpha=0.2, label=f"{name}: 95% band (patient bootstrap)")
        axis.plot(roc["fpr"], roc["tpr"], label=f"{name}")
    for label, point in _operating_points(metrics).items():
        fpr, tpr = 1 - _value(point["specificity"]), _value(point["sensitivity"])
        axis.plot(fpr, tpr, "o" if label == "operating_point" else "s", label=f"threshold {point['threshold']:.3f} ({label})")
    auc = metrics["threshold_free"]["auc_roc"]
    axis.plot([0, 1], [0, 1], ":", color="grey")
    axis.set(xlabel="1 - specificity", ylabel="sensitivity", title=f"ROC ({metrics['data']['split']}), AUC {_ci(auc)}")
    axis.legend(fontsize=7, loc="lower right")
    _save(figure, path)


def plot_pr(metrics: Metrics, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(5.5, 5))
    for name, pr in metrics["curves"]["pr"].items():
        line, = axis.plot(pr["recall"], pr["precision"], label=name)
        axis.axhline(pr["prevalence"], ls=":", color=line.get_color(), label=f"{name} prevalence")
    for label, point in _operating_points(metrics).items():
        axis.plot(_value(point["sensitivity"]), _value(point["ppv"]), "o" if label == "operating_point" else "s",
                  label=f"threshold {point['threshold']:.3f} ({label})")
    axis.set(xlabel="recall (sensitivity)", ylabel="precision (PPV)", ylim=(0, 1.02),
             title=f"Precision-recall, AP {_ci(metrics['threshold_free']['auc_pr'])}")
    axis.legend(fontsize=7, loc="lower left")
    _save(figure, path)


def plot_reliability(metrics: Metrics, path: Path) -> None:
    figure, axes = plt.subplots(1, 2, figsize=(10, 4.5), sharey=True)
    panels = (("uncalibrated", "threshold_free_uncalibrated", "before calibration (T = 1)"),
              ("calibrated", "threshold_free", f"after calibration (T = {metrics['calibration']['temperature']:.3f})"))
    for axis, (key, section, title) in zip(axes, panels, strict=False):
        bins = [b for b in metrics["curves"]["reliability"][key] if b["count"]]
        centres = [(b["low"] + b["high"]) / 2 for b in bins]
        axis.bar(centres, [b["accuracy"] for b in bins], width=1 / len(metrics["curves"]["reliability"][key]), edgecolor="k", alpha=0.6, label="accuracy")
        axis.plot([b["confidence"] for b in bins], [b["accuracy"] for b in bins], "o-", color="tab:red", label="per bin")
        axis.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
        axis.set(xlabel="confidence (top-label probability)", title=f"{title}\nECE {_ci(metrics[section]['ece'])}", xlim=(0, 1), ylim=(0, 1))
    axes[0].set_ylabel("accuracy")
    axes[0].legend(fontsize=7)
    _save(figure, path)


def _confusion_panels(metrics: Metrics) -> list[tuple[str, list[list[int]]]]:
    if "at_threshold" in metrics:
        return [(f"threshold {p['threshold']:.3f} ({label})", p["confusion_matrix"]["rows_true_columns_predicted"])
                for label, p in metrics["at_threshold"].items()]
    return [("argmax", metrics["multiclass"]["confusion_matrix"]["rows_true_columns_predicted"])]


def plot_confusion(metrics: Metrics, path: Path) -> None:
    panels, classes = _confusion_panels(metrics), metrics["classes"]
    figure, axes = plt.subplots(1, len(panels), figsize=(4.5 * len(panels), 4), squeeze=False)
    for axis, (title, matrix) in zip(axes[0], panels, strict=False):
        matrix = np.array(matrix)
        axis.imshow(matrix, cmap="Blues")
        for (row, column), count in np.ndenumerate(matrix):
            axis.text(column, row, str(count), ha="center", va="center", color="black" if count < matrix.max() / 2 else "white")
        axis.set(xticks=range(len(classes)), yticks=range(len(classes)), xticklabels=classes, yticklabels=classes,
                 xlabel="predicted", ylabel="true", title=title)
    _save(figure, path)


def plot_histogram(metrics: Metrics, path: Path) -> None:
    histogram = metrics["curves"]["histogram"]
    edges = np.array(histogram["bin_edges"])
    panels = histogram["by_probability_of"]
    figure, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False)
    for axis, (of_class, by_truth) in zip(axes[0], panels.items(), strict=False):
        for truth, counts in by_truth.items():
            axis.stairs(counts, edges, fill=True, alpha=0.45, label=f"true {truth}")
        if metrics["calibration"].get("threshold") is not None:
            axis.axvline(metrics["calibration"]["threshold"], color="k", ls="--", label="operating threshold")
        axis.set(xlabel=f"calibrated p({of_class})", ylabel="images", title=f"p({of_class}) by true class")
        axis.legend(fontsize=7)
    _save(figure, path)


def plot_coverage(metrics: Metrics, path: Path) -> None:
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for method, entry in metrics["uncertainty"].items():
        if "selective" not in entry:
            continue
        line, = axis.plot(entry["selective"]["coverage"], entry["selective"]["accuracy"], marker=".", label=method)
        if entry.get("referral_rate"):
            axis.plot(1 - _value(entry["referral_rate"]), _value(entry["accuracy_accepted"]), "*", ms=12, color=line.get_color(),
                      label=f"{method}: refer above cut-off")
    axis.set(xlabel="coverage (share of cases the model keeps)", ylabel="accuracy on kept cases",
             title="Selective prediction: accuracy vs coverage")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=7)
    _save(figure, path)


# ----------------------------------------------------------------- markdown
def _ci(entry: dict | None) -> str:
    if not entry or entry.get("value") is None:
        return "n/a"
    low, high = entry.get("ci_low"), entry.get("ci_high")
    interval = f" ({low:.3f}–{high:.3f})" if low is not None and high is not None else ""
    return f"{entry['value']:.3f}{interval}"


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _threshold_table(metrics: Metrics) -> list[str]:
    points = metrics["at_threshold"]
    header = ["| metric | " + " | ".join(f"threshold {p['threshold']:.3f} ({k})" for k, p in points.items()) + " |",
              "| --- |" + " --- |" * len(points)]
    return header + [f"| {name} | " + " | ".join(_ci(p[name]) for p in points.values()) + " |" for name in THRESHOLD_METRICS]


def _multiclass_table(metrics: Metrics) -> list[str]:
    multi = metrics["multiclass"]
    lines = [f"Argmax decisions: accuracy {_ci(multi['accuracy'])}, balanced accuracy {_ci(multi['balanced_accuracy'])}, "
             f"MCC {_ci(multi['mcc'])}, macro AUC {_ci(metrics['threshold_free']['auc_roc'])}.", "",
             "| class (one vs rest) | " + " | ".join(("auc_roc",) + THRESHOLD_METRICS[1:6]) + " |", "| --- |" + " --- |" * 6]
    for name, per in multi["per_class"].items():
        lines.append(f"| {name} | " + " | ".join(_ci(per[k]) for k in ("auc_roc",) + THRESHOLD_METRICS[1:6]) + " |")
    return lines


def _uncertainty_table(metrics: Metrics) -> list[str]:
    lines = ["| method | cut-off | referral rate | accuracy on accepted | accuracy, all cases | cut-off chosen |", "| --- | --- | --- | --- | --- | --- |"]
    for method, entry in metrics["uncertainty"].items():
        if "accuracy_all" not in entry:
            lines.append(f"| {method} | not available: {entry.get('reason', '')} | | | | |")
            continue
        cutoff = f"{entry['cutoff']:.3f}" if entry.get("cutoff") is not None else "none"
        lines.append(f"| {method} | {cutoff} | {_ci(entry.get('referral_rate'))} | {_ci(entry.get('accuracy_accepted'))} | "
                     f"{_ci(entry['accuracy_all'])} | {entry.get('cutoff_source', '')} |")
    return lines


def _calibration_lines(metrics: Metrics) -> list[str]:
    calibration, validation = metrics["calibration"], metrics["calibration"].get("validation", {})
    rule = calibration.get("threshold_rule") or {}
    lines = [f"- Temperature **{calibration['temperature']:.3f}**, {calibration.get('origin', '')}.",
             f"- Operating threshold: **{calibration['threshold']:.3f}** on calibrated p({metrics['classes'][1]}), rule "
             f"`{rule.get('rule')}` with target {rule.get('target')} (chosen on validation)." if calibration.get("threshold") is not None
             else "- Decisions: argmax over the classes."]
    if validation:
        lines.append(_validation_line(validation, thresholded=calibration.get("threshold") is not None))
    lines.append(f"- {metrics['data']['split']}: ECE {_ci(metrics['threshold_free_uncalibrated']['ece'])} before, "
                 f"{_ci(metrics['threshold_free']['ece'])} after calibration (15 bins, top-label).")
    return lines


def _validation_line(validation: dict[str, Any], thresholded: bool) -> str:
    """The validation figures the contract carries, and only those: an INT8 contract has its own AUC
    and accuracy but borrows the FP32 model's calibration, so it has no ECE or patient count."""
    size = f"{validation.get('n_images')} images" + (f", {validation['n_patients']} patients" if "n_patients" in validation else "")
    if "ece_before" not in validation:
        figures = ", ".join(f"{key} {_number(validation[key])}" for key in ("auc_roc", "accuracy") if key in validation)
        return f"- Validation ({size}): {figures}" + (f" ({validation['note']})." if validation.get("note") else ".")
    return (f"- Validation ({size}): ECE {_number(validation.get('ece_before'))} before, "
            f"{_number(validation.get('ece_after'))} after calibration; "
            + (f"there the operating point gave sensitivity {_number(validation.get('sensitivity'))}, "
               f"specificity {_number(validation.get('specificity'))}." if thresholded
               else f"accuracy there {_number(validation.get('accuracy'))}."))


def _site_lines(metrics: Metrics) -> list[str]:
    site = metrics.get("site")
    if not site:
        return []
    lines = ["## At this site", "",
             f"At a pneumonia prevalence of {site['prevalence']:.1%}: PPV {_ci(site['ppv'])}, NPV {_ci(site['npv'])} "
             "(Bayes' rule from sensitivity and specificity; `--prevalence` sets the site's own)."]
    if "operating_point" in site:
        lines.append(f"Operating point ({site['operating_point']['rule']} target {site['operating_point']['target']:.2f}): "
                     f"{site['operating_point']['verdict']}.")
    return lines + [""]


def render_markdown(metrics: Metrics) -> str:
    data, model = metrics["data"], metrics["model"]
    free = metrics["threshold_free"]
    lines = [
        f"# Evaluation report: {model.get('file') or model.get('kind')} on {data['source']} / {data['split']}", "",
        "> Research software, **not a diagnostic device**. Numbers below come from the split named here; "
        "every threshold, temperature and cut-off was chosen on the patient-grouped validation split of train, never on this split.", "",
        f"Model: `{model.get('architecture', model.get('kind'))}`" + (f", epoch {model['epoch']} (best {model.get('best_epoch')})" if model.get("epoch") else "")
        + f". Data: {data['n_images']} images, {data['n_patients']} patients, classes {data['class_counts']}"
        + (" (**a random subset**)" if data.get("subset") else "") + ".", "",
        "## Headline", "",
        f"AUC-ROC {_ci(free['auc_roc'])}, AUC-PR {_ci(free['auc_pr'])}, Brier {_ci(free['brier'])}, "
        f"log loss {_ci(free['log_loss'])}, ECE {_ci(free['ece'])} (calibrated probabilities).", "",
        *(_threshold_table(metrics) if "at_threshold" in metrics else _multiclass_table(metrics)), "",
        "## Calibration and operating point", "", *_calibration_lines(metrics), "",
        *_site_lines(metrics),
        "## Uncertainty and referral", "",
        "Cases whose uncertainty (normalised predictive entropy) is above the cut-off are referred to a radiologist. "
        "`entropy` is the rule the runtime applies; TTA and MC dropout are analyses.", "",
        *_uncertainty_table(metrics), "",
        "## Figures", "",
        *[f"![{name}]({name})" for name in FIGURES], "",
    ]
    if metrics.get("explain", {}).get("figures"):
        lines += ["## Explanation statistics", "", *metrics["explain"].get("summary_lines", []), "",
                  *[f"![{name}]({name})" for name in metrics["explain"]["figures"]], ""]
    lines += ["## How to read the intervals", "",
              "95% intervals: Wilson for proportions (it treats images as independent, so with several images per patient "
              "it is slightly narrow), percentile bootstrap over patients for AUCs, F1, balanced accuracy, MCC, Brier, log loss and ECE "
              "(ECE is biased upward in resamples, so its interval can sit above the value). "
              "All numbers, curves included, are in metrics.json; per-image outputs in predictions.csv.", ""]
    return "\n".join(lines)


def write_report(metrics: Metrics, out_dir: Path) -> list[Path]:
    plots = {"roc.png": plot_roc, "pr.png": plot_pr, "reliability.png": plot_reliability, "confusion.png": plot_confusion,
             "histogram.png": plot_histogram, "coverage.png": plot_coverage}
    for name, plot in plots.items():
        plot(metrics, out_dir / name)
    (out_dir / "report.md").write_text(render_markdown(metrics))
    return [out_dir / name for name in plots]

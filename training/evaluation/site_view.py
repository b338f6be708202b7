"""The site's view of an evaluation: what a positive or negative call is worth at the site's own
prevalence, and whether the operating point the model shipped with holds on the site's films.

Sensitivity and specificity travel between sites better than predictive values do: PPV and NPV
follow from them and the prevalence by Bayes' rule, so a site quotes them at its own prevalence,
not at the evaluation set's. The interval of each bounds it with the Wilson bounds of sensitivity
and specificity (both at their worst, both at their best): conservative, never narrower.
"""

from __future__ import annotations

from typing import Any

from .intervals import Interval


def predictive_values(sensitivity: float, specificity: float, prevalence: float) -> tuple[float, float]:
    """(PPV, NPV) at ``prevalence`` by Bayes' rule."""
    true_positive, false_positive = sensitivity * prevalence, (1 - specificity) * (1 - prevalence)
    true_negative, false_negative = specificity * (1 - prevalence), (1 - sensitivity) * prevalence
    ppv = true_positive / (true_positive + false_positive) if true_positive + false_positive else float("nan")
    npv = true_negative / (true_negative + false_negative) if true_negative + false_negative else float("nan")
    return ppv, npv


def site_view(operating_point: dict[str, Any], threshold_rule: dict[str, Any] | None, prevalence: float) -> dict[str, Any]:
    """``operating_point``: binary_metrics_at_threshold's output at the model's own threshold."""
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence {prevalence} must be between 0 and 1")
    sensitivity, specificity = operating_point["sensitivity"], operating_point["specificity"]
    ppv, npv = predictive_values(sensitivity["value"], specificity["value"], prevalence)
    worst = predictive_values(sensitivity["ci_low"], specificity["ci_low"], prevalence)
    best = predictive_values(sensitivity["ci_high"], specificity["ci_high"], prevalence)
    view: dict[str, Any] = {
        "prevalence": prevalence,
        "ppv": Interval(ppv, worst[0], best[0], "Bayes from the Wilson bounds").to_dict(),
        "npv": Interval(npv, worst[1], best[1], "Bayes from the Wilson bounds").to_dict(),
    }
    rule = (threshold_rule or {}).get("rule")
    target = (threshold_rule or {}).get("target")
    if rule in ("sensitivity", "specificity") and target is not None:
        achieved = operating_point[rule]
        # The promise holds unless the site's films rule it out: the target above the whole interval.
        holds = bool(achieved["ci_high"] >= target)
        interval = f"{rule} {achieved['value']:.3f} (95% CI {achieved['ci_low']:.3f}-{achieved['ci_high']:.3f})"
        view["operating_point"] = {
            "rule": rule, "target": target, "achieved": achieved, "holds": holds,
            "verdict": (f"holds: {interval} is consistent with the target {target:.2f}" if holds else
                        f"does not hold: {interval} is below the target {target:.2f}; "
                        "recalibrate on the site's films (pneumo-adapt --labelled) before use"),
        }
    return view

"""What the demo says: recommendations per decision and the always-visible model card, from the contract."""

from __future__ import annotations

from pneumo_runtime.contract import ModelContract
from pneumo_runtime.decision import REFER, REJECTED

# Careful wording on purpose: a second opinion never confirms or excludes disease on its own.
RECOMMENDATIONS = {
    "PNEUMONIA": "Likely pneumonia pattern. Have a radiologist review this image.",
    "NORMAL": "No pneumonia pattern found. This does not exclude disease; clinical judgement and review still apply.",
    REFER: "Uncertain result. Refer this image to a radiologist; do not rely on the model for it.",
}
OTHER_CLASS = "Most probable class shown. Have a radiologist review this image."

SHOWN_METRICS = (("auc_roc", "AUC"), ("sensitivity", "sensitivity"), ("specificity", "specificity"),
                 ("accuracy", "accuracy"), ("balanced_accuracy", "balanced accuracy"), ("referral_rate", "referral rate"),
                 ("n_images", "images"))


OUT_OF_SCOPE = "outside intended use"


def recommendation(decision: str, reason: str) -> str:
    if decision == REJECTED and reason.startswith(OUT_OF_SCOPE):
        return f"Not analysed: {reason}."
    if decision == REJECTED:
        return f"Not analysed: {reason}. Upload a frontal chest X-ray."
    if decision == REFER and reason.startswith(OUT_OF_SCOPE):
        return "Possibly outside the population the model was trained on: a radiologist reads this film; no model result is given."
    return RECOMMENDATIONS.get(decision, OTHER_CLASS)


def metrics_line(contract: ModelContract) -> str:
    """Test metrics when the contract has them, else validation, always saying which split."""
    split = "test" if contract.metrics.get("test") else "validation"
    metrics = contract.headline_metrics(split)
    parts = [f"{label} {metrics[key]:.0f}" if key == "n_images" else f"{label} {metrics[key]:.3f}"
             for key, label in SHOWN_METRICS if metrics.get(key) is not None]
    return f"{split} split: {', '.join(parts)}" if parts else f"{split} split: no metrics recorded"


def site_line(contract: ModelContract) -> str:
    """"Site-adapted model: <site>" when the contract records a site adaptation, else empty."""
    adaptation = getattr(contract, "site_adaptation", None)  # absent from contracts of older runtimes
    if not adaptation:
        return ""
    site = adaptation.get("site") if isinstance(adaptation, dict) else None
    return f"Site-adapted model: {site or 'unnamed site'}"


def model_card_line(contract: ModelContract) -> str:
    """One line: the model's version and architecture, and its metrics with their split."""
    return f"Model {contract.model_version or 'unversioned'} ({contract.architecture}); {metrics_line(contract)}."


def model_card(contract: ModelContract) -> str:
    """Markdown shown on every screen: the disclaimer, the model's version and its metrics."""
    text = f"**{contract.disclaimer}**\n\n{model_card_line(contract)}"
    if site_line(contract):
        text += f" {site_line(contract)}."
    if contract.preprocess.ellipse_mask > 0:
        text += " The model sees only the area inside the white ellipse on the heatmap; film corners and anything outside it are hidden from it."
    return text

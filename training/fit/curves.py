"""Loss and AUC curves at the end of a run (matplotlib, no display needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot_curves(history: list[dict[str, float]], path: Path) -> None:
    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, auc_axis) = plt.subplots(1, 2, figsize=(10, 4))
    loss_axis.plot(epochs, [row["train_loss"] for row in history], marker="o", label="train")
    loss_axis.plot(epochs, [row["val_loss"] for row in history], marker="o", label="validation")
    loss_axis.set(xlabel="epoch", ylabel="loss", title="Loss")
    auc_axis.plot(epochs, [row["val_auc"] for row in history], marker="o", color="tab:green")
    auc_axis.set(xlabel="epoch", ylabel="AUC", title="Validation AUC (patient-grouped split of train)")
    for axis in (loss_axis, auc_axis):
        axis.grid(alpha=0.3)
    loss_axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)

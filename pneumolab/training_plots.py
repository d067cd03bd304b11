"""Learning curves: how loss and validation ROC AUC moved, epoch by epoch."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure


def plot_history(history: pd.DataFrame, title: str = "") -> Figure:
    """Training vs validation loss, and validation ROC AUC where it was tracked.

    The gap between the two loss curves is over-fitting made visible; a
    ``stage`` column (transfer learning) is shown as shaded phases.
    """
    metric = "auc" if "val_auc" in history else None
    figure, axes = plt.subplots(1, 2 if metric else 1, figsize=(11 if metric else 5.5, 3.8), squeeze=False)
    loss_axes = axes[0, 0]
    loss_axes.plot(history["epoch"], history["loss"], "o-", label="training")
    loss_axes.plot(history["epoch"], history["val_loss"], "o-", label="validation")
    loss_axes.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="Loss")
    loss_axes.legend()
    if metric:
        auc_axes = axes[0, 1]
        auc_axes.plot(history["epoch"], history[metric], "o-", label="training")
        auc_axes.plot(history["epoch"], history[f"val_{metric}"], "o-", label="validation")
        best = history[f"val_{metric}"].idxmax()
        auc_axes.axvline(history.loc[best, "epoch"], color="grey", ls=":", label="best epoch (kept)")
        auc_axes.set(xlabel="epoch", ylabel="ROC AUC", title="ROC AUC")
        auc_axes.legend()
    if "stage" in history:
        for stage, rows in history.groupby("stage", sort=False):
            for ax in axes.ravel():
                ax.axvspan(rows["epoch"].min() - 0.5, rows["epoch"].max() + 0.5, alpha=0.08,
                           color="C2" if stage == "head" else "C4")
                ax.text(rows["epoch"].mean(), ax.get_ylim()[1], stage, ha="center", va="top", fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure

"""Learning curves: how loss and validation ROC AUC moved, epoch by epoch."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from pneumolab.training.history import best_epoch


def plot_history(history: pd.DataFrame, title: str = "") -> Figure:
    """Training vs validation loss, and validation ROC AUC where it was tracked.

    The gap between the two loss curves is over-fitting made visible; the
    dotted line marks the best epoch (the weights kept,
    :func:`pneumolab.training.history.best_epoch`); a
    ``stage`` column (transfer learning) is shown as shaded phases.
    """
    metric = "auc" if "val_auc" in history else None
    figure = Figure(figsize=(11 if metric else 5.5, 3.8), layout="tight")
    axes = figure.subplots(1, 2 if metric else 1, squeeze=False)
    loss_axes = axes[0, 0]
    loss_axes.plot(history["epoch"], history["loss"], "o-", label="training")
    loss_axes.plot(history["epoch"], history["val_loss"], "o-", label="validation")
    loss_axes.set(xlabel="epoch", ylabel="loss (cross-entropy)", title="Loss")
    if metric:
        auc_axes = axes[0, 1]
        auc_axes.plot(history["epoch"], history[metric], "o-", label="training")
        auc_axes.plot(history["epoch"], history[f"val_{metric}"], "o-", label="validation")
        auc_axes.set(xlabel="epoch", ylabel="ROC AUC", title="ROC AUC")
    kept = best_epoch(history)
    for ax in axes.ravel():
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.axvline(kept, color="grey", ls=":", label=f"best epoch ({kept}, kept)", gid="best-epoch")
        ax.legend(fontsize=8)
    if "stage" in history:
        for stage, rows in history.groupby("stage", sort=False):
            for ax in axes.ravel():
                ax.axvspan(rows["epoch"].min() - 0.5, rows["epoch"].max() + 0.5, alpha=0.08,
                           color="C2" if stage == "head" else "C4")
                ax.text(rows["epoch"].mean(), ax.get_ylim()[1], stage, ha="center", va="top", fontsize=8)
    if title:
        figure.suptitle(title)
    return figure

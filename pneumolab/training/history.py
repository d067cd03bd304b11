"""What a training history says: the quantity early stopping watched, and the epoch whose weights were kept.

TensorFlow-free (pandas only), so the card, the learning-curve figure and the
command line read a history without loading Keras.
"""

from __future__ import annotations

import pandas as pd


def monitored(task: str) -> tuple[str, str]:
    """The validation quantity early stopping watches, and whether higher is better.

    ROC AUC for a yes/no model; the loss for a several-class one (``val_auc`` is tracked only for yes/no).
    """
    return ("val_auc", "max") if task == "binary" else ("val_loss", "min")


def best_epoch(history: pd.DataFrame) -> int:
    """The epoch whose weights training kept: the best :func:`monitored` value.

    A history with ``val_auc`` comes from a yes/no model; with stages (transfer
    learning) the kept weights are the final stage's best.
    """
    final = history[history["stage"] == history["stage"].iloc[-1]] if "stage" in history else history
    monitor, mode = monitored("binary" if "val_auc" in final else "several classes")
    best = final[monitor].idxmax() if mode == "max" else final[monitor].idxmin()
    return int(history.loc[best, "epoch"])

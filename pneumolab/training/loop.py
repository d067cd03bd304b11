"""The training loop both strategies share: class weights, compile, fit with early stopping.

Early stopping watches one validation quantity, :func:`pneumolab.training.history.monitored`;
the same rule reads the kept epoch back from a history.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from pneumolab.progress import finish_early, progress
from pneumolab.training.history import monitored


def class_weights(labels: np.ndarray) -> dict[int, float]:
    """Weights that make each class count as much as the others in the loss.

    The training set is about 3:1 pneumonia; unweighted, a model can score 74 %
    accuracy by always answering "pneumonia".
    """
    labels = np.asarray(labels)
    classes, counts = np.unique(labels, return_counts=True)
    return {int(c): float(len(labels) / (len(classes) * n)) for c, n in zip(classes, counts, strict=True)}


class EpochProgress(keras.callbacks.Callback):
    """One progress bar over epochs, with the latest metrics; records seconds per epoch."""

    def __init__(self, epochs: int, description: str = "training"):
        super().__init__()
        self.bar = progress(total=epochs, desc=description, unit="epoch")
        self.seconds: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)
        shown = {k: f"{v:.3f}" for k, v in (logs or {}).items() if k in ("loss", "val_loss", "val_auc")}
        self.bar.set_postfix(shown)
        self.bar.update()

    def on_train_end(self, logs=None):
        if self.bar.n < self.bar.total:
            self.bar.set_description(f"{self.bar.desc} (stopped early)", refresh=False)
        finish_early(self.bar)


def compile_for(model: keras.Model, task: str, learning_rate: float, label_smoothing: float = 0.0) -> None:
    """Adam, cross-entropy (on smoothed labels when asked), and the metrics the course watches
    (ROC AUC for yes/no)."""
    if task == "binary":
        loss = keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
        metrics = [keras.metrics.AUC(name="auc"), "binary_accuracy"]
    else:
        loss, metrics = "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset,
    *,
    task: str,
    epochs: int,
    learning_rate: float,
    patience: int,
    class_weight: dict[int, float] | None = None,
    checkpoint: str | Path | None = None,
    label_smoothing: float = 0.0,
) -> pd.DataFrame:
    """Train with early stopping and learning-rate reduction on validation; keep the best epoch.

    The settings come from a :class:`~pneumolab.training.config.TrainConfig` (its table
    holds the defaults). Returns the history as a DataFrame (one row per epoch, with
    ``seconds``). With ``checkpoint``, the best model so far is also written there after
    every improving epoch, so an interrupted run loses nothing. ``label_smoothing`` (yes/no
    tasks) trains towards 0.05 and 0.95 instead of 0 and 1 at 0.1, which keeps the model from
    answering with a certainty the data cannot back.
    """
    compile_for(model, task, learning_rate, label_smoothing)
    monitor, mode = monitored(task)
    progress = EpochProgress(epochs, f"training {model.name}")
    callbacks = [
        keras.callbacks.EarlyStopping(monitor, mode=mode, patience=patience, restore_best_weights=True),
        keras.callbacks.ReduceLROnPlateau(monitor, mode=mode, factor=0.3, patience=max(1, patience // 2)),
        progress,
    ]
    if checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(str(checkpoint), monitor=monitor, mode=mode,
                                                         save_best_only=True))
    with warnings.catch_warnings():
        # Skipping unreadable files leaves the dataset's length unknown, so Keras
        # learns an epoch's end by running out of data, and says so: expected here.
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(train, validation_data=val, epochs=epochs, class_weight=class_weight,
                            callbacks=callbacks, verbose=0, shuffle=False)
    frame = pd.DataFrame(history.history)
    frame.insert(0, "epoch", np.arange(1, len(frame) + 1))
    frame["seconds"] = progress.seconds[: len(frame)]
    return frame

"""Training with the habits the course teaches: class weights, early stopping on a
patient-grouped validation split, the best epoch kept, a threshold chosen on
validation, and a model card that says how the model came to be.
"""

from __future__ import annotations

import platform
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from pneumolab import __version__, config, limits
from pneumolab.data import manifest as data
from pneumolab.metrics import evaluate, multiclass
from pneumolab.models import cnn as models
from pneumolab.preprocess.pipeline import Skipped, make_dataset
from pneumolab.progress import finish_early, progress
from pneumolab.viz.training import best_epoch

#: Images per (split, class) kept in quick mode: enough to run every step, not to learn much.
QUICK_PER_CLASS = 40


#: Per-model defaults: the scratch CNN learns at 128 px gray; the ImageNet backbone wants 224.
MODEL_DEFAULTS = {
    "scratch": dict(image_size=128, epochs=15, learning_rate=1e-3),
    # Transfer learning trains on cached activations: the images never change, so no augmentation.
    "transfer": dict(image_size=224, epochs=12, learning_rate=1e-3, augment=False),
}

#: Threshold rules a training run can apply on validation (those needing no costs; see evaluate.RULES).
THRESHOLD_RULES = ("recall", "precision", "fbeta", "youden")


@dataclass
class TrainConfig:
    """Everything that decides a training run; stored in the model card."""

    model: str = "scratch"
    task: str = "binary"
    epochs: int = 15
    image_size: int = 128
    channels: int = 1
    batch_size: int = 32
    learning_rate: float = 1e-3
    patience: int = 4
    val_fraction: float = 0.2
    seed: int = config.SEED
    augment: bool = True
    threshold_rule: str = "recall"
    threshold_target: float = 0.95
    quick: bool = field(default_factory=config.quick_mode)

    @classmethod
    def for_model(cls, model: str, **overrides) -> TrainConfig:
        """The course's defaults for ``model`` ("scratch" or "transfer"); ``None`` overrides are ignored."""
        if model not in MODEL_DEFAULTS:
            raise ValueError(f"Unknown model {model!r}; choose one of {sorted(MODEL_DEFAULTS)}.")
        chosen = {k: v for k, v in overrides.items() if v is not None}
        return cls(model=model, **(MODEL_DEFAULTS[model] | chosen))

    def __post_init__(self) -> None:
        """Refuse impossible settings now, not after minutes of training."""
        if self.quick:
            self.epochs = 1
        limits.check_epochs(self.epochs)
        limits.check_image_size(self.model, self.image_size)
        if self.task not in data.TASKS:
            raise ValueError(f"Unknown task {self.task!r}; choose one of {sorted(data.TASKS)}.")
        if self.threshold_rule not in THRESHOLD_RULES:
            raise ValueError(f"Unknown threshold rule {self.threshold_rule!r}; "
                             f"choose one of {THRESHOLD_RULES}.")
        if self.model == "transfer" and self.augment:
            raise ValueError("The transfer model trains on cached activations and cannot augment its images.")
        if not 0 < self.val_fraction <= 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5], got {self.val_fraction}.")


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


def compile_for(model: keras.Model, task: str, learning_rate: float) -> None:
    """Adam, cross-entropy, and the metrics the course watches (ROC AUC for yes/no)."""
    if task == "binary":
        loss, metrics = "binary_crossentropy", [keras.metrics.AUC(name="auc"), "binary_accuracy"]
    else:
        loss, metrics = "sparse_categorical_crossentropy", ["sparse_categorical_accuracy"]
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)


def fit(
    model: keras.Model,
    train: tf.data.Dataset,
    val: tf.data.Dataset,
    *,
    task: str = "binary",
    epochs: int = 15,
    learning_rate: float = 1e-3,
    patience: int = 4,
    class_weight: dict[int, float] | None = None,
    checkpoint: str | Path | None = None,
) -> pd.DataFrame:
    """Train with early stopping and learning-rate reduction on validation; keep the best epoch.

    Returns the history as a DataFrame (one row per epoch, with ``seconds``).
    With ``checkpoint``, the best model so far is also written there after
    every improving epoch, so an interrupted run loses nothing.
    """
    compile_for(model, task, learning_rate)
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


def predict(model: keras.Model, dataset: tf.data.Dataset) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predicted probabilities over a dataset (P(positive) for a one-unit model)."""
    probabilities, labels = models.predict_dataset(model, dataset)
    return labels, probabilities[:, 0] if probabilities.shape[1] == 1 else probabilities


def training_frames(cfg: TrainConfig, data_dir: str | Path | None = None) -> pd.DataFrame:
    """The manifest with the patient-grouped validation split carved (a small slice in quick mode)."""
    manifest = data.carve_validation(data.build_manifest(data_dir), cfg.val_fraction, cfg.seed)
    if cfg.quick:
        manifest = data.stratified_subset(manifest, QUICK_PER_CLASS, cfg.seed)
    return manifest


def monitored(task: str) -> tuple[str, str]:
    """The validation quantity early stopping watches, and whether higher is better."""
    return ("val_auc", "max") if task == "binary" else ("val_loss", "min")


def datasets(cfg: TrainConfig, manifest: pd.DataFrame, **options) -> dict[str, tf.data.Dataset]:
    """Train (shuffled, augmented, cached) and validation pipelines for a run (``options``: of
    :func:`pneumolab.preprocess.pipeline.make_dataset`, e.g. ``skipped``)."""
    from pneumolab.preprocess.transforms import augmentation

    common = dict(task=cfg.task, image_size=cfg.image_size, channels=cfg.channels,
                  batch_size=cfg.batch_size, seed=cfg.seed, cache=True) | options
    return dict(
        train=make_dataset(manifest.loc[manifest["split"] == "train"], shuffle=True,
                           augment=augmentation() if cfg.augment else None, **common),
        val=make_dataset(manifest.loc[manifest["split"] == "val"], **common),
    )


@dataclass
class TrainResult:
    """A trained model with its card and history (and the folder it was saved to, if any)."""

    model: keras.Model
    card: dict
    history: pd.DataFrame
    folder: Path | None = None


def train(cfg: TrainConfig, data_dir: str | Path | None = None, out: str | Path | None = None) -> TrainResult:
    """The whole job behind ``pneumolab train``: data, model, fit, threshold on validation, card.

    A run that fails before writing anything leaves no empty ``out`` folder behind.
    """
    created = Path(out) if out is not None and not Path(out).exists() else None
    try:
        return _run(cfg, data_dir, out)
    finally:
        if created is not None and created.is_dir() and not any(created.iterdir()):
            created.rmdir()


def _run(cfg: TrainConfig, data_dir: str | Path | None, out: str | Path | None) -> TrainResult:
    keras.utils.set_random_seed(cfg.seed)
    started = time.perf_counter()
    root = data.find_data_dir(data_dir)
    manifest = training_frames(cfg, root)
    skipped = Skipped()  # files unreadable since the data check: named once, and not counted as used
    pipelines = datasets(cfg, manifest, skipped=skipped)
    if cfg.model == "scratch":
        model = models.scratch_cnn(cfg.image_size, cfg.channels, data.n_outputs(cfg.task))
        train_rows = data.usable(manifest.loc[manifest["split"] == "train"])
        checkpoint = Path(out) / models.MODEL_FILE if out else None
        if checkpoint:
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
        history = fit(model, pipelines["train"], pipelines["val"], task=cfg.task, epochs=cfg.epochs,
                      learning_rate=cfg.learning_rate, patience=cfg.patience, checkpoint=checkpoint,
                      class_weight=class_weights(data.targets(train_rows, cfg.task)))
    elif cfg.model == "transfer":
        from pneumolab.training import transfer

        model, history = transfer.train_transfer(cfg, manifest, skipped)
    else:
        raise ValueError(f"Unknown model {cfg.model!r}; choose 'scratch' or 'transfer'.")
    labels, probabilities = predict(model, pipelines["val"])
    threshold, validation = validation_summary(cfg, labels, probabilities)
    used = manifest.loc[~skipped.among(manifest["path"])]
    card = model_card(cfg, root, used, model, history, threshold, validation, time.perf_counter() - started)
    folder = None
    if out:
        folder = models.save(model, out, card)
        history.to_csv(folder / models.HISTORY_FILE, index=False)
    return TrainResult(model, card, history, folder)


def validation_summary(cfg: TrainConfig, labels: np.ndarray, probabilities: np.ndarray) -> tuple:
    """The operating threshold chosen on validation, and the validation metrics there."""
    if cfg.task != "binary":
        return None, multiclass.multiclass_report(labels, probabilities, data.TASKS[cfg.task], ci=False)
    targeted = cfg.threshold_rule in ("recall", "precision")
    choice = evaluate.choose_threshold(labels, probabilities, rule=cfg.threshold_rule,
                                       **({"target": cfg.threshold_target} if targeted else {}))
    return choice.threshold, evaluate.report(labels, probabilities, choice.threshold, ci=False)


def seconds_per_epoch(history: pd.DataFrame) -> float | dict[str, float]:
    """Mean seconds per epoch; per stage when training had stages (transfer: 0.4 s vs 40 s)."""
    if "stage" not in history:
        return round(float(history["seconds"].mean()), 1)
    return {stage: round(float(seconds), 1)
            for stage, seconds in history.groupby("stage", sort=False)["seconds"].mean().items()}


def model_card(cfg: TrainConfig, root: Path, manifest: pd.DataFrame, model: keras.Model,
               history: pd.DataFrame, threshold: float | None, validation: dict, seconds: float) -> dict:
    """What a reader needs to trust or reproduce the model: data, split, threshold, metrics, versions."""
    used = data.usable(manifest)
    return dict(
        name=model.name,
        task=cfg.task,
        classes=list(data.TASKS[cfg.task]),
        input=dict(image_size=cfg.image_size, channels=cfg.channels, fit="squash", scale="0-255"),
        threshold=threshold,
        threshold_rule=dict(rule=cfg.threshold_rule, target=cfg.threshold_target, chosen_on="validation"),
        data=dict(
            folder=str(root),
            images={split: int((used["split"] == split).sum()) for split in ("train", "val", "test")},
            split="validation carved from train, grouped by patient, stratified by class",
            split_seed=cfg.seed,
            val_fraction=cfg.val_fraction,
            quick_subset=cfg.quick,
        ),
        training=dict(
            config=asdict(cfg),
            epochs_run=len(history),
            best_epoch=best_epoch(history),
            seconds=round(seconds, 1),
            seconds_per_epoch=seconds_per_epoch(history),
        ),
        parameters=int(model.count_params()),
        validation=validation,
        versions=dict(pneumolab=__version__, tensorflow=tf.__version__, keras=keras.__version__,
                      numpy=np.__version__, python=platform.python_version()),
    )

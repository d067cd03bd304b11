"""A training run from start to end: data, the strategy of the architecture, threshold, model card.

The habits the course teaches: class weights, early stopping on a patient-grouped
validation split, the best epoch kept, a threshold chosen on validation, and a
model card that says how the model came to be.
"""

from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from pneumolab import __version__
from pneumolab.data import manifest as data
from pneumolab.inference.batches import predict_dataset
from pneumolab.metrics import multiclass
from pneumolab.metrics.report import report
from pneumolab.metrics.thresholds import choose_threshold
from pneumolab.models.card import DataRecord, InputSpec, ModelCard, ThresholdRule, TrainingRecord
from pneumolab.models.files import HISTORY_FILE, MODEL_FILE, save
from pneumolab.preprocess.pipeline import Skipped, make_dataset
from pneumolab.preprocess.transforms import augmentation
from pneumolab.training.config import QUICK_PER_CLASS, TrainConfig
from pneumolab.training.history import best_epoch
from pneumolab.training.strategies import STRATEGIES


def training_frames(cfg: TrainConfig, data_dir: str | Path | None = None) -> pd.DataFrame:
    """The manifest with the patient-grouped validation split carved (a small slice in quick mode)."""
    manifest = data.carve_validation(data.build_manifest(data_dir), cfg.val_fraction, cfg.seed)
    if cfg.quick:
        manifest = data.stratified_subset(manifest, QUICK_PER_CLASS, cfg.seed)
    return manifest


def input_spec(cfg: TrainConfig) -> InputSpec:
    """What the run's model takes: the one description both its pipelines and its card use."""
    return InputSpec(image_size=cfg.image_size, channels=cfg.channels)


def datasets(cfg: TrainConfig, manifest: pd.DataFrame, **options) -> dict[str, tf.data.Dataset]:
    """Train (shuffled, augmented, cached) and validation pipelines for a run (``options``: of
    :func:`pneumolab.preprocess.pipeline.make_dataset`, e.g. ``skipped``)."""
    spec = input_spec(cfg)
    common = dict(task=cfg.task, image_size=spec.image_size, channels=spec.channels, fit=spec.fit,
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
    card: ModelCard
    history: pd.DataFrame
    folder: Path | None = None


def train(cfg: TrainConfig, data_dir: str | Path | None = None, out: str | Path | None = None) -> TrainResult:
    """The whole job behind ``pneumolab train``: data, model, fit, threshold on validation, card.

    Prints the resolved settings first (so quick mode's choices are seen), and records
    them in the card. A run that fails before writing anything leaves no empty ``out`` folder behind.
    """
    print(f"Training {cfg.arch}: {cfg.describe()}", flush=True)
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
    checkpoint = Path(out) / MODEL_FILE if out else None
    model, history = STRATEGIES[cfg.arch](cfg, manifest, pipelines, skipped=skipped, checkpoint=checkpoint)
    labels, probabilities = predict_dataset(model, pipelines["val"])
    threshold, validation = validation_summary(cfg, labels, probabilities)
    used = manifest.loc[~skipped.among(manifest["path"])]
    card = model_card(cfg, root, used, model, history, threshold, validation, time.perf_counter() - started)
    folder = None
    if out:
        folder = save(model, out, card)
        history.to_csv(folder / HISTORY_FILE, index=False)
    return TrainResult(model, card, history, folder)


def validation_summary(cfg: TrainConfig, labels: np.ndarray, probabilities: np.ndarray) -> tuple:
    """The operating threshold chosen on validation, and the validation metrics there."""
    if cfg.task != "binary":
        return None, multiclass.multiclass_report(labels, probabilities, data.TASKS[cfg.task], ci=False)
    targeted = cfg.threshold_rule in ("recall", "precision")
    choice = choose_threshold(labels, probabilities, rule=cfg.threshold_rule,
                              **({"target": cfg.threshold_target} if targeted else {}))
    return choice.threshold, report(labels, probabilities, choice.threshold, ci=False)


def seconds_per_epoch(history: pd.DataFrame) -> float | dict[str, float]:
    """Mean seconds per epoch; per stage when training had stages (transfer: 0.4 s vs 40 s)."""
    if "stage" not in history:
        return round(float(history["seconds"].mean()), 1)
    return {stage: round(float(seconds), 1)
            for stage, seconds in history.groupby("stage", sort=False)["seconds"].mean().items()}


def model_card(cfg: TrainConfig, root: Path, manifest: pd.DataFrame, model: keras.Model,
               history: pd.DataFrame, threshold: float | None, validation: dict, seconds: float) -> ModelCard:
    """What a reader needs to trust or reproduce the model: data, split, threshold, metrics, versions."""
    used = data.usable(manifest)
    return ModelCard(
        name=model.name,
        task=cfg.task,
        classes=tuple(data.TASKS[cfg.task]),
        input=input_spec(cfg),
        threshold=threshold,
        threshold_rule=ThresholdRule(cfg.threshold_rule, cfg.threshold_target, chosen_on="validation"),
        data=DataRecord(
            folder=str(root),
            images={split: int((used["split"] == split).sum()) for split in ("train", "val", "test")},
            split="validation carved from train, grouped by patient, stratified by class",
            split_seed=cfg.seed,
            val_fraction=cfg.val_fraction,
            quick_subset=cfg.quick,
        ),
        training=TrainingRecord(
            config=asdict(cfg),
            epochs_run=len(history),
            best_epoch=best_epoch(history),
            seconds=round(seconds, 1),
            seconds_per_epoch=seconds_per_epoch(history),
        ),
        parameters=int(model.count_params()),
        reports={"val": validation},
        versions=library_versions(),
    )


def library_versions() -> dict[str, str]:
    """The versions a model card records: the kit, TensorFlow, Keras, NumPy and Python."""
    return dict(pneumolab=__version__, tensorflow=tf.__version__, keras=keras.__version__,
                numpy=np.__version__, python=platform.python_version())

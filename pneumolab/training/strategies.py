"""How each architecture is trained: a registry from ``TrainConfig.arch`` to a strategy function.

Every strategy takes the run's config, its manifest (validation split carved), the train and
validation pipelines, where unreadable files are recorded, and where to checkpoint; it returns
the trained model (images in, probabilities out) and its history. Both use the loop of
:mod:`pneumolab.training.loop`. A new architecture is one more ``@strategy("name")`` function
(and its row in :data:`pneumolab.training.config.DEFAULTS`).

Transfer learning fits a 2-core CPU by caching what does not change: full fine-tuning of
EfficientNet-Lite0 runs at about 4 images/s here, some 20 minutes an epoch, but a frozen
layer gives the same output every epoch. So the frozen lower stages run once over the data
set (a few minutes), and then train

1. the head alone on pooled features (seconds), then
2. the top stage(s) and the head together, from the cached activations, at a
   low learning rate, with BatchNorm kept in inference mode.

The result is assembled into one ordinary model whose layers are the very ones trained above.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from pneumolab.data import manifest as data
from pneumolab.inference.batches import predict_dataset
from pneumolab.inference.features import encoder as feature_encoder
from pneumolab.models import backbones
from pneumolab.models import cnn as models
from pneumolab.models.card import InputSpec
from pneumolab.models.transfer import BACKBONE, split_backbone, start_fine_tuning, to_rgb_input, transfer_head
from pneumolab.preprocess.pipeline import Skipped, make_dataset
from pneumolab.training.config import ARCHS, TrainConfig
from pneumolab.training.loop import class_weights, fit


class Strategy(Protocol):
    """How one architecture is trained: the run's config, manifest and ``train``/``val`` pipelines
    in; the trained model (images in, probabilities out) and its history out."""

    def __call__(
        self, cfg: TrainConfig, manifest: pd.DataFrame, pipelines: dict[str, tf.data.Dataset], *,
        skipped: Skipped | None = None, checkpoint: Path | None = None,
    ) -> tuple[keras.Model, pd.DataFrame]: ...


#: Architecture name -> its strategy; filled by :func:`strategy`.
STRATEGIES: dict[str, Strategy] = {}

#: Fine-tuning the top stages runs at this fraction of the head's learning rate.
FINE_TUNE_RATE_FACTOR = 0.1


def strategy(arch: str) -> Callable[[Strategy], Strategy]:
    """Register a function as the way to train ``arch``, one of :data:`~pneumolab.training.config.ARCHS`
    (a config refuses any other name, so a strategy under another name could never run)."""
    if arch not in ARCHS:
        raise ValueError(f"Add {arch!r} to training.config.ARCHS (and its row of DEFAULTS) first.")

    def register(function: Strategy) -> Strategy:
        STRATEGIES[arch] = function
        return function

    return register


@strategy("scratch")
def train_scratch(
    cfg: TrainConfig, manifest: pd.DataFrame, pipelines: dict[str, tf.data.Dataset], *,
    skipped: Skipped | None = None, checkpoint: Path | None = None,
) -> tuple[keras.Model, pd.DataFrame]:
    """The CNN of lesson 03, trained end to end on the (augmented) images.

    Unreadable files are recorded in ``skipped`` by the pipelines themselves; the best
    epoch so far is written to ``checkpoint``, if given.
    """
    model = models.scratch_cnn(cfg.image_size, cfg.channels, data.n_outputs(cfg.task))
    train_rows = data.usable(manifest.loc[manifest["split"] == "train"])
    if checkpoint:
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
    history = fit(model, pipelines["train"], pipelines["val"], task=cfg.task, epochs=cfg.epochs,
                  learning_rate=cfg.learning_rate, patience=cfg.patience, checkpoint=checkpoint,
                  class_weight=class_weights(data.targets(train_rows, cfg.task)))
    return model, history


def activations(
    model: keras.Model, dataset: tf.data.Dataset, description: str
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` once over ``dataset``; float16 activations (half the memory) and labels."""
    labels, outputs = predict_dataset(model, dataset, description)
    return outputs.astype(np.float16), labels


def standalone(assembled: keras.Model) -> keras.Model:
    """A fresh copy of a model assembled from layers that other models share: its layers belong to
    this one graph only, exactly like the model saved to disk, so tools that walk the graph see the
    same in both."""
    model = keras.models.clone_model(assembled)
    model.set_weights(assembled.get_weights())
    return model


@strategy("transfer")
def train_transfer(
    cfg: TrainConfig, manifest: pd.DataFrame, pipelines: dict[str, tf.data.Dataset] | None = None, *,
    skipped: Skipped | None = None, checkpoint: Path | None = None,
) -> tuple[keras.Model, pd.DataFrame]:
    """Features once, then the head, then the top stage: returns the assembled model and its history.

    Reads the images itself, unaugmented (``pipelines`` is not needed; ``checkpoint`` is not
    written: the stages train on cached activations, not on the final model). Files that cannot
    be read any more are left out and recorded in ``skipped``.
    """
    backbone = backbones.backbone(BACKBONE, (cfg.image_size, cfg.image_size, 3), weights="imagenet")
    lower, upper = split_backbone(backbone)
    lower.trainable = False

    inputs, rgb = to_rgb_input(cfg.image_size, cfg.channels)
    encoder = keras.Model(inputs, lower(rgb), name="encoder")
    plain = dict(task=cfg.task, image_size=cfg.image_size, channels=cfg.channels,
                 batch_size=cfg.batch_size, skipped=skipped)
    cached = {}
    for split in ("train", "val"):
        rows = manifest.loc[manifest["split"] == split]
        cached[split] = activations(encoder, make_dataset(rows, **plain), f"features ({split})")
    weights = class_weights(cached["train"][1])

    def batched(pair: tuple[np.ndarray, np.ndarray], shuffle: bool) -> tf.data.Dataset:
        dataset = tf.data.Dataset.from_tensor_slices(pair)
        if shuffle:
            dataset = dataset.shuffle(len(pair[1]), seed=cfg.seed, reshuffle_each_iteration=True)
        return dataset.batch(cfg.batch_size).prefetch(tf.data.AUTOTUNE)

    def arrays(split: str, shuffle: bool) -> tf.data.Dataset:
        return batched(cached[split], shuffle)

    pool = layers.GlobalAveragePooling2D(name="global_pool")
    pooled = keras.Sequential([upper, pool], name="pooled_features")
    cached_features = {split: (activations(pooled, arrays(split, False), f"pooled ({split})")[0], y)
                       for split, (_, y) in cached.items()}
    predictor = transfer_head(data.n_outputs(cfg.task))
    history_head = fit(keras.Sequential(predictor, name="head"), batched(cached_features["train"], True),
                       batched(cached_features["val"], False), task=cfg.task, epochs=cfg.epochs,
                       learning_rate=cfg.learning_rate, patience=cfg.patience, class_weight=weights)

    start_fine_tuning(upper)
    tuned_input = keras.Input(upper.input.shape[1:], name="cached_activations")
    tuned = models.stack(predictor, pool(upper(tuned_input)))
    stage_model = keras.Model(tuned_input, tuned, name="top_stage")
    history_tune = fit(stage_model, arrays("train", True), arrays("val", False), task=cfg.task,
                       epochs=cfg.epochs, learning_rate=cfg.learning_rate * FINE_TUNE_RATE_FACTOR,
                       patience=cfg.patience, class_weight=weights)

    prediction = models.stack(predictor, pool(upper(lower(rgb))))
    assembled = keras.Model(inputs, prediction, name=f"{BACKBONE}_transfer")
    model = standalone(assembled)
    history = pd.concat(
        [history_head.assign(stage="head"), history_tune.assign(stage="top stage")], ignore_index=True
    )
    history["epoch"] = np.arange(1, len(history) + 1)
    return model, history


@strategy("probe")
def train_probe(
    cfg: TrainConfig, manifest: pd.DataFrame, pipelines: dict[str, tf.data.Dataset] | None = None, *,
    skipped: Skipped | None = None, checkpoint: Path | None = None,
) -> tuple[keras.Model, pd.DataFrame]:
    """A linear probe: the frozen ImageNet backbone's pooled features once, then one linear layer.

    The cheapest honest use of ImageNet (a few minutes of features, seconds of training), and a
    different learner from the fine-tuned model: a useful second opinion in an ensemble. Trained
    with smoothed labels (``cfg.label_smoothing``). Reads the images itself, unaugmented.
    """
    features = feature_encoder(BACKBONE, InputSpec(cfg.image_size, cfg.channels))
    plain = dict(task=cfg.task, image_size=cfg.image_size, channels=cfg.channels,
                 batch_size=cfg.batch_size, skipped=skipped)
    pooled = {split: activations(features, make_dataset(manifest.loc[manifest["split"] == split], **plain),
                                 f"features ({split})")
              for split in ("train", "val")}
    images = len(pooled["train"][1])
    train = tf.data.Dataset.from_tensor_slices(pooled["train"]).shuffle(images, seed=cfg.seed)
    val = tf.data.Dataset.from_tensor_slices(pooled["val"])
    predictor = transfer_head(data.n_outputs(cfg.task))
    head = keras.Sequential(predictor, name="head")
    history = fit(head, train.batch(cfg.batch_size), val.batch(cfg.batch_size),
                  task=cfg.task, epochs=cfg.epochs, learning_rate=cfg.learning_rate, patience=cfg.patience,
                  label_smoothing=cfg.label_smoothing, class_weight=class_weights(pooled["train"][1]))
    prediction = models.stack(predictor, features.output)
    assembled = keras.Model(features.input, prediction, name=f"{BACKBONE}_probe")
    return standalone(assembled), history

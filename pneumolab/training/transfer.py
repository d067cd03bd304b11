"""Transfer learning that fits a 2-core CPU: cache what does not change, train what does.

Full fine-tuning of EfficientNet-Lite0 runs at about 4 images/s here, some
20 minutes an epoch. But a frozen layer gives the same output every epoch, so
the kit runs the frozen lower stages once over the data set (a few minutes),
keeps their activations, and then trains

1. the head alone on pooled features (seconds), then
2. the top stage(s) and the head together, from the cached activations, at a
   low learning rate, with BatchNorm kept in inference mode.

The result is assembled into one ordinary model, images in, probability out,
whose layers are the very ones trained above.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from pneumolab.data import manifest as data
from pneumolab.models import backbones
from pneumolab.models import cnn as models
from pneumolab.preprocess.pipeline import Skipped, make_dataset

#: The backbone the kit can load offline, and the layer after which it is fine-tuned.
BACKBONE = "efficientnet_lite0"
SPLIT_AFTER = "stage5_out"
FINE_TUNE_RATE_FACTOR = 0.1
HEAD_DROPOUT = 0.2


def split_backbone(backbone: keras.Model, after: str = SPLIT_AFTER) -> tuple[keras.Model, keras.Model]:
    """The frozen lower part (input to ``after``) and the tunable upper part (the rest).

    Both share their layers with ``backbone``: training the upper part trains the backbone.
    """
    cut = backbone.get_layer(after).output
    lower = keras.Model(backbone.input, cut, name="frozen_stages")
    upper = keras.Model(cut, backbone.output, name="tuned_stages")
    return lower, upper


def freeze_batch_norm(model: keras.Model) -> None:
    """Keep BatchNorm statistics as learned on ImageNet: a small data set would only spoil them."""
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False


def transfer_head(n_outputs: int = 1) -> list[keras.Layer]:
    """What feature extraction trains on the pooled backbone features: dropout, then one dense layer."""
    return models.head(n_outputs, dropout=HEAD_DROPOUT)


def start_fine_tuning(upper: keras.Model) -> None:
    """The switch from feature extraction to fine-tuning: the top stages learn, but not their BatchNorm.

    BatchNorm keeps ImageNet's statistics (:func:`freeze_batch_norm`). Notebook 04 writes
    the same lines out; its test keeps the two equal.
    """
    upper.trainable = True
    freeze_batch_norm(upper)


def activations(
    model: keras.Model, dataset: tf.data.Dataset, description: str
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``model`` once over ``dataset``; float16 activations (half the memory) and labels."""
    outputs, labels = models.predict_dataset(model, dataset, description)
    return outputs.astype(np.float16), labels


def to_rgb_input(image_size: int, channels: int) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """An input for the kit's images, repeated to three channels for an ImageNet backbone when gray."""
    inputs = keras.Input((image_size, image_size, channels), name="image")
    if channels == 3:
        return inputs, inputs
    # A frozen 1x1 convolution of ones copies gray into R, G and B: a single-input layer,
    # so the model stays a plain chain that Grad-CAM can follow, and loads anywhere.
    gray_to_rgb = layers.Conv2D(3, 1, use_bias=False, kernel_initializer="ones", trainable=False,
                                name="gray_to_rgb")
    return inputs, gray_to_rgb(inputs)


def train_transfer(
    cfg, manifest: pd.DataFrame, skipped: Skipped | None = None
) -> tuple[keras.Model, pd.DataFrame]:
    """Features once, then the head, then the top stage: returns the assembled model and its history.

    Files that cannot be read any more are left out and recorded in ``skipped``.
    """
    from pneumolab.training.train import class_weights, fit

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
    # A fresh copy: its layers belong to this one graph only (not also to the stage models above),
    # exactly like the model saved to disk, so tools that walk the graph see the same in both.
    model = keras.models.clone_model(assembled)
    model.set_weights(assembled.get_weights())
    history = pd.concat(
        [history_head.assign(stage="head"), history_tune.assign(stage="top stage")], ignore_index=True
    )
    history["epoch"] = np.arange(1, len(history) + 1)
    return model, history

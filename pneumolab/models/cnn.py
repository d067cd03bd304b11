"""The course's models, and how a trained model is stored with its model card.

A model takes float32 images on a 0-255 scale (what :mod:`pneumolab.preprocess.pipeline`
yields) and normalizes inside itself, so the panel and the CLI can feed it the
same input as training. A trained model is a folder: ``model.keras``,
``model_card.json`` (what it was trained on, its threshold, its metrics) and
``history.csv``.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras import layers

from pneumolab.models.files import (  # noqa: F401 (re-exported: models.resolve etc. are public)
    CARD_FILE,
    HISTORY_FILE,
    MODEL_ENV,
    MODEL_FILE,
    REFERENCE_DIR,
    load_card,
    resolve,
)
from pneumolab.progress import progress


def head(n_outputs: int, dropout: float) -> list[keras.Layer]:
    """Dropout then the prediction layer: one sigmoid unit for yes/no, softmax for several classes.

    Returned as layers, not a sub-model, so every model keeps its prediction
    layer at the top level, where Grad-CAM finds the logits.
    """
    activation = "sigmoid" if n_outputs == 1 else "softmax"
    return [layers.Dropout(dropout, name="head_dropout"),
            layers.Dense(n_outputs, activation=activation, name="prediction")]


def stack(chain: list[keras.Layer], x: keras.KerasTensor) -> keras.KerasTensor:
    """Apply layers one after another."""
    for layer in chain:
        x = layer(x)
    return x


def scratch_cnn(
    image_size: int = 128,
    channels: int = 1,
    n_outputs: int = 1,
    widths: tuple[int, ...] = (32, 64, 128, 256),
    dropout: float = 0.3,
    bn_momentum: float = 0.99,
) -> keras.Model:
    """A small CNN to train from scratch: a strided stem, then conv-BN-ReLU-pool blocks.

    Sized by its cost: at 128x128 gray it needs about 80 M multiply-adds per
    image, so an epoch over the 5,216 training images takes under a minute on
    two CPU cores. The stride-2 stem halves the resolution before any wide
    layer, which is where naive designs spend most of their time.
    ``bn_momentum`` is how slowly batch-norm's running statistics (used at
    validation) follow training; notebook 03 shows its effect on the first epochs.
    """
    inputs = keras.Input((image_size, image_size, channels), name="image")
    x = layers.Rescaling(1 / 255, name="scale_0_1")(inputs)
    x = conv_bn_relu(x, 16, "stem", strides=2, bn_momentum=bn_momentum)
    for i, width in enumerate(widths, start=1):
        x = conv_bn_relu(x, width, f"block{i}", bn_momentum=bn_momentum)
        if i < len(widths):
            x = layers.MaxPooling2D(name=f"block{i}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="global_pool")(x)
    return keras.Model(inputs, stack(head(n_outputs, dropout), x), name="scratch_cnn")


def conv_bn_relu(x, filters: int, name: str, strides: int = 1, bn_momentum: float = 0.99):
    """The building block: a 3x3 convolution (no bias: batch-norm adds one), batch-norm, ReLU.

    Notebook 03 writes the same three lines out; its test keeps the two equal.
    """
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=bn_momentum, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def architecture(model: keras.Model) -> list[tuple[str, dict, int]]:
    """Each layer's type, configuration and parameter count: equal lists mean the same network.

    Weights are not compared (two builds start from different random weights).
    """
    return [(type(layer).__name__, layer.get_config(), layer.count_params()) for layer in model.layers]


def layer_costs(model: keras.Model) -> pd.DataFrame:
    """Per layer: output shape, parameters, and multiply-adds for one image (convolutions and dense).

    Multiply-adds, not parameters, decide how long a CPU takes: a 3x3 conv
    with few weights costs a lot when it runs at full resolution.
    """
    rows = []
    for layer in model.layers:
        shape = tuple(layer.output.shape[1:])
        macs = 0
        if isinstance(layer, layers.Conv2D | layers.DepthwiseConv2D | layers.Dense):
            kernel = layer.get_weights()[0]
            per_output = int(np.prod(kernel.shape[:-1]))
            if isinstance(layer, layers.DepthwiseConv2D):
                per_output = int(np.prod(kernel.shape[:2]))
            macs = per_output * int(np.prod(shape))
        rows.append(dict(layer=layer.name, kind=type(layer).__name__, output=shape,
                         parameters=layer.count_params(), multiply_adds=macs))
    return pd.DataFrame(rows)


def predict_dataset(
    model: keras.Model, dataset: tf.data.Dataset, description: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The model's outputs and the labels over a dataset of ``(images, labels)`` batches.

    Uses the compiled ``predict_on_batch``: on a CPU it runs several times
    faster than calling the model eagerly. With ``description``, a progress bar.
    """
    outputs, labels = [], []
    for images, batch_labels in progress(dataset, desc=description, unit="batch", leave=False,
                                         disable=description is None):
        outputs.append(np.asarray(model.predict_on_batch(images)))
        labels.append(batch_labels.numpy())
    return np.concatenate(outputs), np.concatenate(labels)


def save(model: keras.Model, folder: str | Path, card: dict) -> Path:
    """Write ``model.keras`` and ``model_card.json`` into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    (folder / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return folder


def update_card(folder: str | Path, **entries) -> dict:
    """Add or replace top-level entries of a model card (e.g. the final test report), and return it."""
    card = load_card(folder) | entries
    (Path(folder) / CARD_FILE).write_text(json.dumps(card, indent=2) + "\n")
    return card


def load(folder: str | Path) -> tuple[keras.Model, dict]:
    """A trained model and its card, from a folder written by :func:`save`."""
    card = load_card(folder)
    return keras.models.load_model(Path(folder) / MODEL_FILE, compile=False), card

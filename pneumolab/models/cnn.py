"""The CNN the course trains from scratch, and the prediction head every model of the kit ends in.

A model takes float32 images on a 0-255 scale (what :mod:`pneumolab.preprocess.pipeline`
yields) and normalizes inside itself, so the panel and the CLI can feed it the
same input as training. Saving and loading a trained model: :mod:`pneumolab.models.files`.
"""

from __future__ import annotations

import keras
from keras import layers


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

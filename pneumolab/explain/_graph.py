"""Keras graph surgery for Grad-CAM: find the feature-map layer, and replay a forward pass that returns it.

Private to :mod:`pneumolab.explain`: :func:`feature_path` finds the layer
Grad-CAM works on (by default the last 4-D output before global pooling,
inside a nested backbone too) and :func:`forward_pass` builds a function
``images -> (feature map, output)`` without adding nodes to the user's model.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf

Forward = Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]


def _feature_map_rank(layer: keras.Layer) -> int:
    """Rank of a layer's output, 0 for input layers and layers with several outputs."""
    if isinstance(layer, keras.layers.InputLayer) or isinstance(layer.output, list | tuple):
        return 0
    return len(layer.output.shape)


def feature_path(model: keras.Model, name: str | None) -> list[keras.Layer]:
    """Path from ``model`` to the feature-map layer: ``[layer]``, or ``[backbone, layer]`` when nested."""
    if name is None:
        path = _last_feature_map(model)
        if not path:
            raise ValueError("The model has no layer with a 4-D (convolutional) output to explain.")
        return path
    path = _search(model, name)
    if not path:
        candidates = ", ".join(_feature_map_names(model)) or "none"
        raise ValueError(f"No layer named {name!r} in the model; layers with a 4-D output: {candidates}.")
    if _feature_map_rank(path[-1]) != 4:
        raise ValueError(f"Layer {name!r} has no 4-D (convolutional) output; Grad-CAM needs a feature map.")
    return path


def _last_feature_map(model: keras.Model) -> list[keras.Layer]:
    for layer in reversed(model.layers):
        if isinstance(layer, keras.Model) and (inner := _last_feature_map(layer)):
            return [layer, *inner]
        if _feature_map_rank(layer) == 4:
            return [layer]
    return []


def _search(model: keras.Model, name: str) -> list[keras.Layer]:
    for layer in model.layers:
        if layer.name == name:
            return [layer]
    for layer in model.layers:
        if isinstance(layer, keras.Model) and (inner := _search(layer, name)):
            return [layer, *inner]
    return []


def _feature_map_names(model: keras.Model) -> list[str]:
    names = []
    for layer in model.layers:
        if _feature_map_rank(layer) == 4:
            names.append(layer.name)
        if isinstance(layer, keras.Model):
            names.extend(_feature_map_names(layer))
    return names


def forward_pass(model: keras.Model, path: list[keras.Layer], stop: keras.Layer | None = None) -> Forward:
    """A function ``images -> (feature map of path[-1], output of model, or input of its layer ``stop``)``."""
    # A nested layer's tensor belongs to its sub-model's own graph, so it cannot be an
    # output of a keras.Model built on the outer inputs. Instead the forward pass is replayed:
    # the sub-model holding the layer is split into a two-output model
    # inputs -> (feature map, output) built from its own graph, and the outer layers
    # around it are called in order, which needs the outer model to be a plain chain
    # (input, optional gray-to-RGB and preprocessing, backbone, pooling, head: what
    # transfer models are). A top-level layer uses the same two-output split directly,
    # so any graph shape works there. Layers are only ever called on real tensors, never
    # on symbolic ones, so the user's model gains no graph nodes.
    target, rest = path[0], path[1:]
    if not rest and not isinstance(target, keras.Model):
        split = keras.Model(model.inputs, [target.output, stop.input if stop else model.outputs[0]])
        return lambda images: tuple(split(images, training=False))
    layers = _chain(model)
    inner = forward_pass(target, rest) if rest else _both(target)

    def forward(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        features, x = None, images
        for layer in layers:
            if layer is stop:
                break
            if layer is target:
                features, x = inner(x)
            else:
                x = layer(x, training=False)
        return features, x

    return forward


def _both(model: keras.Model) -> Forward:
    """A sub-model whose own output is the feature map."""

    def forward(images: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        outputs = model(images, training=False)
        return outputs, outputs

    return forward


def _chain(model: keras.Model) -> list[keras.Layer]:
    """The layers of ``model`` in order, to be called one after another.

    Refused unless the model has one input and one output and each layer takes one tensor.
    """
    layers = [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    if isinstance(model, keras.Sequential):
        return layers
    if len(model.inputs) != 1 or len(model.outputs) != 1 or any(
        isinstance(layer.input, list | tuple | dict) for layer in layers
    ):
        raise ValueError(
            f"Model {model.name!r} is not a plain chain of layers, so a layer inside its sub-model cannot be "
            "reached; pass layer= a top-level layer with a 4-D output."
        )
    return layers

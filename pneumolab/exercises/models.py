"""Lessons 03-04 checkers, models: class weights, shapes and parameter counts, a small CNN, a frozen backbone.

TensorFlow and Keras are imported inside the checkers, so the other lessons' checkers start without them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pneumolab.data import manifest as data
from pneumolab.exercises._core import _checker, _count, _describe, _entries, _Hint, _matches

if TYPE_CHECKING:
    import keras
    from numpy.typing import ArrayLike


@_checker("class weights", "a dict {0: weight of NORMAL, 1: weight of PNEUMONIA}")
def class_weights(answer: dict[int, float], labels: ArrayLike) -> str:
    """Weights that make each class count as much as the other in the loss (``training.class_weights``)."""
    from pneumolab.training.loop import class_weights as reference_weights

    labels = np.asarray(labels)
    reference = reference_weights(labels)
    names = {index: name for index, name in enumerate(data.TASKS["binary"])}
    if isinstance(answer, list | tuple | np.ndarray | pd.Series):
        raise _Hint("Keras's class_weight wants a dict from class index to weight, {0: ..., 1: ...}; "
                    f"you gave {_describe(answer)}.")
    if isinstance(answer, Mapping) and set(map(str, answer)) & set(names.values()):
        raise _Hint("Use the class indices 0 (NORMAL) and 1 (PNEUMONIA) as keys, not the names: "
                    "they are what the labels hold.")
    given = _entries(answer, tuple(reference), "the weights")
    weights = np.array([given[c] for c in reference])
    expected = np.array(list(reference.values()))
    counts = np.bincount(labels, minlength=len(reference))
    if all(map(_matches, weights, expected)):
        return (", ".join(f"{names[c]} images weigh {w:.2f}" for c, w in reference.items())
                + ": each class now counts as much as the other in the loss.")
    if all(map(_matches, weights, expected[::-1])):
        raise _Hint("The weights are swapped: the rarer class (fewer images) needs the larger weight.")
    if all(map(_matches, weights, counts / len(labels))):
        raise _Hint("Those are the classes' shares of the images; a weight should grow as its class "
                    "gets rarer.")
    if np.allclose(weights, counts):
        raise _Hint("Those are the counts of images; a weight should grow as its class gets rarer.")
    if (weights > 0).all() and _matches(weights[0] / weights[1], expected[0] / expected[1]):
        raise _Hint("The ratio between the weights is right, but not their size: averaged over all "
                    "training images a weight should be 1, so the loss keeps its usual scale.")
    raise _Hint("Not quite: weight × number of images should come out the same for both classes, "
                "and the average weight over all training images should be 1.")


@_checker("layer output shape", "a tuple (height, width, channels) of whole numbers")
def layer_output_shape(answer: tuple[int, ...], model: keras.Model, layer: str) -> str:
    """The output shape of one layer of ``model`` for one image (without the batch axis)."""
    reference = tuple(model.get_layer(layer).output.shape[1:])
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        raise _Hint(f"Give the shape as a tuple of numbers, like (10, 10, 3); you gave {_describe(answer)}.")
    items = list(answer)
    if len(items) == len(reference) + 1 and (items[0] is None or items[0] == 1):
        raise _Hint("Leave out the batch axis (the leading None): the shape for one image is asked.")
    shape = tuple(_count(item, "Each side of the shape") for item in items)
    if shape == reference:
        return f"'{layer}' turns one image into a {' x '.join(map(str, reference))} block of features."
    if len(shape) != len(reference):
        raise _Hint(f"The output of '{layer}' has {len(reference)} axes (height, width, channels); you gave "
                    f"{len(shape)}.")
    if shape == (reference[-1], *reference[:-1]):
        raise _Hint("Keras puts channels last: (height, width, channels).")
    if shape[:-1] == reference[:-1]:
        raise _Hint("Height and width are right; the channels are not: a convolution outputs one feature "
                    "map per filter.")
    if shape[:-1] > reference[:-1]:
        raise _Hint("Height and width are too large: count every halving on the way, the stride-2 stem "
                    "and each max-pooling.")
    raise _Hint("Height and width are too small: 'same' padding keeps the size; only strides and "
                "pooling halve it.")


def _parameters(weights: list) -> int:
    return int(sum(np.prod(weight.shape) for weight in weights))


@_checker("parameter count", "a whole number of parameters")
def parameter_count(
    answer: int, model: keras.Model, layer: str | None = None, trainable_only: bool = False
) -> str:
    """Parameters of one layer of ``model``, or of all of it (``trainable_only``: those training updates)."""
    target = model.get_layer(layer) if layer else model
    weights = target.trainable_weights if trainable_only else target.weights
    reference = _parameters(weights)
    value = _count(answer, "The number of parameters")
    what = f"'{layer}'" if layer else "the model"
    if value == reference:
        kind = "trainable parameters" if trainable_only else "parameters"
        return f"{what} has {reference:,} {kind}."
    kernels = [weight for weight in weights if len(weight.shape) > 1]
    mistakes = {_parameters(kernels): "You left out the biases: one per filter or unit."}
    if layer and len(kernels) == len(weights) == 1:
        shape = tuple(kernels[0].shape)
        mistakes[reference + shape[-1]] = ("This layer has no bias (use_bias=False): the batch normalization "
                                           "after it supplies the shift.")
        if len(shape) == 4:
            mistakes[shape[0] * shape[1] * shape[3]] = ("Each filter looks at every input channel: the count "
                                                        "grows with the channels coming in too.")
            mistakes[int(np.prod(shape[:3]))] = "That is the size of one filter; the layer has several."
    if trainable_only:
        mistakes[_parameters(target.weights)] = (
            "That is every parameter; only the trainable ones change in training (frozen layers and "
            "batch-norm statistics stay fixed).")
    else:
        mistakes[_parameters(target.trainable_weights)] = (
            "That counts only trainable parameters; the question counts all, including batch-norm's "
            "moving averages and frozen layers.")
    raise _Hint(mistakes.get(value, f"Not quite: add up the weights of {what}, kernels and biases."))


def _all_layers(model: keras.Model) -> list:
    """Every layer of ``model``, inside nested models too."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def _binary_output(model: keras.Model, image_size: int, channels: int) -> None:
    """Hints unless ``model`` is a Keras model that gives one probability of pneumonia per image."""
    import keras

    if isinstance(model, type) or (callable(model) and not isinstance(model, keras.Layer)):
        raise _Hint("Pass the model itself: build it first (call your function or the class).")
    if not isinstance(model, keras.Model):
        raise _Hint(f"Pass a Keras model (keras.Sequential or keras.Model); you gave {_describe(model)}.")
    expected_input = (None, image_size, image_size, channels)
    try:
        model.input_shape  # noqa: B018 - a model without a known input has none to read
    except (AttributeError, ValueError):
        raise _Hint("Your model does not know its input yet: start it with keras.Input(shape=...).") from None
    if tuple(model.input_shape) != expected_input:
        gray = " The kit's X-rays are gray: 1 channel." if model.input_shape[-1] != channels else ""
        raise _Hint(f"Your model takes input of shape {tuple(model.input_shape)}; the kit's pipeline gives "
                    f"{expected_input}.{gray}")
    output = tuple(model.output_shape)
    if len(output) > 2:
        raise _Hint(f"Your model outputs shape {output}, still an image of features: pool them "
                    "(GlobalAveragePooling2D) before the last Dense layer.")
    if output != (None, 1):
        raise _Hint(f"Your model gives {output[-1]} numbers per image; the kit's loss wants one: the "
                    "probability of pneumonia.")
    activation = getattr(getattr(model.layers[-1], "activation", None), "__name__", None)
    if activation != "sigmoid":
        raise _Hint(f"The last layer's activation is {activation!r}: one unit needs 'sigmoid' to give a "
                    "probability between 0 and 1.")


@_checker("small CNN", "a Keras model")
def small_cnn(
    model: keras.Model, image_size: int = 128, channels: int = 1, max_parameters: int = 50_000
) -> str:
    """A binary CNN for the kit's images: a rescaling layer, two or more convolutions, one sigmoid unit."""
    from keras import layers

    _binary_output(model, image_size, channels)
    found = _all_layers(model)
    convolutions = [layer for layer in found if isinstance(layer, layers.Conv2D)]
    if len(convolutions) < 2:
        raise _Hint(f"Your model has {len(convolutions)} convolution layer(s); the exercise asks for "
                    "at least two.")
    if not any(isinstance(layer, layers.Rescaling | layers.Normalization) for layer in found):
        raise _Hint("The pipeline feeds values of 0-255: scale them inside the model (layers.Rescaling), "
                    "so the panel can feed raw images too.")
    total = model.count_params()
    if total > max_parameters:
        biggest = max(model.layers, key=lambda layer: layer.count_params())
        raise _Hint(f"{total:,} parameters, more than {max_parameters:,}: {biggest.count_params():,} sit in "
                    f"'{biggest.name}'. Flattening a feature map multiplies the weights of the next Dense "
                    "layer; global average pooling does not.")
    blank = np.zeros((2, image_size, image_size, channels), np.float32)
    probabilities = np.asarray(model(blank, training=False))
    if probabilities.shape != (2, 1) or not np.isfinite(probabilities).all():
        raise _Hint(f"On a batch of two blank images your model gave {probabilities.shape}, "
                    "not one probability each.")
    return (f"{len(convolutions)} convolution layers, {total:,} parameters, one probability out: "
            "ready for training.fit.")


@_checker("frozen backbone with a new head", "a Keras model built on the backbone")
def frozen_transfer_model(model: keras.Model, backbone: keras.Model) -> str:
    """A gray-image model on the frozen ``backbone`` whose only trainable part is one new sigmoid unit."""
    _binary_output(model, backbone.input_shape[1], 1)
    if not {id(weight) for weight in backbone.weights} <= {id(weight) for weight in model.weights}:
        raise _Hint("Your model does not contain the pretrained backbone you were given: call it on the "
                    "model's (RGB) input, e.g. backbone(rgb).")
    if backbone.trainable_weights:
        changing = _parameters(backbone.trainable_weights)
        raise _Hint(f"The backbone is still trainable ({changing:,} parameters would change): freeze it "
                    "(backbone.trainable = False) so only the new head learns.")
    trainable = _parameters(model.trainable_weights)
    features = backbone.output_shape[-1]
    if trainable == 0:
        raise _Hint("Nothing in your model can learn: the new head is frozen too.")
    if trainable != features + 1:
        raise _Hint(f"{trainable:,} trainable parameters; one sigmoid unit on the backbone's {features} "
                    "pooled features needs fewer. Pool the feature map (GlobalAveragePooling2D) rather than "
                    "flattening it, and add only Dropout and the Dense unit.")
    return (f"only the new head learns ({trainable:,} parameters); the "
            f"{_parameters(backbone.weights):,} of the ImageNet backbone stay as they are.")

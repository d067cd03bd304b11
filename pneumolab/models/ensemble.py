"""Several trained models as one: calibrated members, one averaged map, one calibrated output.

Every model of the kit ends in global average pooling and one linear layer, so its
logit is the mean over positions of a *logit map*: the last feature map times the
layer's weights, plus its bias (the class activation map). :func:`build_ensemble`
makes one Keras model that

1. gives each member the image at the member's own input size (a resizing layer);
2. computes the member's logit map divided by the member's temperature (fitted on
   validation, so that no member outvotes the others by being louder);
3. resizes the maps to one grid and averages them: the ensemble's map
   (:data:`MAP_LAYER`);
4. pools that map and applies the ensemble's own calibration, one weight and one
   bias fitted on validation, and a sigmoid.

So the ensemble is itself "a feature map, global average pooling, one linear layer":
the panel, ``pneumolab predict``, Grad-CAM and the LiteRT export use it like any
single model, and its Grad-CAM is the mean of its members' calibrated maps.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
from keras import layers

from pneumolab.models.card import InputSpec

#: The layer holding the ensemble's map (the mean of the members' calibrated logit maps).
MAP_LAYER = "ensemble_map"
#: Side of the grid the members' maps are averaged on (Lite0 at 224 px gives 7x7, the scratch CNN 8x8).
GRID = 14


def cam_head(model: keras.Model) -> tuple[keras.Layer, keras.Layer] | str:
    """``(pooling layer, final Dense)`` when the model ends in global average pooling, dropout and a
    linear layer (its logit is then the mean of a logit map); otherwise the reason it does not."""
    found = model.layers
    pools = [i for i, layer in enumerate(found) if isinstance(layer, layers.GlobalAveragePooling2D)]
    if not pools:
        return "the model has no global average pooling before its output"
    after: list = []
    for layer in found[pools[-1] + 1:]:
        after += layer.layers if isinstance(layer, keras.Sequential) else [layer]
    if not after or not isinstance(after[-1], layers.Dense) or not all(
        isinstance(layer, layers.Dropout) for layer in after[:-1]
    ):
        return "the layers after global pooling are not dropout and one linear layer"
    return found[pools[-1]], after[-1]


def logit_map(model: keras.Model, temperature: float = 1.0, name: str | None = None) -> keras.Model:
    """The model's pneumonia logit map divided by ``temperature``: its mean over positions is the
    model's logit over ``temperature``. Shares the model's layers (and weights)."""
    head = cam_head(model)
    if isinstance(head, str):
        raise ValueError(f"{model.name} cannot join an ensemble: {head}.")
    pool, dense = head
    kernel, bias = (np.asarray(weight) for weight in dense.get_weights())
    if kernel.shape[-1] != 1:
        raise ValueError(f"{model.name} has {kernel.shape[-1]} outputs; an ensemble joins yes/no models.")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    name = name or model.name
    conv = layers.Conv2D(1, 1, name=f"{name}_logit_map")
    features = pool.input
    mapped = conv(features)
    conv.set_weights([kernel.reshape(1, 1, -1, 1) / temperature, bias / temperature])
    return keras.Model(model.inputs, mapped, name=f"{name}_map")


def build_ensemble(
    members: Sequence[keras.Model], temperatures: Sequence[float], spec: InputSpec, *,
    names: Sequence[str] | None = None, weight: float = 1.0, bias: float = 0.0, name: str = "ensemble",
) -> keras.Model:
    """One model taking ``spec``'s images: the mean of the members' calibrated logit maps, pooled, then
    ``sigmoid(weight * mean + bias)`` (the ensemble's calibration; identity by default)."""
    if not members or len(members) != len(temperatures):
        raise ValueError("An ensemble needs at least one member and one temperature per member.")
    inputs = keras.Input((spec.image_size, spec.image_size, spec.channels), name="image")
    maps = [gridded for _, gridded in _member_maps(inputs, members, temperatures, names)]
    combine = layers.Average(name=MAP_LAYER) if len(maps) > 1 else layers.Identity(name=MAP_LAYER)
    combined = combine(maps if len(maps) > 1 else maps[0])
    pooled = layers.GlobalAveragePooling2D(name="global_pool")(combined)
    calibration = layers.Dense(1, activation="sigmoid", name="calibration")
    output = calibration(pooled)
    calibration.set_weights([np.array([[weight]], np.float32), np.array([bias], np.float32)])
    return keras.Model(inputs, output, name=name)


def member_logits(members: Sequence[keras.Model], spec: InputSpec, names: Sequence[str] | None = None
                  ) -> keras.Model:
    """``spec``'s images in; per member its exact logit and the mean of its map on the ensemble's grid out,
    ``(N, 2 * members)``: ``[logit_1, gridded_1, logit_2, gridded_2, ...]``.

    Both are linear in the member's logit map, so one pass gives everything calibration needs: a
    member's temperature ``T_i`` is fitted on its logits, and the ensemble's pooled logit is exactly
    ``mean_i(gridded_i / T_i)``.
    """
    inputs = keras.Input((spec.image_size, spec.image_size, spec.channels), name="image")
    pool = layers.GlobalAveragePooling2D()
    outputs = []
    for native, gridded in _member_maps(inputs, members, [1.0] * len(members), names):
        outputs += [pool(native), pool(gridded)]
    return keras.Model(inputs, layers.Concatenate()(outputs), name="member_logits")


def _member_maps(inputs: keras.KerasTensor, members: Sequence[keras.Model], temperatures: Sequence[float],
                 names: Sequence[str] | None) -> list[tuple[keras.KerasTensor, keras.KerasTensor]]:
    """Each member's calibrated logit map of ``inputs``, at its own size and resized to the grid."""
    channels_in = inputs.shape[-1]
    found = []
    labels = names or [member.name for member in members]
    for member, temperature, label in zip(members, temperatures, labels, strict=True):
        height, width, channels = member.inputs[0].shape[1:]
        if channels != channels_in:
            raise ValueError(f"Member {label} takes {channels}-channel images, the ensemble {channels_in}.")
        x = inputs
        if (height, width) != tuple(inputs.shape[1:3]):
            x = layers.Resizing(height, width, name=f"{label}_input")(x)
        native = logit_map(member, temperature, label)(x)
        found.append((native, layers.Resizing(GRID, GRID, name=f"{label}_to_grid")(native)))
    return found

"""What a Keras model is made of, layer by layer: to compare two builds and to see where the time goes."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from keras import layers


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

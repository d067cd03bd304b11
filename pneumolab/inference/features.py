"""Frozen ImageNet features: what a pretrained backbone sees in each X-ray, as one vector per image.

A linear probe (:func:`pneumolab.training.strategies.train_probe`) learns pneumonia
from these vectors, and lesson 08's domain classifier learns from them which split
an image came from. Computing them is the slow part (one forward pass of the
backbone per image); everything after it takes seconds.
"""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
from keras import layers

from pneumolab.inference.batches import predict_dataset
from pneumolab.models import backbones
from pneumolab.models.card import InputSpec
from pneumolab.models.imagenet import VARIANTS
from pneumolab.models.transfer import to_rgb_input
from pneumolab.preprocess.pipeline import Skipped, dataset_as

#: The kit's images as the members of the reference model take them: 224 px gray, stretched.
DEFAULT_INPUT = InputSpec(image_size=224, channels=1)


def encoder(backbone: str = backbones.OFFLINE_BACKBONE, spec: InputSpec = DEFAULT_INPUT) -> keras.Model:
    """Images as the kit feeds them (``spec``) in, the backbone's global-average-pooled features out.

    An EfficientNet-Lite sees the image at the side it was trained at (260 px for
    Lite2): the model resizes its input itself, so every backbone takes the same images.
    """
    inputs, rgb = to_rgb_input(spec.image_size, spec.channels)
    side = VARIANTS[backbone].size if backbone in VARIANTS else spec.image_size
    if side != spec.image_size:
        rgb = layers.Resizing(side, side, name="to_backbone_size")(rgb)
    extractor = backbones.backbone(backbone, (side, side, 3), weights="imagenet")
    pooled = layers.GlobalAveragePooling2D(name="global_pool")(extractor(rgb))
    return keras.Model(inputs, pooled, name=f"{backbone}_features")


def pooled_features(
    rows: pd.DataFrame, backbone: str = backbones.OFFLINE_BACKBONE, spec: InputSpec = DEFAULT_INPUT, *,
    batch_size: int = 32, skipped: Skipped | None = None, description: str | None = "features",
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled features ``(N, channels)`` of the manifest ``rows`` and their labels ``(N,)``, in row order.

    Files that cannot be read are left out and recorded in ``skipped``.
    """
    dataset = dataset_as(spec, rows, batch_size=batch_size, skipped=skipped)
    labels, features = predict_dataset(encoder(backbone, spec), dataset, description)
    return features, labels

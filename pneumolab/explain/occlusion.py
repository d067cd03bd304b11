"""Occlusion sensitivity: a model-agnostic second opinion on where the model looks.

Cover a patch of the image, see how much the class score drops, and repeat
over the whole image (Zeiler and Fergus 2014). Slower than Grad-CAM, one
forward pass per patch position, but it needs no gradients and no feature map,
so when the two agree the map is more than an artefact of one method.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import tensorflow as tf

from pneumolab.explain.gradcam import explainer_for


def occlusion_map(
    model: keras.Model,
    image: np.ndarray | tf.Tensor,
    *,
    patch: int | None = None,
    stride: int | None = None,
    baseline: float | None = None,
    class_index: int | None = None,
    batch_size: int = 64,
) -> np.ndarray:
    """Occlusion sensitivity in [0, 1] for one ``(H, W, C)`` image: a model-agnostic second opinion.

    Each ``patch``-sized square (default an eighth of the shorter side, moved
    by ``stride``, default half a patch) is filled with ``baseline`` (default
    the image's mean grey) and the drop of the class score is spread over the
    pixels it covered. Costs one forward pass per position, in batches.
    """
    image = np.asarray(image, np.float32)
    if image.ndim != 3:
        raise ValueError(f"Expected one image of shape (H, W, C), got {image.shape}.")
    height, width = image.shape[:2]
    patch = min(patch or max(1, min(height, width) // 8), height, width)
    stride = stride or max(1, patch // 2)
    fill = float(image.mean()) if baseline is None else baseline
    corners = list(itertools.product(_starts(height, patch, stride), _starts(width, patch, stride)))

    explainer = explainer_for(model)
    reference = explainer.scores(tf.constant(image[np.newaxis]))
    chosen = explainer.class_indices(class_index, 1)
    target = int(tf.where(chosen < 0, explainer.default_classes(reference), chosen)[0])
    reference = reference.numpy()[0]
    drops = []
    for start in range(0, len(corners), batch_size):
        chunk = corners[start : start + batch_size]
        occluded = np.repeat(image[np.newaxis], len(chunk), axis=0)
        for copy, (y, x) in zip(occluded, chunk, strict=True):
            copy[y : y + patch, x : x + patch] = fill
        drops.append(reference[target] - explainer.scores(tf.constant(occluded)).numpy()[:, target])

    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.float64)
    for (y, x), drop in zip(corners, np.concatenate(drops), strict=True):
        total[y : y + patch, x : x + patch] += drop
        count[y : y + patch, x : x + patch] += 1
    heat = np.maximum(total / np.maximum(count, 1), 0)
    peak = heat.max()
    return (heat / peak if peak > 0 else heat).astype(np.float32)


def _starts(length: int, patch: int, stride: int) -> list[int]:
    """Patch positions along one side, the last one flush with the edge."""
    starts = list(range(0, length - patch + 1, stride))
    if starts[-1] != length - patch:
        starts.append(length - patch)
    return starts

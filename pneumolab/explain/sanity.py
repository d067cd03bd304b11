"""Is a saliency map about the model at all? The model-randomization check (Adebayo et al. 2018).

:func:`randomized_copy` re-initializes every weight of a model;
:func:`randomization_check` compares the Grad-CAM maps of the trained and the
randomized model by rank (:func:`map_similarity`). Maps that survive the loss
of everything learned show the image, not the model.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from scipy import stats

from pneumolab.explain.gradcam import grad_cam


def randomized_copy(model: keras.Model, seed: int) -> keras.Model:
    """The same architecture with every weight re-initialized (reproducibly from ``seed``).

    The model-randomization test of Adebayo et al. (2018): a saliency method
    worth trusting must give clearly different maps for this copy.
    """
    seeds = itertools.count(seed)

    def reseeded(layer: keras.Layer) -> keras.Layer:
        config = layer.get_config()
        for key, value in config.items():
            if key.endswith("_initializer") and isinstance(value, dict) and "seed" in value.get("config", {}):
                value["config"]["seed"] = next(seeds)
        return layer.__class__.from_config(config)

    return keras.models.clone_model(model, clone_function=reseeded, recursive=True)


def map_similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman rank correlation of two maps of the same shape; 0.0 when either is constant (no ranking)."""
    a, b = np.ravel(a), np.ravel(b)
    if a.shape != b.shape:
        raise ValueError(f"Maps differ in size: {np.shape(a)} and {np.shape(b)}.")
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return float(stats.spearmanr(a, b).statistic)


def randomization_check(
    model: keras.Model, images: np.ndarray, *, seeds: Sequence[int] = (0, 1, 2), layer: str | None = None
) -> pd.DataFrame:
    """The model-randomization test on a batch: how alike are the trained and the randomized model's maps?

    One row per image and randomized copy (one per seed): ``image, seed,
    similarity`` (:func:`map_similarity` of the two Grad-CAM maps) and
    ``blank`` (the randomized map is all zero: no positive evidence anywhere,
    so nothing to rank and a similarity of 0 by convention). A method that
    explains the model gives similarities near 0; near 1 it shows the image,
    not what was learned.
    """
    trained = grad_cam(model, images, layer=layer)
    rows = []
    for seed in seeds:
        with _quiet_tracing():
            randomized = grad_cam(randomized_copy(model, seed), images, layer=layer)
        rows.extend(dict(image=i, seed=seed, similarity=map_similarity(a, b), blank=not b.any())
                    for i, (a, b) in enumerate(zip(trained, randomized, strict=True)))
    return pd.DataFrame(rows)


@contextlib.contextmanager
def _quiet_tracing() -> Iterator[None]:
    """Silence TensorFlow's retracing warning: every new model compiles new functions, as expected here."""
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)

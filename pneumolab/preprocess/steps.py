"""Preprocessing steps by name, for comparing them: the examples, the steps, their chain and their costs.

Lesson 02 puts the transforms of :mod:`pneumolab.preprocess.transforms` side
by side. Images are single grey films ``(H, W, 1)`` on the working scale
(float32, 0-255), read the way the pipeline reads them, and each step is the
transform training uses, by name, so what a student sees is exactly what
training would do. The pictures are :mod:`pneumolab.viz.preprocess`'s; the
live explorer is :mod:`pneumolab.widgets.preprocessing`.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from pneumolab import config
from pneumolab.data import manifest as data
from pneumolab.preprocess import transforms as preprocess
from pneumolab.preprocess.pipeline import make_dataset

Step = Callable[[np.ndarray], np.ndarray | tf.Tensor]

#: Final scalings, applied last as a model does inside itself; after one, values leave the 0-255 scale.
NORMALIZATIONS: dict[str, Step] = {
    "none (0-255)": lambda image: image,
    "scale to 0-1": preprocess.scale_0_1,
    "standardize per image": preprocess.standardize_per_image,
    "EfficientNet-Lite0: (x - 127) / 128": preprocess.backbone_normalize,
}


def load_examples(
    manifest: pd.DataFrame, per_class: int = 1, split: str = "train", seed: int = config.SEED
) -> dict[str, np.ndarray]:
    """A few images of each finest class, decoded as the pipeline decodes them, on the working scale."""
    rows = data.usable(manifest)
    rows = data.stratified_subset(rows.loc[rows["split"] == split], per_class=per_class, seed=seed)
    order = {name: position for position, name in enumerate(data.TASKS["cause"])}
    rows = rows.assign(cls=data.class_of(rows)).sort_values("cls", key=lambda c: c.map(order))
    return {
        f"{row.cls}: {Path(row.file).stem}": preprocess.to_0_255(
            preprocess.decode(tf.io.read_file(row.path), channels=1)
        ).numpy()
        for row in rows.itertuples()
    }


def image_steps(size: int = 128, clip_limit: float = 0.01, radius: int = 2) -> dict[str, Step]:
    """Steps that keep an image an image (0-255), so they can follow one another in any order."""
    augment = preprocess.augmentation()
    return {
        "none": lambda image: image,
        "squash": lambda image: preprocess.resize(image, size, "squash"),
        "pad": lambda image: preprocess.resize(image, size, "pad"),
        "histogram equalization": preprocess.equalize_histogram,
        "CLAHE": functools.partial(preprocess.clahe, clip_limit=clip_limit),
        "close then open": functools.partial(preprocess.close_open, radius=radius),
        "augmentation (random)": lambda image: augment(image[np.newaxis])[0],
    }


def apply_chain(
    image: np.ndarray,
    chain: Sequence[str],
    normalization: str = "none (0-255)",
    steps: Mapping[str, Step] | None = None,
) -> np.ndarray:
    """Run the named steps (default: :func:`image_steps`) in order, then one of :data:`NORMALIZATIONS`."""
    steps = image_steps() if steps is None else steps
    for name in chain:
        image = np.asarray(steps[name](image))
    return np.asarray(NORMALIZATIONS[normalization](image))


def time_steps(image: np.ndarray, steps: Mapping[str, Step], repeat: int = 3) -> pd.DataFrame:
    """Milliseconds per image for each step on ``image`` (best of ``repeat`` runs, after a warm-up)."""
    rows = {}
    for name, step in steps.items():
        np.asarray(step(image))
        timings = []
        for _ in range(repeat):
            start = time.perf_counter()
            np.asarray(step(image))
            timings.append(time.perf_counter() - start)
        rows[name] = 1000 * min(timings)
    return pd.DataFrame({"ms per image": rows}).round(2)


def epoch_throughput(
    frame: pd.DataFrame,
    variants: Mapping[str, Callable[[tf.Tensor], tf.Tensor] | None],
    image_size: int = 128,
) -> pd.DataFrame:
    """Images per second of one epoch over ``frame`` from a filled cache, with each per-batch transform.

    What the transform adds to every epoch of training: decoding is cached
    away, so this is the cost of doing it on the fly rather than once.
    """
    cached = make_dataset(frame, image_size=image_size, cache=True)
    for _ in cached:  # fill the cache
        pass
    rows = {}
    for name, transform in variants.items():
        dataset = cached if transform is None else cached.map(lambda x, y, f=transform: (f(x), y))
        start = time.perf_counter()
        count = sum(int(images.shape[0]) for images, _ in dataset)
        rows[name] = count / (time.perf_counter() - start)
    return pd.DataFrame({"images per second": rows}).round(0)

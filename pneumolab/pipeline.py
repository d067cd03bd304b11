"""``tf.data`` input pipelines built from a manifest.

Files are read and prepared in parallel with the same functions the panel
uses (:mod:`pneumolab.preprocess`). A file that still fails to decode is
skipped with a warning, so a bad image never stops an epoch halfway.
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import tensorflow as tf

from pneumolab import config
from pneumolab.data import targets, usable
from pneumolab.preprocess import Fit, decode, to_model_input

AUTOTUNE = tf.data.AUTOTUNE


def make_dataset(
    frame: pd.DataFrame,
    *,
    task: str = "binary",
    image_size: int = 128,
    channels: int = 1,
    fit: Fit = "squash",
    batch_size: int = 32,
    shuffle: bool = False,
    augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    cache: bool | str = False,
    seed: int = config.SEED,
) -> tf.data.Dataset:
    """Batches of ``(images, labels)`` from the usable rows of ``frame``.

    ``images`` are float32 ``(batch, image_size, image_size, channels)`` on a
    0-255 scale. ``cache=True`` keeps prepared images in memory after the
    first pass (``cache="file"`` caches to that path): later epochs skip
    decoding. ``augment`` is called on each training batch, e.g. a
    ``keras.Sequential`` of random layers; it runs after the cache so every
    epoch sees new variations. Shuffling is reseeded each epoch but
    reproducible for a given ``seed``.
    """
    rows = usable(frame)
    if rows.empty:
        raise ValueError("No usable images in this selection of the manifest.")
    paths = tf.constant(rows["path"].to_numpy(dtype=str))
    labels = tf.constant(targets(rows, task))

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        image = decode(tf.io.read_file(path), channels=channels)
        return to_model_input(image, image_size, channels, fit), label

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle and not cache:
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.ignore_errors(log_warning=True)
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))
        if shuffle:
            dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None:
        dataset = dataset.map(lambda x, y: (augment(x), y), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)

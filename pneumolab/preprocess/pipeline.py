"""``tf.data`` input pipelines built from a manifest.

Files are read with the kit's one reader (:func:`pneumolab.data.reader.load_image`,
the one the panel and ``pneumolab predict`` use) and prepared with
:func:`pneumolab.preprocess.transforms.to_model_input`, in parallel. A file that can no
longer be read (changed, damaged or deleted after the data check) is skipped,
reported once by name, and recorded in a :class:`Skipped` so training can
count the images it really used and scoring can name what it left out.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import tensorflow as tf

from pneumolab import config
from pneumolab.data.image import ImageError
from pneumolab.data.manifest import DataWarning, targets, usable
from pneumolab.data.reader import load_image
from pneumolab.models.card import Fit, InputSpec, ModelCard
from pneumolab.preprocess.transforms import to_model_input

AUTOTUNE = tf.data.AUTOTUNE


@dataclass
class Skipped:
    """Files a pipeline met but could not read (path -> reason), each reported once as a warning."""

    reasons: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, path: str, reason: str) -> None:
        """Record a file that could not be read (pipelines call this from their worker threads)."""
        with self._lock:
            if path in self.reasons:
                return
            self.reasons[path] = reason
        warnings.warn(DataWarning(f"{path} could not be read and is skipped: {reason}"), stacklevel=2)

    def among(self, paths: pd.Series) -> pd.Series:
        """Which of ``paths`` were skipped (a boolean Series aligned with ``paths``)."""
        return paths.isin(list(self.reasons))


def read_problem(error: Exception) -> str:
    """Why a file could not be read, in a line: the reader's message, or what the file system said."""
    if isinstance(error, FileNotFoundError):
        return "the file is gone (deleted or moved after the data check)"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error)


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
    skipped: Skipped | None = None,
) -> tf.data.Dataset:
    """Batches of ``(images, labels)`` from the usable rows of ``frame``.

    ``images`` are float32 ``(batch, image_size, image_size, channels)`` on a
    0-255 scale. ``cache=True`` keeps prepared images in memory after the
    first pass (``cache="file"`` caches to that path): later epochs skip
    decoding. ``augment`` is called on each training batch, e.g. a
    ``keras.Sequential`` of random layers; it runs after the cache so every
    epoch sees new variations. Shuffling is reseeded each epoch but
    reproducible for a given ``seed``. Files that cannot be read are left out
    and recorded in ``skipped`` (give one to learn which).
    """
    rows = usable(frame)
    if rows.empty:
        raise ValueError("No usable images in this selection of the manifest.")
    skipped = Skipped() if skipped is None else skipped
    paths = tf.constant(rows["path"].to_numpy(dtype=str))
    labels = tf.constant(targets(rows, task))

    def read(path: bytes) -> tuple[np.ndarray, bool]:
        name = path.decode()
        try:
            return load_image(Path(name).read_bytes(), name, channels).pixels, True
        except (ImageError, OSError) as error:
            skipped.add(name, read_problem(error))
            return np.zeros((1, 1, channels), np.uint8), False

    def load(path: tf.Tensor, label: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        image, ok = tf.numpy_function(read, [path], (tf.uint8, tf.bool), stateful=True)  # records skips
        image.set_shape((None, None, channels))
        return to_model_input(image, image_size, channels, fit), label, ok

    dataset = tf.data.Dataset.from_tensor_slices((paths, labels))
    if shuffle and not cache:
        dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
    dataset = dataset.filter(_was_read).map(_without_flag)
    if cache:
        dataset = dataset.cache("" if cache is True else str(cache))
        if shuffle:
            dataset = dataset.shuffle(len(rows), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augment is not None:
        dataset = dataset.map(lambda x, y: (augment(x), y), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def dataset_for(card: ModelCard, rows: pd.DataFrame, **options) -> tf.data.Dataset:
    """Batches of ``(images, labels)`` from ``rows``, prepared exactly as the model of ``card`` takes
    them: its task, image size, channels and fit.

    The one way from a model card to the input pipeline of a split: scoring and
    the explanation figures use it, so they cannot drift apart (single
    uploads are prepared from the same :class:`~pneumolab.models.card.InputSpec`
    by :func:`pneumolab.inference.predict.predict_images`). ``options`` go to
    :func:`make_dataset` (e.g. ``skipped``, ``batch_size``).
    """
    return dataset_as(card.input, rows, task=card.task, **options)


def dataset_as(spec: InputSpec, rows: pd.DataFrame, **options) -> tf.data.Dataset:
    """Batches of ``(images, labels)`` from ``rows`` at the size, channels and fit of ``spec``, for a
    model that has no card yet (an encoder, an ensemble being built); ``options`` go to
    :func:`make_dataset`."""
    return make_dataset(rows, image_size=spec.image_size, channels=spec.channels, fit=spec.fit, **options)


def _was_read(image: tf.Tensor, label: tf.Tensor, ok: tf.Tensor) -> tf.Tensor:
    return ok


def _without_flag(image: tf.Tensor, label: tf.Tensor, ok: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    return image, label

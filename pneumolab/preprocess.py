"""Image transforms shared by training, evaluation and the panel.

One code path: the pipeline, ``pneumolab predict`` and the panel all call
:func:`decode` then :func:`to_model_input`, so a model always sees its input
prepared exactly as in training. Inputs may be any size, 1, 2, 3 or 4
channels, uint8, uint16, bool or float (floats are taken to be on a 0-1
scale), a single image (2-D or 3-D) or a batch (4-D). Outputs are float32 on a
0-255 scale; each model normalizes inside itself.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import tensorflow as tf

Fit = Literal["squash", "pad"]


def decode(contents: bytes | tf.Tensor, channels: int = 1) -> tf.Tensor:
    """Decode JPEG or PNG bytes (8- or 16-bit, gray, RGB or RGBA) to uint8 ``(H, W, channels)``."""
    return tf.io.decode_image(contents, channels=channels, dtype=tf.uint8, expand_animations=False)


def to_0_255(image: np.ndarray | tf.Tensor) -> tf.Tensor:
    """Float32 on a 0-255 scale, whatever the input dtype."""
    image = tf.convert_to_tensor(image)
    if image.dtype == tf.bool:
        return tf.cast(image, tf.float32) * 255.0
    if image.dtype.is_integer:
        return tf.cast(image, tf.float32) * (255.0 / image.dtype.max)
    return tf.clip_by_value(tf.cast(image, tf.float32), 0.0, 1.0) * 255.0


def with_channels(image: tf.Tensor, channels: int) -> tf.Tensor:
    """Convert a 2-D, 3-D or 4-D image to ``channels`` (1 = gray, 3 = RGB); alpha is dropped."""
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., tf.newaxis]
    if image.shape.rank not in (3, 4):
        raise ValueError(f"Expected an image of rank 2, 3 or 4, got shape {image.shape}.")
    have = image.shape[-1]
    if have in (2, 4):  # gray + alpha, RGB + alpha
        image = image[..., : have - 1]
        have -= 1
    if have == channels:
        return image
    if have == 1:
        return tf.repeat(image, 3, axis=-1)
    if have == 3:
        return tf.cast(tf.image.rgb_to_grayscale(tf.cast(image, tf.float32)), image.dtype)
    raise ValueError(f"Cannot read an image with {have} channels.")


def resize(image: tf.Tensor, size: int | tuple[int, int], fit: Fit = "squash") -> tf.Tensor:
    """Resize to ``size``: ``squash`` stretches to fill, ``pad`` keeps the aspect ratio with black bars.

    Anti-aliasing keeps thin structures (ribs, markers) from turning into
    moiré when a 2000-pixel original shrinks to 128.
    """
    height, width = (size, size) if isinstance(size, int) else size
    image = tf.cast(image, tf.float32)
    if fit == "squash":
        return tf.image.resize(image, (height, width), antialias=True)
    if fit == "pad":
        return tf.image.resize_with_pad(image, height, width, antialias=True)
    raise ValueError(f"fit must be 'squash' or 'pad', got {fit!r}.")


def to_model_input(
    image: np.ndarray | tf.Tensor,
    size: int | tuple[int, int] = 128,
    channels: int = 1,
    fit: Fit = "squash",
) -> tf.Tensor:
    """Any decoded image (or batch) to float32 ``(size, size, channels)`` on a 0-255 scale."""
    image = tf.convert_to_tensor(image)
    if image.shape.rank == 2:
        image = image[..., tf.newaxis]
    empty = any(side is not None and side < 1 for side in image.shape[-3:-1])
    if image.shape.rank not in (3, 4) or empty:
        raise ValueError(f"Expected an image of shape (H, W), (H, W, C) or (N, H, W, C), got {image.shape}.")
    return resize(with_channels(to_0_255(image), channels), size, fit)

"""From a decoded image to a model input with NumPy and Pillow alone, for paths that never load TensorFlow.

The panel's kernels and the LiteRT runtime (:mod:`pneumolab.inference.serving`)
prepare uploads here: the NumPy twin of
:func:`pneumolab.preprocess.transforms.to_model_input`, tested against it
(Pillow's bilinear filter widens with the scale exactly as TensorFlow's
anti-aliased resize does; they agree within 0.01 of a grey level).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

#: ITU-R 601 luma weights, as :func:`tf.image.rgb_to_grayscale` uses them.
_LUMA = np.array([0.2989, 0.5870, 0.1140], np.float32)


def to_model_input(image: np.ndarray, size: int, channels: int = 1, fit: str = "squash") -> np.ndarray:
    """A decoded image ``(H, W[, C])`` to float32 ``(size, size, channels)`` on the 0-255 scale.

    The NumPy twin of :func:`pneumolab.preprocess.transforms.to_model_input`: integers
    scaled by their range, alpha dropped, grey and RGB converted with the same
    weights, anti-aliased bilinear resize (``squash`` stretches, ``pad`` keeps
    the aspect ratio with black bars).
    """
    pixels = np.asarray(image)
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if pixels.ndim != 3 or min(pixels.shape[:2]) < 1:
        raise ValueError(f"Expected an image of shape (H, W) or (H, W, C), got {pixels.shape}.")
    if np.issubdtype(pixels.dtype, np.integer):
        values = pixels.astype(np.float32) * (255.0 / np.iinfo(pixels.dtype).max)
    else:
        values = np.clip(pixels.astype(np.float32), 0.0, 1.0) * 255.0
    values = _with_channels(values, channels)
    if fit == "squash":
        return _resize(values, size, size)
    if fit != "pad":
        raise ValueError(f"fit must be 'squash' or 'pad', got {fit!r}.")
    height, width = values.shape[:2]
    ratio = max(width / size, height / size)
    inner_h, inner_w = max(1, int(height / ratio)), max(1, int(width / ratio))
    top, left = (size - inner_h) // 2, (size - inner_w) // 2
    padded = np.zeros((size, size, channels), np.float32)
    padded[top : top + inner_h, left : left + inner_w] = _resize(values, inner_h, inner_w)
    return padded


def _with_channels(values: np.ndarray, channels: int) -> np.ndarray:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}.")
    have = values.shape[-1]
    if have in (2, 4):
        values, have = values[..., : have - 1], have - 1
    if have == channels:
        return values
    if have == 1:
        return np.repeat(values, 3, axis=-1)
    return (values @ _LUMA)[..., np.newaxis]


def _resize(values: np.ndarray, height: int, width: int) -> np.ndarray:
    planes = [np.asarray(Image.fromarray(np.ascontiguousarray(values[..., c]), mode="F")
                         .resize((width, height), Image.Resampling.BILINEAR))
              for c in range(values.shape[-1])]
    return np.stack(planes, axis=-1).astype(np.float32)

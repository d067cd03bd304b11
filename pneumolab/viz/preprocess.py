"""Pictures of preprocessing: steps side by side, before and after, and augmented variations.

Images are single grey films ``(H, W, 1)`` on the working scale (0-255), or
after a final scaling; steps come from :mod:`pneumolab.preprocess.steps`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import keras
import numpy as np
import tensorflow as tf
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pneumolab.preprocess.steps import Step


def compare(
    images: Mapping[str, np.ndarray], steps: Mapping[str, Step], histograms: bool = False
) -> Figure:
    """A grid: one row per image (plus its histograms if asked), one column per step, each applied alone."""
    rows_per_image = 2 if histograms else 1
    figure = Figure(figsize=(2.3 * len(steps), (2.6 + 1.1 * histograms) * len(images)), layout="constrained")
    heights = ([2.4, 1] if histograms else [1]) * len(images)
    axes = np.array(figure.subplots(len(images) * rows_per_image, len(steps), gridspec_kw=dict(
        height_ratios=heights), squeeze=False))
    for index, (image_name, image) in enumerate(images.items()):
        for column, (step_name, step) in enumerate(steps.items()):
            result = np.asarray(step(image))
            _show(axes[index * rows_per_image, column], result, step_name)
            if histograms:
                _histogram(axes[index * rows_per_image + 1, column], result)
        axes[index * rows_per_image, 0].text(-0.1, 0.5, image_name, transform=axes[index * rows_per_image, 0]
                                             .transAxes, rotation=90, va="center", ha="right", fontsize=8)
    return figure


def render(image: np.ndarray, result: np.ndarray, title: str) -> Figure:
    """Before and after, each with its histogram of values."""
    figure = Figure(figsize=(7, 4.6), layout="constrained")
    axes = figure.subplots(2, 2, gridspec_kw=dict(height_ratios=[3, 1]))
    for column, (name, shown) in enumerate((("original", image), ("result", result))):
        _show(axes[0, column], shown, name)
        _histogram(axes[1, column], shown)
    figure.suptitle(title, fontsize=9)
    return figure


def show_augmentations(image: np.ndarray, augment: Callable[[tf.Tensor], tf.Tensor], n: int = 5) -> Figure:
    """The image and ``n`` random variations of it: one batch through ``augment``, as in training.

    When ``augment`` is a Keras ``Sequential`` with a ``RandomFlip`` layer, its
    layers run one by one, so each title can say whether that variation was
    mirrored (the flip layer's own output is checked, nothing is guessed).
    """
    batch = tf.repeat(tf.convert_to_tensor(image)[tf.newaxis], n, axis=0)
    flipped: list[bool] | None = None
    if isinstance(augment, keras.Sequential) and any(
            isinstance(layer, keras.layers.RandomFlip) for layer in augment.layers):
        for layer in augment.layers:
            before, batch = batch, layer(batch)
            if isinstance(layer, keras.layers.RandomFlip):
                changed = zip(batch.numpy(), before.numpy(), strict=True)
                flipped = [not np.array_equal(after, earlier) for after, earlier in changed]
        batch = batch.numpy()
    else:
        batch = augment(batch).numpy()
    figure = Figure(figsize=(2.0 * (n + 1), 2.4), layout="constrained")
    axes = figure.subplots(1, n + 1)
    _show(axes[0], image, "original")
    for ax, variant, number in zip(axes[1:], batch, range(1, n + 1), strict=True):
        mirrored = "" if flipped is None else (", FLIPPED" if flipped[number - 1] else ", not flipped")
        _show(ax, variant, f"variation {number}{mirrored}")
    return figure


def _display_range(image: np.ndarray) -> tuple[float, float]:
    """0-255 for images on the working scale, else the image's own range."""
    low, high = float(image.min()), float(image.max())
    if low >= 0 and high <= 255 and high > 1:
        return 0.0, 255.0
    return low, max(high, low + 1e-6)


def _show(ax: Axes, image: np.ndarray, title: str) -> None:
    low, high = _display_range(image)
    ax.imshow(np.squeeze(image), cmap="gray", vmin=low, vmax=high)
    ax.set_title(f"{title}\n{image.shape[0]}×{image.shape[1]}, {image.min():.3g} to {image.max():.3g}",
                 fontsize=8)
    ax.set_axis_off()


def _histogram(ax: Axes, image: np.ndarray) -> None:
    ax.hist(image.ravel(), bins=64, color="#4C72B0")
    ax.set_yticks([])
    ax.tick_params(labelsize=7)
    ax.set_xlabel("value", fontsize=7)

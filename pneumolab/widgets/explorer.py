"""Seeing preprocessing on real images: the figures, costs and live explorer of lesson 02.

Images here are single grey films ``(H, W, 1)`` on the working scale of
:mod:`pneumolab.preprocess.transforms` (float32, 0-255), read the way the pipeline reads
them. Steps are the transforms of :mod:`pneumolab.preprocess.transforms`, by name, so
what a student sees is exactly what training would do.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import ipywidgets as widgets
import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from IPython.display import Image, display
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pneumolab import config
from pneumolab.data import manifest as data
from pneumolab.preprocess import transforms as preprocess
from pneumolab.preprocess.pipeline import make_dataset
from pneumolab.viz.figures import rendered
from pneumolab.widgets.live import LivePanel

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


def render(image: np.ndarray, result: np.ndarray, title: str) -> Figure:
    """Before and after, each with its histogram of values."""
    figure = Figure(figsize=(7, 4.6), layout="constrained")
    axes = figure.subplots(2, 2, gridspec_kw=dict(height_ratios=[3, 1]))
    for column, (name, shown) in enumerate((("original", image), ("result", result))):
        _show(axes[0, column], shown, name)
        _histogram(axes[1, column], shown)
    figure.suptitle(title, fontsize=9)
    return figure


def explorer(examples: Mapping[str, np.ndarray]) -> widgets.Widget:
    """Pick an image, up to three steps and a normalization; see the result and its histogram live.

    A :class:`~pneumolab.widgets.live.LivePanel`: in a notebook, a still of its first picture stays under it.
    """
    style = dict(description_width="initial")
    picker = widgets.Dropdown(options=list(examples), description="image", style=style)
    names = list(image_steps())
    chosen = [widgets.Dropdown(options=names, value=default, description=f"step {i + 1}", style=style,
                               layout=widgets.Layout(width="240px"))
              for i, default in enumerate(("squash", "CLAHE", "none"))]
    normalization = widgets.Dropdown(options=list(NORMALIZATIONS), description="then", style=style)
    size = widgets.IntSlider(value=128, min=32, max=512, step=32, description="size", style=style)
    clip = widgets.FloatSlider(value=0.01, min=0.001, max=0.1, step=0.001, readout_format=".3f",
                               description="CLAHE clip limit", style=style)
    radius = widgets.IntSlider(value=2, min=0, max=8, description="close/open radius", style=style)
    output = widgets.Output()
    steps_cache: dict[tuple, dict[str, Step]] = {}

    def update(_change: object = None) -> None:
        key = (size.value, clip.value, radius.value)
        if key not in steps_cache:
            steps_cache[key] = image_steps(*key)
        steps = steps_cache[key]
        image = examples[picker.value]
        chain = [box.value for box in chosen if box.value != "none"]
        result = apply_chain(image, chain, normalization.value, steps)
        drawn.append(rendered(render(image, result, " → ".join([*chain, normalization.value]))))
        with output:
            output.clear_output(wait=True)
            display(drawn[-1])

    drawn: list[Image] = []  # as shown: a JPEG, small in a stored notebook's widget state
    for control in (picker, *chosen, normalization, size, clip, radius):
        control.observe(update, names="value")
    update()
    return LivePanel([
        widgets.HBox([picker, normalization]),
        widgets.HBox(chosen),
        widgets.HBox([size, clip, radius]),
        output,
    ], still=drawn[0])

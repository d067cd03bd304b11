"""Pictures of where a model looks: a map on its image, heat maps side by side, galleries of calls.

The explainability notebook asks two kinds of question of pictures. *What
does one map show?* :func:`explanation_figure` puts image, heat map and
:func:`overlay` side by side. *Do two maps agree?* (the trained model
against a randomized copy, Grad-CAM against occlusion, one model against
another): :func:`map_grid` puts them in rows under the images, and
:func:`explanation_gallery` draws the maps of the calls a model made, as
computed by :func:`pneumolab.explain.gallery.outcome_gallery` or
:func:`pneumolab.explain.gallery.explain_rows`. Nothing here computes a map
or reads a file; every figure is a bare ``Figure`` (not pyplot), so a
long-running panel leaks no figures and Jupyter still shows it inline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import matplotlib
import numpy as np
import pandas as pd
import tensorflow as tf
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from pneumolab.metrics.outcomes import OUTCOMES, outcomes
from pneumolab.preprocess import transforms as preprocess

if TYPE_CHECKING:
    from pneumolab.explain.gallery import ExplainedCalls

#: Colour map of every overlay (:func:`overlay`'s default).
MAP_COLORS = "jet"


def overlay(
    image: np.ndarray | tf.Tensor, heatmap: np.ndarray, *, alpha: float = 0.4, cmap: str = "jet"
) -> np.ndarray:
    """The image in grey with the heat map blended on top, as RGB uint8 ``(H, W, 3)``.

    ``image`` is gray or RGB, integer or float on the models' 0-255 scale, at
    any size: the heat map is resized to it, so a map can be laid on the
    full-resolution original.
    """
    picture = _display_rgb(image)
    heat = np.asarray(heatmap, np.float32)
    if heat.shape != picture.shape[:2]:
        heat = tf.image.resize(heat[..., np.newaxis], picture.shape[:2]).numpy()[..., 0]
    colored = matplotlib.colormaps[cmap](np.clip(heat, 0, 1))[..., :3]
    return np.round(255 * ((1 - alpha) * picture + alpha * colored)).astype(np.uint8)


def explanation_figure(
    image: np.ndarray | tf.Tensor,
    heatmap: np.ndarray,
    *,
    title: str | None = None,
    probability: float | None = None,
    alpha: float = 0.4,
    cmap: str = "jet",
) -> Figure:
    """Image, heat map and overlay side by side; the title carries the model's probability if given.

    A bare ``Figure`` (not pyplot), so a long-running panel leaks no figures;
    Jupyter still displays it inline.
    """
    figure = Figure(figsize=(10, 3.6), layout="constrained")
    left, middle, right = figure.subplots(1, 3)
    left.imshow(_display_rgb(image))
    left.set_title("image")
    shown = middle.imshow(heatmap, cmap=cmap, vmin=0, vmax=1)
    middle.set_title("heat map")
    figure.colorbar(shown, ax=middle, shrink=0.8)
    right.imshow(overlay(image, heatmap, alpha=alpha, cmap=cmap))
    right.set_title("overlay")
    for axes in (left, middle, right):
        axes.set_axis_off()
    heading = [title] if title else []
    if probability is not None:
        heading.append(f"p = {probability:.2f}")
    if heading:
        figure.suptitle(" · ".join(heading))
    return figure


def map_grid(
    images: np.ndarray,
    maps: Mapping[str, np.ndarray],
    *,
    titles: Sequence[str] | None = None,
    heading: str | None = None,
    captions: Mapping[str, Sequence[str]] | None = None,
) -> Figure:
    """One column per image: the image on top, then one row of overlays per named stack of maps.

    ``maps`` is ``{row name: (N, H, W) maps}``, e.g. ``{"trained": ..., "randomized": ...}``;
    ``titles`` labels the columns; ``captions`` (``{row name: one text per image}``,
    e.g. from :func:`call_captions`) go under that row's overlays. A colour bar
    reads the overlays: each map is scaled to its own peak (1).
    """
    count = len(images)
    if any(len(stack) != count for stack in maps.values()):
        raise ValueError(f"Every stack of maps needs one map per image ({count}).")
    captions = captions or {}
    rows = ["image", *maps]
    figure = Figure(figsize=(1.8 * count + 0.9, 2.0 * len(rows)), layout="constrained")
    axes = figure.subplots(len(rows), count, squeeze=False)
    for column, image in enumerate(images):
        axes[0, column].imshow(overlay(image, np.zeros(image.shape[:2]), alpha=0.0))
        for row, (name, stack) in enumerate(maps.items(), start=1):
            axes[row, column].imshow(overlay(image, stack[column], cmap=MAP_COLORS))
            if name in captions:
                axes[row, column].set_xlabel(captions[name][column], fontsize=7)
        if titles is not None:
            axes[0, column].set_title(titles[column], fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    for row, name in enumerate(rows):
        axes[row, 0].set_ylabel(name, fontsize=9)
    if maps:
        scale = ScalarMappable(norm=Normalize(0, 1), cmap=MAP_COLORS)
        bar = figure.colorbar(scale, ax=axes[1:, :].ravel().tolist(), shrink=0.8, aspect=30)
        bar.set_label("share of the map's peak", fontsize=8)
        bar.ax.tick_params(labelsize=7)
    if heading:
        figure.suptitle(heading, fontsize=10)
    return figure


def call_captions(scored: pd.DataFrame, threshold: float) -> list[str]:
    """``"P = 0.998, false alarm"`` for each row of a yes/no model's scores at ``threshold``."""
    named = [OUTCOMES[name][2] for name in outcomes(scored, threshold)]
    return [f"P = {p:.3f}, {words}" for p, words in zip(scored["probability"], named, strict=True)]


def explanation_gallery(explained: ExplainedCalls) -> Figure:
    """The images of an :class:`~pneumolab.explain.gallery.ExplainedCalls` over their Grad-CAM overlays.

    Titled by its heading; an empty pick (an outcome the split does not have)
    gives a one-line figure saying there is nothing to show.
    """
    if not len(explained.images):
        figure = Figure(figsize=(5, 1.2))
        ax = figure.subplots()
        ax.axis("off")
        ax.text(0.5, 0.5, explained.heading or "nothing to show", ha="center", va="center")
        return figure
    return map_grid(explained.images, {"Grad-CAM": explained.maps}, titles=explained.titles,
                    heading=explained.heading)


def _display_rgb(image: np.ndarray | tf.Tensor) -> np.ndarray:
    """An image as float RGB in [0, 1] for display: integers by their dtype's range, floats as 0-255."""
    image = np.asarray(image)
    if image.ndim not in (2, 3):
        raise ValueError(f"Expected a gray or RGB image, got shape {image.shape}.")
    rgb = preprocess.with_channels(preprocess.to_working_scale(image), 3).numpy() / 255.0
    return np.clip(rgb, 0, 1)

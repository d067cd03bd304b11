"""Pictures of where a model looks: heat maps side by side, and galleries of right and wrong calls.

The explainability notebook asks three kinds of question. *Do two maps
agree?* (the trained model against a randomized copy, Grad-CAM against
occlusion, one model against another): :func:`map_grid` puts them in rows
under the images. *Where does the model look when it is right, and when it
is wrong?* :func:`explanation_gallery` takes a scored split (from
:func:`pneumolab.inference.scoring.predict_split`), picks images of one outcome at the
model card's threshold, and shows the Grad-CAM map of the call the model
made. *Does it read the frame rather than the lungs?* :func:`border_shares`
measures, over a whole split, how much of each map lies near the edges,
where markers and text are. Maps are drawn on the images exactly as the
model saw them (:func:`model_inputs`): squashed to a square, gray, at the
model's resolution.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import keras
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

from pneumolab.explain import gradcam as explain
from pneumolab.metrics.outcomes import OUTCOMES, outcomes
from pneumolab.preprocess.pipeline import dataset_for

#: Colour map of every overlay (the same as :func:`pneumolab.explain.gradcam.overlay`'s default).
MAP_COLORS = "jet"


def model_inputs(rows: pd.DataFrame, card: dict) -> np.ndarray:
    """The images of ``rows`` as the model saw them in training and scoring, on a 0-255 scale.

    ``(N, size, size, channels)``, read by the same pipeline, with the size,
    channels and fit of the model card.
    """
    dataset = dataset_for(card, rows)
    images = np.concatenate([batch.numpy() for batch, _ in dataset])
    if len(images) != len(rows):
        raise ValueError(f"{len(rows) - len(images)} of the {len(rows)} images could not be read.")
    return images


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
    figure, axes = plt.subplots(len(rows), count, figsize=(1.8 * count + 0.9, 2.0 * len(rows)),
                                squeeze=False, layout="constrained")
    for column, image in enumerate(images):
        axes[0, column].imshow(explain.overlay(image, np.zeros(image.shape[:2]), alpha=0.0))
        for row, (name, stack) in enumerate(maps.items(), start=1):
            axes[row, column].imshow(explain.overlay(image, stack[column], cmap=MAP_COLORS))
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


def explain_rows(
    model: keras.Model, card: dict, rows: pd.DataFrame, *, heading: str | None = None,
    layer: str | None = None,
) -> Figure:
    """Grad-CAM of the call the model made on each row of a scored frame, under the images.

    The call is the model card's threshold applied to the ``probability``
    column: maps of P(pneumonia) for images called pneumonia, of P(normal)
    for the others. Columns are titled with the probability and the file.
    """
    images = model_inputs(rows, card)
    heat = explain.grad_cam(model, images, class_index=_calls(rows, card).tolist(), layer=layer)
    titles = [f"p = {row.probability:.3f}\n{row.file.rsplit('.', 1)[0]}" for row in rows.itertuples()]
    return map_grid(images, {"Grad-CAM": heat}, titles=titles, heading=heading)


def explanation_gallery(
    model: keras.Model,
    card: dict,
    scored: pd.DataFrame,
    kind: str,
    n: int = 6,
    *,
    seed: int = 0,
    layer: str | None = None,
) -> Figure:
    """Grad-CAM of ``n`` randomly picked images of one outcome (``kind``, a key of :data:`OUTCOMES`).

    ``scored`` comes from :func:`pneumolab.inference.scoring.predict_split` for a yes/no
    model; the threshold is the model card's. Each map explains the call the
    model made (see :func:`explain_rows`). A random pick, not the most
    striking cases, so the gallery shows what is typical.
    """
    if kind not in OUTCOMES:
        raise ValueError(f"kind must be one of {sorted(OUTCOMES)}, got {kind!r}.")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}.")
    threshold = card["threshold"]
    matching = scored.loc[outcomes(scored, threshold) == kind]
    _, called, words = OUTCOMES[kind]
    heading = f"{card['name']}, {words}: {len(matching)} images at threshold {threshold:.3f}"
    if matching.empty:
        figure, ax = plt.subplots(figsize=(5, 1.2))
        ax.axis("off")
        ax.text(0.5, 0.5, f"{heading}: nothing to show", ha="center", va="center")
        return figure
    picked = matching.sample(min(n, len(matching)), random_state=seed)
    heading += f" (showing {len(picked)})\nGrad-CAM of the call '{'pneumonia' if called else 'normal'}'"
    return explain_rows(model, card, picked, heading=heading, layer=layer)


def border_shares(
    model: keras.Model,
    card: dict,
    scored: pd.DataFrame,
    *,
    margin: float = 0.1,
    layer: str | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """For every row of a scored frame: its outcome and the share of its Grad-CAM map near the edges.

    The maps explain the call the model made, as in the gallery; see
    :func:`pneumolab.explain.gradcam.border_share` for the share and what an even
    spread would give. Computed in batches, so a whole test split fits in memory.
    """
    shares = []
    for start in range(0, len(scored), batch_size):
        rows = scored.iloc[start : start + batch_size]
        heat = explain.grad_cam(model, model_inputs(rows, card), class_index=_calls(rows, card).tolist(),
                                layer=layer)
        shares.append(explain.border_share(heat, margin))
    return pd.DataFrame(dict(outcome=outcomes(scored, card["threshold"]),
                             border_share=np.concatenate(shares)), index=scored.index)


def _calls(rows: pd.DataFrame, card: dict) -> np.ndarray:
    """1 where the model called pneumonia at its card's threshold, else 0."""
    return np.array([OUTCOMES[name][1] for name in outcomes(rows, card["threshold"])], int)

"""Explanations over a scored split: the maps behind the explainability galleries, and their border shares.

The explainability notebook asks *where does the model look when it is
right, and when it is wrong?* :func:`outcome_gallery` takes a scored split
(from :func:`pneumolab.inference.scoring.predict_split`), picks images of one
outcome at the model card's threshold, and computes the Grad-CAM map of the
call the model made; :func:`explain_rows` does the same for rows you choose.
Both return an :class:`ExplainedCalls` record that
:func:`pneumolab.viz.explain.explanation_gallery` draws. *Does it read the
frame rather than the lungs?* :func:`border_shares` measures, over a whole
split, how much of each map lies near the edges, where markers and text are.
Maps are computed on the images exactly as the model saw them
(:func:`model_inputs`): squashed to a square, gray, at the model's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from pneumolab.explain.gradcam import grad_cam
from pneumolab.explain.measures import border_share
from pneumolab.metrics.outcomes import OUTCOMES, outcomes
from pneumolab.models.card import ModelCard
from pneumolab.preprocess.pipeline import dataset_for


@dataclass(frozen=True)
class ExplainedCalls:
    """Images as the model saw them, the Grad-CAM map of the call made on each, and what to title them.

    ``images`` is ``(N, size, size, channels)`` on a 0-255 scale, ``maps`` is
    ``(N, size, size)`` in [0, 1], ``titles`` has one text per image; ``heading``
    says what was picked. ``N`` may be 0: an outcome with nothing to show.
    """

    images: np.ndarray
    maps: np.ndarray
    titles: list[str]
    heading: str | None = None


def model_inputs(rows: pd.DataFrame, card: ModelCard) -> np.ndarray:
    """The images of ``rows`` as the model saw them in training and scoring, on a 0-255 scale.

    ``(N, size, size, channels)``, read by the same pipeline, with the size,
    channels and fit of the model card.
    """
    dataset = dataset_for(card, rows)
    images = np.concatenate([batch.numpy() for batch, _ in dataset])
    if len(images) != len(rows):
        raise ValueError(f"{len(rows) - len(images)} of the {len(rows)} images could not be read.")
    return images


def explain_rows(
    model: keras.Model, card: ModelCard, rows: pd.DataFrame, *, heading: str | None = None,
    layer: str | None = None,
) -> ExplainedCalls:
    """Grad-CAM of the call the model made on each row of a scored frame.

    The call is the model card's threshold applied to the ``probability``
    column: maps of P(pneumonia) for images called pneumonia, of P(normal)
    for the others. Each image is titled with its probability and file.
    """
    images = model_inputs(rows, card)
    heat = grad_cam(model, images, class_index=_calls(rows, card).tolist(), layer=layer)
    titles = [f"p = {row.probability:.3f}\n{row.file.rsplit('.', 1)[0]}" for row in rows.itertuples()]
    return ExplainedCalls(images, heat, titles, heading)


def outcome_gallery(
    model: keras.Model,
    card: ModelCard,
    scored: pd.DataFrame,
    kind: str,
    n: int = 6,
    *,
    seed: int = 0,
    layer: str | None = None,
) -> ExplainedCalls:
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
    threshold = card.threshold
    matching = scored.loc[outcomes(scored, threshold) == kind]
    _, called, words = OUTCOMES[kind]
    heading = f"{card.name}, {words}: {len(matching)} images at threshold {threshold:.3f}"
    if matching.empty:
        return ExplainedCalls(np.zeros((0, 1, 1, 1), np.float32), np.zeros((0, 1, 1), np.float32), [],
                              f"{heading}: nothing to show")
    picked = matching.sample(min(n, len(matching)), random_state=seed)
    heading += f" (showing {len(picked)})\nGrad-CAM of the call '{'pneumonia' if called else 'normal'}'"
    return explain_rows(model, card, picked, heading=heading, layer=layer)


def border_shares(
    model: keras.Model,
    card: ModelCard,
    scored: pd.DataFrame,
    *,
    margin: float = 0.1,
    layer: str | None = None,
    batch_size: int = 32,
) -> pd.DataFrame:
    """For every row of a scored frame: its outcome and the share of its Grad-CAM map near the edges.

    The maps explain the call the model made, as in the gallery; see
    :func:`pneumolab.explain.measures.border_share` for the share and what an even
    spread would give. Computed in batches, so a whole test split fits in memory.
    """
    shares = []
    for start in range(0, len(scored), batch_size):
        rows = scored.iloc[start : start + batch_size]
        heat = grad_cam(model, model_inputs(rows, card), class_index=_calls(rows, card).tolist(), layer=layer)
        shares.append(border_share(heat, margin))
    return pd.DataFrame(dict(outcome=outcomes(scored, card.threshold),
                             border_share=np.concatenate(shares)), index=scored.index)


def _calls(rows: pd.DataFrame, card: ModelCard) -> np.ndarray:
    """1 where the model called pneumonia at its card's threshold, else 0."""
    return np.array([OUTCOMES[name][1] for name in outcomes(rows, card.threshold)], int)

"""The four outcomes of a yes/no call at a threshold, named in plain words.

:func:`outcomes` names each scored image's outcome (true positive ... true
negative) at a threshold; the explainability galleries pick their images by it,
and :func:`pick_errors` picks the images of one kind of error for the error
gallery (:func:`pneumolab.viz.evaluation.plot_errors`). Pure pandas: no
TensorFlow, no matplotlib.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

#: Each outcome at a threshold: (truly pneumonia, called pneumonia), and its name in plain words.
OUTCOMES = {
    "true positive": (True, True, "caught pneumonia"),
    "false negative": (True, False, "missed pneumonia"),
    "false positive": (False, True, "false alarm"),
    "true negative": (False, False, "correct normal"),
}


def outcomes(scored: pd.DataFrame, threshold: float) -> pd.Series:
    """The outcome (a key of :data:`OUTCOMES`) of each row of a yes/no model's scores at ``threshold``."""
    if "probability" not in scored:
        raise ValueError("Outcomes need a yes/no model's scores: a frame with a 'probability' column.")
    sick, called = scored["label"] == "PNEUMONIA", scored["probability"] >= threshold
    names = {(truth, call): name for name, (truth, call, _) in OUTCOMES.items()}
    return pd.Series([names[pair] for pair in zip(sick, called, strict=True)], index=scored.index,
                     name="outcome")


@dataclass(frozen=True)
class ErrorPick:
    """Some images of one kind of error at a threshold, and how many there were to pick from.

    ``rows`` are the picked rows of the scored frame, with a ``rank`` column: the
    image's place among all ``scored`` images by probability (1 = the highest),
    which tells apart probabilities that all round to 1.000.
    """

    kind: str
    threshold: float
    found: int
    scored: int
    rows: pd.DataFrame


def pick_errors(scored: pd.DataFrame, threshold: float, kind: str = "false alarm", n: int = 8,
                seed: int = 0) -> ErrorPick:
    """``n`` images, drawn at random (``seed``), of one kind of error at ``threshold``.

    ``scored`` is a frame from :func:`pneumolab.inference.scoring.predict_split` (paths,
    labels and a ``probability`` column). ``kind`` is ``"false alarm"`` (normal
    images called pneumonia) or ``"missed pneumonia"``.
    """
    errors_named = {words: name for name, (truth, call, words) in OUTCOMES.items() if truth != call}
    if kind not in errors_named:
        raise ValueError(f"kind must be one of {sorted(errors_named)}, got {kind!r}.")
    rank = scored["probability"].rank(ascending=False, method="min").astype(int)
    errors = scored.loc[outcomes(scored, threshold) == errors_named[kind]]
    picked = errors.sample(min(n, len(errors)), random_state=seed) if len(errors) else errors
    return ErrorPick(kind, threshold, len(errors), len(scored), picked.assign(rank=rank[picked.index]))

"""The four outcomes of a yes/no call at a threshold, named in plain words.

:func:`outcomes` names each scored image's outcome (true positive ... true
negative) at a threshold; the error gallery and the explainability galleries
pick their images by it. Pure pandas: no TensorFlow, no matplotlib.
"""

from __future__ import annotations

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

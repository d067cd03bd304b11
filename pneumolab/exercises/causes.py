"""Lesson 07 checkers, three classes: per-class recall from a 3 x 3 confusion matrix, P(pneumonia) from
three probabilities, and a viral-vs-bacterial threshold chosen on validation.

The checkers take labels (class indices 0 normal, 1 bacteria, 2 virus, as ``data.targets(rows, "cause")``)
and an ``(N, 3)`` array of probabilities, from any model: the exercise notebook uses a stand-in that needs
no training.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pneumolab.data import manifest as data
from pneumolab.exercises._core import _checker, _describe, _entries, _Hint, _matches, _number
from pneumolab.metrics import multiclass
from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.thresholds import choose_threshold

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

CLASSES = data.TASKS["cause"]


def _matrix(y_true: ArrayLike, probs: ArrayLike) -> np.ndarray:
    """The 3 x 3 confusion matrix (rows true, columns predicted) of the most probable class."""
    return np.asarray(multiclass.multiclass_report(y_true, probs, CLASSES, ci=False)["confusion_matrix"])


@_checker("recall of each class", "a dict {'normal': ..., 'bacteria': ..., 'virus': ...} of fractions")
def class_recalls(answer: dict[str, float], y_true: ArrayLike, probs: ArrayLike) -> str:
    """Each class's recall, read from the 3 x 3 confusion matrix of ``probs`` on ``y_true``."""
    given = _entries(answer, CLASSES, "the three recalls")
    matrix = _matrix(y_true, probs)
    right = np.diag(matrix)
    expected = dict(zip(CLASSES, right / matrix.sum(axis=1), strict=True))
    if all(_matches(given[name], expected[name]) for name in CLASSES):
        worst = min(expected, key=expected.get)
        return (f"recalls {', '.join(f'{name} {value:.2f}' for name, value in expected.items())}: "
                f"{worst} is the class the model finds least often.")
    wrong = next(name for name in CLASSES if not _matches(given[name], expected[name]))
    i = CLASSES.index(wrong)
    value = given[wrong]
    if _matches(value / 100, expected[wrong]):
        raise _Hint("Those look like percentages: give fractions between 0 and 1.")
    if matrix[:, i].sum() and _matches(value, right[i] / matrix[:, i].sum()):
        raise _Hint(f"Your {wrong!r} value divides by the {wrong} COLUMN (images predicted {wrong}): that is "
                    "the precision. Recall divides by the ROW: all images that truly are that class.")
    if _matches(value, right[i]) or _matches(value, matrix[i].sum()):
        raise _Hint(f"Your {wrong!r} value is a count; recall is a share: the diagonal cell divided by the "
                    "sum of its row.")
    if _matches(value, right.sum() / matrix.sum()):
        raise _Hint("That is the overall accuracy; recall is per class: each row on its own.")
    raise _Hint(f"The recall of {wrong} is not right yet: rows are the true class, columns the prediction; "
                f"of the images in the {wrong} row, which share sits on the diagonal?")


@_checker("P(pneumonia) from three classes", "an array of one probability per image")
def pneumonia_probability(answer: ArrayLike, probs: ArrayLike) -> str:
    """P(pneumonia) of each image from a three-class model: ``p_bacteria + p_virus``."""
    probs = np.asarray(probs, float)
    try:
        got = np.asarray(answer, float)
    except (TypeError, ValueError):
        raise _Hint(f"Give one number per image, as an array; you gave {_describe(answer)}.") from None
    if got.ndim == 2 and got.shape[1] == 1:
        got = got[:, 0]
    if got.shape != (len(probs),):
        raise _Hint(f"Give one probability per image: an array of shape ({len(probs)},); you gave "
                    f"{_describe(answer)}.")
    expected = probs[:, 1] + probs[:, 2]
    if np.allclose(got, expected, atol=1e-6):
        return "one probability of pneumonia per image, bacterial and viral together: 1 - p_normal."
    hints = {
        "the probability of NORMAL; pneumonia is the other two classes": probs[:, 0],
        "only bacterial pneumonia; a viral one is pneumonia too": probs[:, 1],
        "only viral pneumonia; a bacterial one is pneumonia too": probs[:, 2],
        "the larger of the two pneumonia probabilities; the two causes ADD up": probs[:, 1:].max(axis=1),
    }
    for hint, values in hints.items():
        if np.allclose(got, values, atol=1e-6):
            raise _Hint(f"That is {hint}.")
    raise _Hint("Not quite: the model's three probabilities add up to 1; which of them together say "
                "'pneumonia'?")


@_checker("viral-vs-bacterial threshold", "a threshold between 0 and 1")
def pair_threshold(answer: float, y_val: ArrayLike, probs_val: ArrayLike) -> str:
    """The viral-vs-bacterial threshold with the highest Youden's J on validation pneumonias.

    Scores are ``multiclass.pair_scores(..., positive="virus", negative="bacteria")``; any threshold with
    the same confusion matrix as ``metrics.choose_threshold(..., "youden")``'s is right.
    """
    value = _number(getattr(answer, "threshold", answer), "The threshold")
    if not 0 <= value <= 1:
        raise _Hint(f"{value:g} cannot cut probabilities: a threshold lies between 0 and 1.")
    y_pair, s_pair = multiclass.pair_scores(y_val, probs_val, CLASSES, positive="virus", negative="bacteria")
    best = choose_threshold(y_pair, s_pair, "youden")
    found = metrics_at(y_pair, s_pair, value)
    j = found["recall"] + found["specificity"] - 1
    if np.array_equal(found["confusion_matrix"], best.metrics["confusion_matrix"]):
        return (f"at {value:.3g}, {found['recall']:.0%} of viral and {found['specificity']:.0%} of bacterial "
                f"validation pneumonias are called right (Youden's J {j:.2f}, the highest).")
    pneumonias = np.isin(np.asarray(y_val), (1, 2))
    raw_virus = np.asarray(probs_val, float)[pneumonias, 2]
    own = choose_threshold(y_pair, raw_virus, "youden").threshold
    if np.isclose(value, own):
        raise _Hint("That threshold cuts p_virus alone. Among pneumonias, score each image by "
                    "p_virus / (p_virus + p_bacteria) (multiclass.pair_scores), then choose.")
    default = " 0.5 is only a default, not a choice." if value == 0.5 else ""
    best_j = best.metrics["recall"] + best.metrics["specificity"] - 1
    raise _Hint(f"At {value:.3g} sensitivity + specificity - 1 is {j:.2f} on validation; another threshold "
                f"does better (up to {best_j:.2f}).{default} Try metrics.choose_threshold(..., 'youden').")

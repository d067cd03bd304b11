"""Lesson 05 checkers, thresholds: the confusion matrix, recall and specificity, a threshold for a recall."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pneumolab.exercises._core import _checker, _count, _entries, _function, _Hint, _matches, _number, _run
from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.thresholds import choose_threshold

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

#: What the recall-and-specificity exercise asks for: a function from the four counts to the two rates.
Rates = Callable[[dict[str, int]], dict[str, float]]


_CELLS = ("TN", "FP", "FN", "TP")


@_checker("confusion matrix", "a dict {'TN': ..., 'FP': ..., 'FN': ..., 'TP': ...}")
def confusion_counts(answer: dict[str, int], y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> str:
    """The four cells of the confusion matrix at ``threshold``, read by the student."""
    reference = dict(zip(_CELLS, metrics_at(y_true, y_prob, threshold)["confusion_matrix"].ravel(),
                         strict=True))
    given = _entries(answer, _CELLS, "the four counts", read=_count)
    if given == reference:
        return (f"{reference['TP']} pneumonias caught, {reference['FN']} missed, "
                f"{reference['FP']} false alarms and {reference['TN']} normal images cleared.")
    if sum(given.values()) != sum(reference.values()):
        raise _Hint(f"Your four counts add up to {sum(given.values())}, but there are "
                    f"{sum(reference.values())} images: each lands in exactly one cell.")

    def swapped(*pairs: tuple[str, str]) -> dict[str, int]:
        swaps = {a: b for pair in pairs for a, b in (pair, pair[::-1])}
        return {key: reference[swaps.get(key, key)] for key in _CELLS}

    if given == swapped(("FP", "FN")):
        raise _Hint("False positives and false negatives are swapped: a false POSITIVE is a false alarm, a "
                    "NORMAL image called PNEUMONIA. Rows are the truth, columns the prediction.")
    if given == swapped(("TN", "TP")):
        raise _Hint("TN and TP are swapped: 'positive' means predicted PNEUMONIA.")
    if given == swapped(("FP", "FN"), ("TN", "TP")):
        raise _Hint("Positive means PNEUMONIA here: a true positive is a pneumonia the model caught.")
    raise _Hint("Not quite: in the figure, rows are the true class and columns the prediction; "
                "find each of the four cells there.")


#: A second confusion matrix the rates are checked on, with recall, specificity, precision and the other
#: ratios all at least 0.05 apart, so a swap or a wrong denominator shows even when on the student's data
#: two rates happen to coincide (in quick mode, recall and specificity are often equal).
STAND_IN_COUNTS = {"TN": 60, "FP": 20, "FN": 10, "TP": 110}


def _as_scores(counts: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Labels and 0/1 probabilities with exactly these confusion counts at any threshold in (0, 1]."""
    y = np.repeat([0, 0, 1, 1], [counts[cell] for cell in _CELLS])
    p = np.repeat([0.0, 1.0, 0.0, 1.0], [counts[cell] for cell in _CELLS])
    return y, p


def _check_rates(rates: Rates, counts: dict[str, int], where: str) -> None:
    """Hints unless ``rates(counts)`` gives this matrix's recall and specificity."""
    found = metrics_at(*_as_scores(counts), 0.5)
    answer = _run(rates, dict(counts), on=f"{where} {counts}")
    recall, specificity = _entries(answer, ("recall", "specificity"), "the two rates").values()
    if _matches(recall, found["recall"]) and _matches(specificity, found["specificity"]):
        return
    if _matches(recall / 100, found["recall"]) or _matches(specificity / 100, found["specificity"]):
        raise _Hint("Those look like percentages: give fractions between 0 and 1 (95 % is 0.95).")
    if _matches(recall, found["specificity"]) and _matches(specificity, found["recall"]):
        raise _Hint(f"Recall and specificity are swapped (on {where}): recall is about the pneumonia images, "
                    "specificity about the normal ones.")
    if not _matches(recall, found["recall"]):
        if _matches(recall, found["precision"]):
            raise _Hint("Your recall is the precision, the share of alarms that are right. Recall divides "
                        "the caught pneumonias by ALL pneumonia images.")
        raise _Hint(f"Recall is not right yet (on {where}): of all images that truly show pneumonia, which "
                    "share is caught?")
    if counts["TN"] + counts["FN"] and _matches(specificity, counts["TN"] / (counts["TN"] + counts["FN"])):
        raise _Hint("Your specificity divides by the images predicted NORMAL; specificity divides the "
                    "correctly cleared images by ALL truly normal images.")
    if _matches(specificity, 1 - found["specificity"]):
        raise _Hint("That is the share of normal images flagged as pneumonia (false alarms); specificity "
                    "counts the other ones.")
    raise _Hint(f"Specificity is not right yet (on {where}): of all truly normal images, which share is "
                "called normal?")


@_checker("recall and specificity", "a function taking the counts dict and returning "
          "{'recall': ..., 'specificity': ...}")
def recall_specificity(
    rates: Rates, y_true: ArrayLike, y_prob: ArrayLike, threshold: float
) -> str:
    """A function ``rates(counts)`` giving recall and specificity from the four counts of a confusion matrix.

    It is run on the student's own matrix (``y_true``, ``y_prob`` at ``threshold``) and on
    :data:`STAND_IN_COUNTS`, where every rate differs from the others: a swap is always caught.
    """
    _function(rates)  # a hint before any counting when it is not a function
    found = metrics_at(y_true, y_prob, threshold)
    own = dict(zip(_CELLS, map(int, found["confusion_matrix"].ravel()), strict=True))
    _check_rates(rates, own, "your validation counts")
    _check_rates(rates, STAND_IN_COUNTS, "a second matrix")
    return (f"the model catches {found['recall']:.1%} of pneumonia and clears {found['specificity']:.1%} of "
            f"normal images at threshold {threshold:g}; your function is right on a second matrix too.")


@_checker("threshold for a target recall", "a threshold between 0 and 1")
def threshold_for_recall(answer: float, y_true: ArrayLike, y_prob: ArrayLike, target: float = 0.95) -> str:
    """The highest threshold with recall >= ``target`` on (validation) data: ``metrics.choose_threshold``."""
    value = _number(getattr(answer, "threshold", answer), "The threshold")
    if not 0 <= value <= 1:
        raise _Hint(f"{value:g} cannot cut probabilities: a threshold lies between 0 and 1.")
    reference = choose_threshold(y_true, y_prob, "recall", target=target)
    found = metrics_at(y_true, y_prob, value)
    fp = int(found["confusion_matrix"][0, 1])
    if np.array_equal(found["confusion_matrix"], reference.metrics["confusion_matrix"]):
        return (f"at {value:.3g} the model catches {found['recall']:.1%} of pneumonia (target {target:.0%}) "
                f"with {fp} false alarms; no higher threshold reaches the target.")
    if found["recall"] < target:
        default = " 0.5 is only a default, not a choice." if value == 0.5 else ""
        raise _Hint(f"At {value:.3g} the model catches {found['recall']:.1%} of pneumonia, below the "
                    f"{target:.0%} asked: a lower threshold flags more images.{default}")
    raise _Hint(f"Recall {found['recall']:.1%} meets the target, but with {fp} false alarms: a higher "
                "threshold still meets it with fewer. Look for the highest such threshold.")

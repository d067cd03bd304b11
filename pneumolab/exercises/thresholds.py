"""Lesson 05 checkers, thresholds: the confusion matrix, recall and specificity, a threshold for a recall."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pneumolab import evaluate
from pneumolab.exercises._core import _checker, _count, _entries, _Hint, _matches, _number

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


_CELLS = ("TN", "FP", "FN", "TP")


@_checker("confusion matrix", "a dict {'TN': ..., 'FP': ..., 'FN': ..., 'TP': ...}")
def confusion_counts(answer: dict[str, int], y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> str:
    """The four cells of the confusion matrix at ``threshold``, read by the student."""
    reference = dict(zip(_CELLS, evaluate.metrics_at(y_true, y_prob, threshold)["confusion_matrix"].ravel(),
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


@_checker("recall and specificity", "a dict {'recall': ..., 'specificity': ...} of fractions")
def recall_specificity(
    answer: dict[str, float], y_true: ArrayLike, y_prob: ArrayLike, threshold: float
) -> str:
    """Recall (sensitivity) and specificity at ``threshold``, computed by the student."""
    found = evaluate.metrics_at(y_true, y_prob, threshold)
    (tn, _), (fn, _) = found["confusion_matrix"]
    recall, specificity = _entries(answer, ("recall", "specificity"), "the two rates").values()
    if _matches(recall, found["recall"]) and _matches(specificity, found["specificity"]):
        return (f"the model catches {recall:.1%} of pneumonia and clears {specificity:.1%} of normal "
                f"images at threshold {threshold:g}.")
    if _matches(recall / 100, found["recall"]) or _matches(specificity / 100, found["specificity"]):
        raise _Hint("Those look like percentages: give fractions between 0 and 1 (95 % is 0.95).")
    if _matches(recall, found["specificity"]) and _matches(specificity, found["recall"]):
        raise _Hint("Recall and specificity are swapped: recall is about the pneumonia images, specificity "
                    "about the normal ones.")
    if not _matches(recall, found["recall"]):
        if _matches(recall, found["precision"]):
            raise _Hint("Your recall is the precision, the share of alarms that are right. Recall divides "
                        "the caught pneumonias by ALL pneumonia images.")
        raise _Hint("Recall is not right yet: of all images that truly show pneumonia, which share "
                    "is caught?")
    if tn + fn and _matches(specificity, tn / (tn + fn)):
        raise _Hint("Your specificity divides by the images predicted NORMAL; specificity divides the "
                    "correctly cleared images by ALL truly normal images.")
    if _matches(specificity, 1 - found["specificity"]):
        raise _Hint("That is the share of normal images flagged as pneumonia (false alarms); specificity "
                    "counts the other ones.")
    raise _Hint("Specificity is not right yet: of all truly normal images, which share is called normal?")


@_checker("threshold for a target recall", "a threshold between 0 and 1")
def threshold_for_recall(answer: float, y_true: ArrayLike, y_prob: ArrayLike, target: float = 0.95) -> str:
    """The highest threshold with recall >= ``target`` on (validation) data: ``evaluate.choose_threshold``."""
    value = _number(getattr(answer, "threshold", answer), "The threshold")
    if not 0 <= value <= 1:
        raise _Hint(f"{value:g} cannot cut probabilities: a threshold lies between 0 and 1.")
    reference = evaluate.choose_threshold(y_true, y_prob, "recall", target=target)
    found = evaluate.metrics_at(y_true, y_prob, value)
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

"""Lesson 08 checkers, dataset shift: folds grouped by patient, a domain classifier's out-of-fold AUC,
and what a threshold chosen on validation does on the test split.

They take plain arrays (features, 0/1 domains with 1 for a test image, patient ids, labels and
probabilities) from any source: the exercise notebook uses grey-level histograms and a stand-in
model, so nothing is trained on a network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from pneumolab.exercises._core import _checker, _describe, _entries, _Hint, _matches, _number
from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.shift import domain_model, out_of_fold
from pneumolab.metrics.thresholds import choose_threshold

if TYPE_CHECKING:
    from numpy.typing import ArrayLike


@_checker("folds grouped by patient", "an array with one fold number per image")
def grouped_folds(answer: ArrayLike, groups: ArrayLike, domain: ArrayLike) -> str:
    """One fold number per image: at least two folds, no patient in two folds, both splits in every fold."""
    groups, domain = np.asarray(groups), np.asarray(domain)
    try:
        folds = np.asarray(answer)
    except Exception:  # objects NumPy cannot read
        folds = np.asarray(None)
    if folds.shape != groups.shape:
        raise _Hint(f"Give one fold number per image: an array of shape {groups.shape}; you gave "
                    f"{_describe(answer)}.")
    if folds.dtype.kind not in "iu" and not (folds.dtype.kind == "f" and np.all(folds == np.round(folds))):
        raise _Hint("Fold numbers should be whole numbers (0, 1, 2, ...), one per image.")
    names = np.unique(folds)
    if names.size < 2:
        raise _Hint("Every image is in one fold: cross-validation needs at least two, so that each image "
                    "is scored by a classifier trained on the others.")
    folds_per_group = {}
    for group, fold in zip(groups, folds, strict=True):
        folds_per_group.setdefault(group, set()).add(fold)
    split = [group for group, seen in folds_per_group.items() if len(seen) > 1]
    if split:
        raise _Hint(f"{len(split)} patients have films in more than one fold (e.g. {split[0]!r}): the "
                    "classifier could then recognise a child it has already seen. Split by the groups "
                    "(StratifiedGroupKFold, or GroupKFold, with groups=...).")
    one_sided = [fold for fold in names if len(np.unique(domain[folds == fold])) < 2]
    if one_sided:
        raise _Hint(f"Fold {one_sided[0]} holds images of one split only, so its AUC cannot be measured "
                    "and its training folds are unbalanced: stratify by the domain too.")
    shares = [domain[folds == fold].mean() for fold in names]
    return (f"{names.size} folds, no patient in two of them; the share of test images per fold runs from "
            f"{min(shares):.0%} to {max(shares):.0%}.")


@_checker("domain classifier's out-of-fold AUC", "one number, a ROC AUC between 0 and 1")
def domain_auc(answer: float, features: ArrayLike, domain: ArrayLike, folds: ArrayLike) -> str:
    """The ROC AUC of ``metrics.domain_model()``'s out-of-fold P(test), with the given folds."""
    value = _number(getattr(answer, "roc_auc", answer), "The AUC")
    expected = metrics_at(domain, out_of_fold(features, domain, folds))["roc_auc"]
    if abs(value - expected) <= 0.01:
        size = ("hardly any shift" if expected < 0.6 else "a clear shift" if expected < 0.8 else
                "a large shift")
        return (f"out of fold, the classifier tells the splits apart with ROC AUC {expected:.3f}: "
                f"{size}, as far as these features can see.")
    if 1 < value <= 100 and _matches(value / 100, expected):
        raise _Hint("That looks like a percentage: an AUC is a number between 0 and 1.")
    if not 0 <= value <= 1:
        raise _Hint(f"{value:g} cannot be a ROC AUC: it lies between 0 and 1.")
    if abs((1 - value) - expected) <= 0.01:
        raise _Hint("That is 1 - AUC: you scored P(training image). Use the probability of class 1 "
                    "(predict_proba(...)[:, 1]), the test images.")
    features, domain = np.asarray(features, float), np.asarray(domain)
    in_sample = metrics_at(domain, domain_model().fit(features, domain).predict_proba(features)[:, 1])
    if abs(value - in_sample["roc_auc"]) <= 0.01:
        raise _Hint("That AUC scores the images the classifier was trained on, so it is optimistic. For "
                    "each fold, fit on the OTHER folds and score the held-out one.")
    raise _Hint(f"Not {value:.3f} yet. For each fold: fit a fresh copy of metrics.domain_model() on the "
                "other folds, store predict_proba(...)[:, 1] of the held-out images; then one ROC AUC of "
                "all out-of-fold scores against domain.")


@_checker("a validation threshold on test", "a dict {'threshold': ..., 'recall': ..., 'specificity': ...}")
def threshold_on_test(
    answer: dict[str, float], y_val: ArrayLike, p_val: ArrayLike, y_test: ArrayLike, p_test: ArrayLike,
    target: float = 0.95,
) -> str:
    """The highest threshold with recall >= ``target`` on validation, and the test recall and
    specificity at that threshold."""
    given = _entries(answer, ("threshold", "recall", "specificity"), "the threshold and the test rates")
    chosen = choose_threshold(y_val, p_val, "recall", target=target)
    on_val, on_test = chosen.metrics, metrics_at(y_test, p_test, chosen.threshold)
    at_given = metrics_at(y_val, p_val, given["threshold"]) if 0 <= given["threshold"] <= 1 else None
    if at_given is None or not np.array_equal(at_given["confusion_matrix"], on_val["confusion_matrix"]):
        own = choose_threshold(y_test, p_test, "recall", target=target).threshold
        if np.isclose(given["threshold"], own):
            raise _Hint("That threshold was chosen on the TEST split: it meets the target there by "
                        "construction and hides the shift. Choose it on validation.")
        raise _Hint(f"The threshold is not the highest one that catches {target:.0%} of pneumonia on "
                    "validation: metrics.choose_threshold(y_val, p_val, 'recall', target=...).")
    rates = {name: given[name] for name in ("recall", "specificity")}
    if all(_matches(rates[name], on_test[name]) for name in rates):
        change = on_test["specificity"] - on_val["specificity"]
        return (f"chosen on validation (recall {on_val['recall']:.2f}, specificity "
                f"{on_val['specificity']:.2f}), it gives recall {on_test['recall']:.2f} and specificity "
                f"{on_test['specificity']:.2f} on test: specificity moved by {change:+.2f}.")
    if all(_matches(rates[name], on_val[name]) for name in rates):
        raise _Hint("Those are the rates on validation, where the threshold was chosen; the question is "
                    "what happens on the test split at the same threshold.")
    swapped = {"recall": on_test["specificity"], "specificity": on_test["recall"]}
    if all(_matches(rates[name], swapped[name]) for name in rates):
        raise _Hint("Recall and specificity are swapped: recall is about the pneumonia images.")
    if any(_matches(value / 100, on_test[name]) for name, value in rates.items()):
        raise _Hint("Those look like percentages: give fractions between 0 and 1.")
    wrong = next(name for name in rates if not _matches(rates[name], on_test[name]))
    raise _Hint(f"The test {wrong} is not right yet: metrics.metrics_at(y_test, p_test, threshold).")

"""Metrics of a pneumonia detector at one threshold, on one vectorised counting core.

Every function takes ``y_true`` (1 = PNEUMONIA, 0 = NORMAL) and ``y_prob`` (the
model's probability of pneumonia) and predicts pneumonia when
``y_prob >= threshold``. Corner cases have fixed answers, so no number is ever
left undefined by accident:

* a ratio with nothing to count is 0.0, as scikit-learn's ``zero_division=0``:
  precision when no image is predicted pneumonia, recall when ``y_true`` holds no
  pneumonia, specificity when it holds no normal image, and F-scores with ``TP = 0``;
* ROC AUC needs both classes and PR AUC (average precision) needs a pneumonia;
  otherwise they are NaN and an :class:`UndefinedMetricWarning` says why;
* images with equal probabilities always fall on the same side of a threshold,
  and in ROC AUC a tie between a pneumonia and a normal image counts one half;
* thresholds 0 and 1 are allowed: 0 calls every image pneumonia, 1 only those at
  probability exactly 1.

The threshold sweep (:mod:`pneumolab.metrics.thresholds`), the bootstrap
(:mod:`pneumolab.metrics.bootstrap`) and the multi-class scores
(:mod:`pneumolab.metrics.multiclass`) all count on the core here.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike

from pneumolab.limits import check_threshold

#: The metrics that get a bootstrap confidence interval, in report order.
CI_METRICS = ("accuracy", "recall", "precision", "specificity", "f1", "roc_auc", "pr_auc", "brier")

#: What each metric says about a screening programme, for tables and widgets.
MEANING = {
    "accuracy": "share of all images called right",
    "recall": "sensitivity: share of pneumonia caught",
    "precision": "share of alarms that are pneumonia",
    "specificity": "share of normal images called normal",
    "f1": "harmonic mean of precision and recall",
    "fbeta": "like F1, with recall weighing beta times as much as precision",
    "roc_auc": "chance a pneumonia scores above a normal image",
    "pr_auc": "average precision over all recall levels",
    "brier": "mean squared error of the probabilities (lower is better)",
}

class UndefinedMetricWarning(UserWarning):
    """A metric is NaN because the data cannot define it (for example a single class)."""



# ---------------------------------------------------------------- metrics at a threshold


def metrics_at(y_true: ArrayLike, y_prob: ArrayLike, threshold: float = 0.5, *, beta: float = 2.0) -> dict:
    """Every metric at one threshold, as a dict.

    Keys: ``threshold, beta, n, prevalence, confusion_matrix`` (2x2 array
    ``[[TN, FP], [FN, TP]]``), ``accuracy, recall, precision, specificity, f1,
    fbeta, roc_auc, pr_auc, brier`` (floats) and ``notes``, which maps a metric to
    the reason it took a conventional value (see the module docstring).
    ``beta=2`` makes ``fbeta`` the F2 score, which values recall the way screening does.
    """
    y, p = check_scores(y_true, y_prob)
    threshold = check_threshold(threshold)
    found = scores_at(*grouped_counts(y, p, np.arange(y.size)[None]), threshold)
    tn, fp, fn, tp = (int(found[k][0]) for k in ("tn", "fp", "fn", "tp"))
    result = dict(threshold=threshold, beta=beta, n=int(y.size), prevalence=float(y.mean()),
                  confusion_matrix=np.array([[tn, fp], [fn, tp]]))
    result |= {name: float(found[name][0]) for name in CI_METRICS}
    result["fbeta"] = float(fbeta_from_counts(tp, fp, fn, beta))
    result["notes"] = _notes(tn, fp, fn, tp)
    undefined = [f"{k}: {result['notes'][k]}" for k in ("roc_auc", "pr_auc") if math.isnan(result[k])]
    if undefined:
        warnings.warn("; ".join(undefined), UndefinedMetricWarning, stacklevel=2)
    return result


def _notes(tn: int, fp: int, fn: int, tp: int) -> dict[str, str]:
    notes = {}
    if tp + fp == 0:
        notes["precision"] = "no image predicted pneumonia: set to 0.0 (zero_division=0)"
    if tp + fn == 0:
        notes["recall"] = "no pneumonia in y_true: set to 0.0 (zero_division=0)"
        notes["pr_auc"] = "undefined without a pneumonia in y_true: NaN"
    if tn + fp == 0:
        notes["specificity"] = "no normal image in y_true: set to 0.0 (zero_division=0)"
    if tp + fn == 0 or tn + fp == 0:
        notes["roc_auc"] = "undefined with only one class in y_true: NaN"
    return notes


def check_scores(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """``y_true`` and ``y_prob`` as int and float arrays; a plain-words error when they cannot be scored."""
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=float)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"y_true and y_prob must be 1-D and equally long, not {y.shape} and {p.shape}.")
    if y.size == 0:
        raise ValueError("There are no images to evaluate.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (NORMAL) and 1 (PNEUMONIA).")
    if not (np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1):
        raise ValueError("y_prob must hold probabilities between 0 and 1.")
    return y.astype(np.int64), p


# The computing core. Images are pooled by distinct probability (ascending), and
# each row of ``pos``/``neg`` says how many pneumonia/normal images of one sample
# sit at each probability. The plain data set is one row of ones; a bootstrap
# resample is a row of counts. So point estimates, threshold sweeps and
# bootstraps share one exact, vectorized computation, and
# :mod:`pneumolab.metrics.multiclass` scores each class one-vs-rest with it.


def grouped_counts(
    y: np.ndarray, p: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct probabilities and the pneumonia/normal counts at each, for each row of image indices."""
    values, group = np.unique(p, return_inverse=True)
    n_rows, n_groups = rows.shape[0], values.size
    slots = (np.arange(n_rows)[:, None] * n_groups + group[rows]).ravel()
    size = n_rows * n_groups
    pos = np.bincount(slots, weights=y[rows].ravel(), minlength=size).reshape(n_rows, n_groups)
    total = np.bincount(slots, minlength=size).reshape(n_rows, n_groups)
    return values, pos, total - pos


def confusion_counts(values: np.ndarray, pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray) -> dict:
    """TN, FP, FN, TP of every row at every threshold, each of shape (rows, thresholds)."""
    cut = np.searchsorted(values, thresholds, side="left")
    pos_below = np.pad(np.cumsum(pos, axis=1), ((0, 0), (1, 0)))
    neg_below = np.pad(np.cumsum(neg, axis=1), ((0, 0), (1, 0)))
    fn, tn = pos_below[:, cut], neg_below[:, cut]
    return dict(tn=tn, fp=neg_below[:, -1:] - tn, fn=fn, tp=pos_below[:, -1:] - fn)


def rates(tn: np.ndarray, fp: np.ndarray, fn: np.ndarray, tp: np.ndarray) -> dict:
    """Accuracy, recall, precision, specificity and F1 from confusion counts, elementwise."""
    return dict(
        accuracy=safe_ratio(tp + tn, tp + tn + fp + fn),
        recall=safe_ratio(tp, tp + fn),
        precision=safe_ratio(tp, tp + fp),
        specificity=safe_ratio(tn, tn + fp),
        f1=fbeta_from_counts(tp, fp, fn, 1.0),
    )


def fbeta_from_counts(tp: ArrayLike, fp: ArrayLike, fn: ArrayLike, beta: float) -> np.ndarray:
    """F-beta from counts, elementwise (0.0 when ``TP = 0``), so stacks of resamples are scored at once."""
    tp, fp, fn = (np.asarray(a, dtype=float) for a in (tp, fp, fn))
    weight = beta**2
    return safe_ratio((1 + weight) * tp, (1 + weight) * tp + weight * fn + fp)


def safe_ratio(num: ArrayLike, den: ArrayLike, empty: float = 0.0) -> np.ndarray:
    """``num / den`` elementwise, ``empty`` where ``den`` is 0: a ratio with nothing to count is defined."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    return np.divide(num, den, out=np.full(num.shape, empty), where=den > 0)


def ranking_scores(values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> dict:
    """ROC AUC (rank form, ties count half), average precision and Brier score of every row."""
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    roc_auc = safe_ratio((pos * (neg_below + 0.5 * neg)).sum(axis=1), n_pos * n_neg, empty=np.nan)
    pos_down, neg_down = pos[:, ::-1], neg[:, ::-1]
    precision = safe_ratio(np.cumsum(pos_down, axis=1), np.cumsum(pos_down + neg_down, axis=1))
    pr_auc = safe_ratio((pos_down * precision).sum(axis=1), n_pos, empty=np.nan)
    squared_error = (pos * (1 - values) ** 2 + neg * values**2).sum(axis=1)
    return dict(roc_auc=roc_auc, pr_auc=pr_auc, brier=squared_error / (n_pos + n_neg))


def scores_at(values: np.ndarray, pos: np.ndarray, neg: np.ndarray, threshold: float) -> dict:
    """Counts, rates and ranking scores of every row of :func:`grouped_counts` at one threshold."""
    counts = {k: v[:, 0] for k, v in confusion_counts(values, pos, neg, np.array([threshold])).items()}
    return counts | rates(**counts) | ranking_scores(values, pos, neg)

"""Normal, bacterial, viral: scores of a three-class model.

A model of several classes (the ``cause`` task: normal, bacteria, virus) gives
one probability per class and predicts the most probable. :func:`multiclass_report`
judges it with per-class recall, precision, F1 and one-vs-rest ROC AUC, plus
bootstrap intervals; :func:`multiclass_table` shows the per-class part as a
table; :func:`pair_scores` turns two of the classes into a yes/no question
("viral or bacterial?") that :mod:`pneumolab.metrics.thresholds` and
:mod:`pneumolab.metrics.report` then judge like any pneumonia detector.

The one-vs-rest ROC AUC reuses the exact ranking core of :mod:`pneumolab.metrics.binary`,
so a class's AUC here equals the binary AUC of "this class or not", ties counting
one half, and the same conventions hold: a ratio with nothing to count is 0.0,
an AUC of a class absent from the labels is None.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pneumolab import config
from pneumolab.metrics.binary import fbeta_from_counts, grouped_counts, ranking_scores, safe_ratio
from pneumolab.metrics.report import interval_text, json_ready


def multiclass_report(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    classes: Sequence[str],
    *,
    ci: bool = True,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = config.SEED,
) -> dict:
    """The verdict for a task of several classes (normal, bacteria, virus), ready for ``json.dumps``.

    ``y_true`` holds class indices and ``y_prob`` one column of probabilities per
    class; the predicted class is the most probable one. Keys: ``classes, n,
    accuracy, macro_f1, macro_roc_auc, per_class`` (name -> ``recall, precision,
    f1, roc_auc, support``), ``confusion_matrix`` (rows true, columns predicted),
    ``ci`` and ``ci_level``. ``roc_auc`` is one-vs-rest: the chance that an image
    of the class gets a higher probability of that class than an image of any
    other class; it is None for a class absent from ``y_true``. ``ci`` holds
    percentile bootstrap intervals ``[low, high]`` of ``accuracy, macro_f1,
    macro_roc_auc`` and, under ``per_class``, of each class's ``recall,
    precision, f1, roc_auc``; with ``ci=False`` it is None.
    """
    y, probs = np.asarray(y_true), np.asarray(y_prob, dtype=float)
    k = len(classes)
    if probs.shape != (y.size, k) or y.size == 0:
        raise ValueError(f"Expected y_prob of shape ({y.size}, {k}) for {k} classes, got {probs.shape}.")
    if not np.isin(y, range(k)).all():
        raise ValueError(f"y_true must hold class indices 0 to {k - 1}.")
    y = y.astype(np.int64)
    found = _multiclass_scores(y, probs, np.arange(y.size)[None])
    scores = {name: values[0] for name, values in found.items()}
    result = dict(classes=list(classes), n=y.size, accuracy=scores["accuracy"], macro_f1=scores["macro_f1"],
                  macro_roc_auc=scores["macro_roc_auc"])
    result["per_class"] = {
        name: {key: scores[key][i] for key in ("recall", "precision", "f1", "roc_auc", "support")}
        for i, name in enumerate(classes)
    }
    result["confusion_matrix"] = scores["confusion_matrix"]
    result["ci"] = result["ci_level"] = None
    if ci:
        rows = np.random.default_rng(seed).integers(0, y.size, size=(n_boot, y.size))
        samples = _multiclass_scores(y, probs, rows)
        tail = (1 - level) / 2

        def interval(values: np.ndarray) -> np.ndarray:
            """Percentiles per column, skipping resamples where a score is undefined (NaN)."""
            return pd.DataFrame(values).quantile([tail, 1 - tail]).to_numpy().T

        result["ci"] = {name: interval(samples[name][:, None])[0]
                        for name in ("accuracy", "macro_f1", "macro_roc_auc")}
        per_class = {key: interval(samples[key]) for key in ("recall", "precision", "f1", "roc_auc")}
        result["ci"]["per_class"] = {name: {key: bounds[i] for key, bounds in per_class.items()}
                                     for i, name in enumerate(classes)}
        result["ci_level"] = level
    return json_ready(result)


def multiclass_table(report: dict) -> pd.DataFrame:
    """The per-class part of a :func:`multiclass_report` as a table, one row per class.

    Columns ``support, recall, precision, f1, roc_auc``, each score followed by
    its ``95% CI`` (as text ``[low, high]``) when the report has intervals.
    """
    rows = {}
    for name, scores in report["per_class"].items():
        row = {"support": scores["support"]}
        for metric in ("recall", "precision", "f1", "roc_auc"):
            row[metric] = scores[metric]
            if report["ci"]:
                low, high = report["ci"]["per_class"][name][metric]
                row[f"{metric} {report['ci_level']:.0%} CI"] = interval_text((low, high))
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("class")


def pair_scores(
    y_true: ArrayLike, y_prob: ArrayLike, classes: Sequence[str], *, positive: str, negative: str
) -> tuple[np.ndarray, np.ndarray]:
    """A yes/no question between two classes of a multi-class model: labels and scores of their images.

    Keeps the images whose true class is ``positive`` or ``negative`` (label 1
    and 0) and scores each by ``p_positive / (p_positive + p_negative)``: the
    model's probability of ``positive`` given that it is one of the two (0.5
    when the model gives both 0). Among pneumonia images, ``positive="virus",
    negative="bacteria"`` asks "viral or bacterial?", comparable to a model
    trained on that question alone; the scores feed
    :func:`pneumolab.metrics.thresholds.choose_threshold` and :func:`pneumolab.metrics.report.report`
    like any probability.
    """
    y, probs = np.asarray(y_true), np.asarray(y_prob, dtype=float)
    names = list(classes)
    if probs.ndim != 2 or probs.shape != (y.size, len(names)):
        raise ValueError(f"Expected y_prob of shape ({y.size}, {len(names)}), got {probs.shape}.")
    for name in (positive, negative):
        if name not in names:
            raise ValueError(f"{name!r} is not one of the classes {names}.")
    pos, neg = names.index(positive), names.index(negative)
    if pos == neg:
        raise ValueError("positive and negative must be two different classes.")
    kept = np.isin(y, (pos, neg))
    p_pos, p_neg = probs[kept, pos], probs[kept, neg]
    both = p_pos + p_neg
    score = np.divide(p_pos, both, out=np.full(p_pos.shape, 0.5), where=both > 0)
    return (y[kept] == pos).astype(np.int64), score


def _multiclass_scores(y: np.ndarray, probs: np.ndarray, rows: np.ndarray) -> dict:
    """Confusion matrices and scores of each row of image indices (one row: the data set; more: resamples)."""
    k = probs.shape[1]
    matrices = _confusions(y, probs.argmax(axis=1), k, rows)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of a resample without any defined AUC
        auc = np.stack(
            [ranking_scores(*grouped_counts((y == c).astype(np.int64), probs[:, c], rows))["roc_auc"]
             for c in range(k)],
            axis=1,
        )
        macro_auc = np.nanmean(auc, axis=1)
    return _class_scores(matrices) | dict(confusion_matrix=matrices, roc_auc=auc, macro_roc_auc=macro_auc)


def _confusions(y: np.ndarray, predicted: np.ndarray, k: int, rows: np.ndarray) -> np.ndarray:
    """One k x k confusion matrix (rows true) per row of image indices."""
    cells = (np.arange(rows.shape[0])[:, None] * k * k + y[rows] * k + predicted[rows]).ravel()
    return np.bincount(cells, minlength=rows.shape[0] * k * k).reshape(-1, k, k)


def _class_scores(matrices: np.ndarray) -> dict:
    """Per-class and overall scores of each confusion matrix in a stack."""
    hits = np.diagonal(matrices, axis1=1, axis2=2)
    support, called = matrices.sum(axis=2), matrices.sum(axis=1)
    f1 = fbeta_from_counts(hits, called - hits, support - hits, 1.0)
    return dict(support=support, recall=safe_ratio(hits, support), precision=safe_ratio(hits, called), f1=f1,
                accuracy=hits.sum(axis=1) / support.sum(axis=1), macro_f1=f1.mean(axis=1))

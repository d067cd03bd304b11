"""Pictures of dataset shift (lesson 08): scores per split, the domain classifier, a threshold that
travels from validation to test, calibration per split, and the generalization comparison.

Every function takes computed arrays, records (:class:`pneumolab.metrics.shift.DomainShift`) or tables
(:func:`pneumolab.metrics.shift.read_generalization`) and returns a Figure built without pyplot, ready
for :func:`pneumolab.viz.figures.save_figure`. Scores are ``{split name: (y_true, y_prob)}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from pneumolab.config import LABELS
from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.calibration import brier_score, reliability_curve
from pneumolab.metrics.shift import DomainShift
from pneumolab.viz.evaluation import OPERATING_POINT, plot_roc

Scores = Mapping[str, tuple[ArrayLike, ArrayLike]]

#: Probabilities labelled on the logit axis of the score histograms.
_TICKS = (1e-4, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999)
_CLIP = 1e-5  # probabilities beyond 1e-5 and 1 - 1e-5 pile up in the outermost bins
_COLORS = {"NORMAL": "tab:blue", "PNEUMONIA": "tab:red", "train": "tab:green", "test": "tab:purple"}


def _logit(p: ArrayLike) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=float), _CLIP, 1 - _CLIP)
    return np.log(p / (1 - p))


def _logit_axis(ax: Axes) -> None:
    low, high = _logit([0.0, 1.0])
    ticks = [t for t in _TICKS if low <= _logit([t])[0] <= high]
    ax.set_xticks(_logit(ticks), [f"{t:g}" for t in ticks], fontsize=8)
    ax.set_xlim(low - 0.3, high + 0.3)


def plot_split_scores(scores: Scores, *, threshold: float | None = None) -> Figure:
    """One panel per split: histograms of P(pneumonia) per true class, on a logit axis.

    A logit axis spreads out the probabilities that crowd near 0 and 1; each panel's title gives the
    split's ROC AUC, and a dashed line marks ``threshold`` when given.
    """
    figure = Figure(figsize=(5.2 * len(scores), 3.8), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(scores), sharex=True))
    bins = np.linspace(*_logit([0.0, 1.0]), 41)
    for ax, (name, (y_true, y_prob)) in zip(axes, scores.items(), strict=True):
        y, p = np.asarray(y_true), np.asarray(y_prob, dtype=float)
        for value, label in enumerate(LABELS):
            ax.hist(_logit(p[y == value]), bins=bins, alpha=0.6, color=_COLORS[label],
                    label=f"{label} ({(y == value).sum()})")
        if threshold is not None:
            ax.axvline(_logit([threshold])[0], color="black", ls="--", label=f"threshold {threshold:.3f}")
        _logit_axis(ax)
        ax.set(title=f"{name}: ROC AUC {metrics_at(y, p)['roc_auc']:.3f}", xlabel="P(pneumonia), logit scale",
               ylabel="images")
        ax.legend(loc="upper center", fontsize=8)
    return figure


def plot_domain_scores(shift: DomainShift, *, ax: Axes | None = None) -> Figure:
    """Histograms of the out-of-fold P(test) of training and test images, with the domain AUC."""
    ax = Figure(figsize=(6, 3.8), layout="constrained").subplots() if ax is None else ax
    bins = np.linspace(0, 1, 26)
    for value, name in enumerate(("train", "test")):
        chosen = shift.p_test[shift.domain == value]
        ax.hist(chosen, bins=bins, alpha=0.6, color=_COLORS[name], label=f"{name} images ({chosen.size})")
    low, high = shift.ci
    ax.set(xlabel="P(test image), out of fold", ylabel="images", xlim=(0, 1),
           title=f"Domain classifier: ROC AUC {shift.roc_auc:.3f} [{low:.3f}, {high:.3f}]")
    ax.legend(loc="upper center")
    return ax.figure


def plot_domain_gallery(
    test_like: Sequence[np.ndarray], p_test_like: ArrayLike, train_like: Sequence[np.ndarray],
    p_train_like: ArrayLike,
) -> Figure:
    """Two rows of films: the most test-like training images, then the most train-like test images,
    each with its out-of-fold P(test) (pictures read by the caller, e.g. ``data.read_gray``)."""
    rows = [("training film", test_like, np.asarray(p_test_like)), ("test film", train_like,
                                                                     np.asarray(p_train_like))]
    columns = max(1, len(test_like), len(train_like))
    figure = Figure(figsize=(2.4 * columns, 5.4), layout="constrained")
    axes = figure.subplots(2, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for row_axes, (kind, pictures, probs) in zip(axes, rows, strict=True):
        if len(pictures) != len(probs):
            raise ValueError(f"{len(pictures)} pictures but {len(probs)} probabilities for the {kind}s.")
        for ax, picture, p in zip(row_axes, pictures, probs, strict=False):
            ax.imshow(picture, cmap="gray")
            ax.set_title(f"{kind}\nP(test) = {p:.2f}", fontsize=9)
    figure.suptitle("Top: training films the classifier finds most test-like. "
                    "Bottom: test films it finds most train-like.", fontsize=10)
    return figure


def plot_threshold_transfer(
    y_test: ArrayLike, p_test: ArrayLike, val_threshold: float, test_threshold: float, *,
    ax: Axes | None = None,
) -> Figure:
    """The test ROC curve with two operating points: the threshold chosen on validation (filled), and
    the threshold that would have reached the target recall on test itself (hollow; for comparison
    only, since choosing on test is not allowed)."""
    figure = plot_roc(y_test, p_test, threshold=val_threshold, label="test split", ax=ax)
    ax = figure.axes[0] if ax is None else ax
    at = metrics_at(y_test, p_test, test_threshold)
    ax.plot([1 - at["specificity"]], [at["recall"]], ls="", marker="o", markersize=11, markerfacecolor="none",
            markeredgecolor="black", markeredgewidth=1.5,
            label=f"t = {test_threshold:.4g}, the same recall target met on test")
    chosen = metrics_at(y_test, p_test, val_threshold)
    color = [line for line in ax.get_lines() if line.get_gid() == OPERATING_POINT][-1].get_color()
    ax.plot([], [], ls="", marker="o", color=color, markeredgecolor="black",
            label=f"t = {val_threshold:.4g}, chosen on validation (recall {chosen['recall']:.2f})")
    ax.set_title("Test ROC: the validation threshold and the test's own")
    ax.legend(loc="lower right", fontsize=8)
    return figure


def plot_split_reliability(scores: Scores, *, n_bins: int = 10, ax: Axes | None = None) -> Figure:
    """Reliability diagram with one curve per split, each against its own labels (dot size: images)."""
    ax = Figure(figsize=(5, 5), layout="constrained").subplots() if ax is None else ax
    ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfectly calibrated")
    for name, (y_true, y_prob) in scores.items():
        curve = reliability_curve(y_true, y_prob, n_bins=n_bins)
        sizes = 15 + 250 * curve["count"] / curve["count"].sum()
        (line,) = ax.plot(curve["mean_prob"], curve["frac_positive"],
                          label=f"{name} (Brier {brier_score(y_true, y_prob):.3f})")
        ax.scatter(curve["mean_prob"], curve["frac_positive"], s=sizes, color=line.get_color(), zorder=3)
    ax.set(xlabel="mean predicted P(pneumonia)", ylabel="observed share of pneumonia", xlim=(0, 1),
           ylim=(0, 1), aspect="equal", title="Reliability per split")
    ax.legend(loc="upper left")
    return ax.figure


def plot_generalization(frame: pd.DataFrame) -> Figure:
    """Test ROC AUC of each candidate with its 95 % interval (validation AUC as a hollow mark), and the
    published results below them (a point, or a bar for a published range)."""
    figure = Figure(figsize=(7.5, 0.45 * len(frame) + 1.8), layout="constrained")
    ax = figure.subplots()
    positions = np.arange(len(frame))[::-1]
    for y, row in zip(positions, frame.itertuples(), strict=True):
        kit = row.source == "kit"
        color = "tab:blue" if kit else "dimgrey"
        if np.isfinite(row.test_roc_auc_low) and np.isfinite(row.test_roc_auc_high):
            ax.plot([row.test_roc_auc_low, row.test_roc_auc_high], [y, y], color=color,
                    lw=2 if kit else 5, alpha=1 if kit else 0.5, solid_capstyle="butt")
        if np.isfinite(row.test_roc_auc):
            ax.plot([row.test_roc_auc], [y], marker="o" if kit else "*", color=color,
                    markersize=8 if kit else 11)
        if kit and np.isfinite(row.val_roc_auc):
            ax.plot([row.val_roc_auc], [y], marker="D", markerfacecolor="none", color="tab:orange",
                    markersize=7)
    ax.plot([], [], "o-", color="tab:blue", label="kit: test ROC AUC, 95 % interval")
    ax.plot([], [], "D", markerfacecolor="none", color="tab:orange", label="kit: validation ROC AUC")
    ax.plot([], [], "*", color="dimgrey", markersize=11, label="published (test split)")
    ax.set_yticks(positions, list(frame["name"]))
    ax.set(xlabel="ROC AUC", title="Generalization: validation vs test, beside published results",
           ylim=(-0.7, len(frame) - 0.3))
    ax.set_xlim(right=max(1.003, ax.get_xlim()[1]))
    ax.grid(axis="x", alpha=0.3)
    figure.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    return figure

"""Pictures of a detector's quality.

ROC and PR curves (several models on one axes, the chosen operating point
marked), a confusion matrix in plain words, a threshold sweep and a reliability
diagram. Each function draws on ``ax`` when given one, else on a new figure, and
returns the figure, ready for :func:`pneumolab.viz.figures.save_figure`. Curves
accept one model's probabilities, or a dict ``{name: probabilities}`` to compare
models, and ``threshold`` as one number or a dict ``{name: threshold}``.

The error gallery :func:`plot_errors` shows the images that
:func:`pneumolab.metrics.outcomes.pick_errors` picked. Nothing here computes
over a split, reads a file or goes through pyplot; the slider panels built on
these pictures are in :mod:`pneumolab.widgets.thresholds`.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence

import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
from numpy.typing import ArrayLike

from pneumolab.config import LABELS
from pneumolab.metrics.binary import UndefinedMetricWarning, metrics_at
from pneumolab.metrics.calibration import brier_score, reliability_curve
from pneumolab.metrics.outcomes import OUTCOMES, ErrorPick
from pneumolab.metrics.thresholds import threshold_sweep

#: Thresholds labelled on the sweep's logit axis (those inside the probabilities' range).
LOGIT_TICKS = (1e-4, 1e-3, 0.01, 0.1, 0.5, 0.9, 0.99, 0.999, 0.9999)

#: ``gid`` of the marker at a chosen threshold, so tests and notebooks can find it.
OPERATING_POINT = "operating-point"

Probabilities = ArrayLike | Mapping[str, ArrayLike]
Thresholds = float | Mapping[str, float] | None


def plot_roc(
    y_true: ArrayLike, y_prob: Probabilities, *, threshold: Thresholds = None,
    label: str | None = None, ax: Axes | None = None,
) -> Figure:
    """ROC curve: share of pneumonia caught against share of normal images falsely flagged."""
    ax = _axes(ax)
    if not _has(ax, "chance"):
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="chance", gid="chance")
    for name, probs, chosen in _models(y_prob, threshold, label):
        sweep = threshold_sweep(y_true, probs)
        at = _quiet_metrics(y_true, probs, chosen)
        (line,) = ax.plot(np.r_[1 - sweep["specificity"], 0], np.r_[sweep["recall"], 0],
                          label=f"{name} (AUC {at['roc_auc']:.3f})")
        if chosen is not None:
            _mark(ax, 1 - at["specificity"], at["recall"], chosen, line.get_color())
    ax.set(xlabel="false alarm rate (1 - specificity)", ylabel="recall (sensitivity)",
           xlim=(-0.01, 1.01), ylim=(-0.01, 1.01), title="ROC curve")
    ax.legend(loc="lower right")
    return ax.figure


def plot_pr(
    y_true: ArrayLike, y_prob: Probabilities, *, threshold: Thresholds = None,
    label: str | None = None, ax: Axes | None = None,
) -> Figure:
    """Precision-recall curve: of the alarms raised, how many are pneumonia, at each recall."""
    ax = _axes(ax)
    if not _has(ax, "baseline"):
        prevalence = float(np.mean(y_true))
        ax.axhline(prevalence, ls=":", color="grey", label=f"no skill ({prevalence:.2f})", gid="baseline")
    for name, probs, chosen in _models(y_prob, threshold, label):
        sweep = threshold_sweep(y_true, probs).iloc[::-1]
        sweep = sweep[sweep["tp"] + sweep["fp"] > 0]
        at = _quiet_metrics(y_true, probs, chosen)
        (line,) = ax.plot(np.r_[0, sweep["recall"]], np.r_[sweep["precision"].iloc[0], sweep["precision"]],
                          drawstyle="steps-pre", label=f"{name} (AP {at['pr_auc']:.3f})")
        if chosen is not None:
            _mark(ax, at["recall"], at["precision"], chosen, line.get_color())
    ax.set(xlabel="recall (sensitivity)", ylabel="precision", xlim=(-0.01, 1.01), ylim=(-0.01, 1.01),
           title="Precision-recall curve")
    ax.legend(loc="lower left")
    return ax.figure


def plot_confusion(
    y_true: ArrayLike, y_prob: ArrayLike, threshold: float, *, ax: Axes | None = None
) -> Figure:
    """Confusion matrix at a threshold, each cell with its count, its share of the true class and its name."""
    return _draw_confusion(_axes(ax, figsize=(4.5, 4)), metrics_at(y_true, y_prob, threshold))


def plot_threshold_sweep(
    y_true: ArrayLike, y_prob: ArrayLike, threshold: float | None = None, *, ax: Axes | None = None
) -> Figure:
    """Precision, recall and specificity as the threshold moves: what is bought with what."""
    ax = _axes(ax, figsize=(7.5, 4))
    sweep = threshold_sweep(y_true, y_prob)
    flagged = sweep["tp"] + sweep["fp"] > 0
    for name in ("recall", "specificity", "precision"):
        values = sweep[name].where(flagged) if name == "precision" else sweep[name]
        ax.plot(sweep["threshold"], values, drawstyle="steps-pre", label=name)
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", label=f"chosen threshold {threshold:.3f}",
                   gid="chosen-threshold")
    # A logit axis: probabilities crowd near 0 and 1, where a linear axis squeezes all the movement.
    ax.set_xscale("logit")
    low, high = _logit_limits(y_prob, threshold)
    ticks = [t for t in LOGIT_TICKS if low <= t <= high]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set(xlabel="threshold, on a logit scale (predict pneumonia when probability >= threshold)",
           ylabel="value", xlim=(low, high), ylim=(-0.01, 1.01), title="Threshold sweep")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)
    return ax.figure


def _logit_limits(y_prob: ArrayLike, threshold: float | None) -> tuple[float, float]:
    """From just below the lowest probability to just above the highest, inside (0, 1)."""
    values = np.asarray(y_prob, dtype=float)
    if threshold is not None:
        values = np.r_[values, threshold]
    values = np.clip(values, 1e-6, 1 - 1e-6)
    low, high = np.log(values.min() / (1 - values.min())), np.log(values.max() / (1 - values.max()))
    margin = max(0.05 * (high - low), 0.2)
    return float(1 / (1 + np.exp(-(low - margin)))), float(1 / (1 + np.exp(-(high + margin))))


def plot_reliability(
    y_true: ArrayLike, y_prob: Probabilities, *, n_bins: int = 10, strategy: str = "uniform",
    label: str | None = None, ax: Axes | None = None,
) -> Figure:
    """Reliability diagram: do images given probability 0.8 have pneumonia 80% of the time?"""
    ax = _axes(ax, figsize=(4.5, 4.5))
    if not _has(ax, "perfect"):
        ax.plot([0, 1], [0, 1], ls=":", color="grey", label="perfectly calibrated", gid="perfect")
    for name, probs, _ in _models(y_prob, None, label):
        curve = reliability_curve(y_true, probs, n_bins=n_bins, strategy=strategy)
        brier = brier_score(y_true, probs)
        ax.plot(curve["mean_prob"], curve["frac_positive"], marker="o", label=f"{name} (Brier {brier:.3f})")
    ax.set(xlabel="mean predicted probability", ylabel="observed share of pneumonia",
           xlim=(0, 1), ylim=(0, 1), aspect="equal", title="Reliability diagram")
    ax.legend(loc="upper left")
    return ax.figure


def plot_errors(picked: ErrorPick, pictures: Sequence[np.ndarray]) -> Figure:
    """A gallery of the images of one kind of error, each with its P(pneumonia) and rank.

    ``picked`` comes from :func:`pneumolab.metrics.outcomes.pick_errors`;
    ``pictures`` are its images, in the order of ``picked.rows`` (read by the
    caller, e.g. with :func:`pneumolab.data.eda.read_gray`: drawing reads no files).
    """
    if len(pictures) != len(picked.rows):
        raise ValueError(f"Expected {len(picked.rows)} pictures, one per picked image, got {len(pictures)}.")
    columns = max(1, min(4, len(picked.rows)))
    rows = max(1, -(-len(picked.rows) // columns))
    figure = Figure(figsize=(2.6 * columns, 2.8 * rows), layout="constrained")
    axes = figure.subplots(rows, columns, squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, row, picture in zip(axes.ravel(), picked.rows.itertuples(), pictures, strict=False):
        ax.imshow(picture, cmap="gray")
        # The rank tells apart probabilities that all round to 1.000.
        ax.set_title(f"P(pneumonia) = {row.probability:.3f}\nrank {row.rank} of {picked.scored}", fontsize=8)
    figure.suptitle(f"{picked.found} {picked.kind}s at threshold {picked.threshold:.3f} "
                    f"(showing {len(picked.rows)})")
    return figure


def _draw_confusion(ax: Axes, metrics: dict) -> Figure:
    counts = metrics["confusion_matrix"]
    shares = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    words = {(truth, call): name for truth, call, name in OUTCOMES.values()}  # rows: true, columns: called
    text = [[f"{counts[i, j]} ({shares[i, j]:.0%})\n{words[bool(i), bool(j)]}" for j in range(2)]
            for i in range(2)]
    sns.heatmap(shares, annot=np.array(text), fmt="", cmap="Blues", vmin=0, vmax=1, cbar=False,
                xticklabels=LABELS, yticklabels=LABELS, ax=ax)
    ax.set(xlabel="predicted", ylabel="true",
           title=f"Confusion matrix at threshold {metrics['threshold']:.3f}")
    return ax.figure


def _quiet_metrics(y_true: ArrayLike, y_prob: ArrayLike, threshold: float | None) -> dict:
    """metrics_at (at 0.5 when none is chosen), silent: a NaN AUC in a legend says enough."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        return metrics_at(y_true, y_prob, 0.5 if threshold is None else threshold)


def _models(y_prob: Probabilities, threshold: Thresholds, label: str | None) -> list[tuple]:
    """(name, probabilities, threshold or None) of each model to draw."""
    named = dict(y_prob) if isinstance(y_prob, Mapping) else {label or "model": y_prob}
    chosen = threshold if isinstance(threshold, Mapping) else dict.fromkeys(named, threshold)
    return [(name, np.asarray(probs, dtype=float), chosen.get(name)) for name, probs in named.items()]


def _mark(ax: Axes, x: float, y: float, threshold: float, color: str) -> None:
    """The operating point, and its threshold in the curve's colour.

    Each further model's label is moved one line further away, so the labels of
    operating points that lie close together never print on top of each other.
    """
    earlier = sum(1 for line in ax.get_lines() if line.get_gid() == OPERATING_POINT)
    ax.plot([x], [y], ls="", marker="o", markersize=9, color=color, markeredgecolor="black",
            gid=OPERATING_POINT, label="_operating point")
    step = -13 if y > 0.5 else 13  # labels go towards the middle of the axes
    ax.annotate(f"t = {threshold:.3f}", (x, y), xytext=(9, step * (earlier + 1)), textcoords="offset points",
                fontsize=9, color=color, fontweight="bold",
                arrowprops=dict(arrowstyle="-", color=color, lw=0.8) if earlier else None)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5, 5)) -> Axes:
    """``ax``, or the axes of a new figure that pyplot does not manage (shown by save_figure)."""
    return Figure(figsize=figsize, layout="constrained").subplots() if ax is None else ax


def _has(ax: Axes, gid: str) -> bool:
    return any(artist.get_gid() == gid for artist in ax.get_lines())

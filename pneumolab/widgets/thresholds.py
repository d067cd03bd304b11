"""Slider panels to move a detector's threshold by hand, or to price a missed pneumonia.

:func:`threshold_explorer` moves the threshold itself; :func:`cost_explorer`
moves the cost of a missed pneumonia (counted in false alarms) and lets the
threshold follow as the cheapest one on these (validation) data. Both redraw
the confusion matrix and the operating points on the ROC and PR curves
(:mod:`pneumolab.viz.evaluation`) with the metrics table, on every move.
"""

from __future__ import annotations

import io
from collections.abc import Callable

import ipywidgets as widgets
from IPython.display import Image
from matplotlib.figure import Figure
from numpy.typing import ArrayLike

from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.report import metrics_table
from pneumolab.metrics.thresholds import choose_threshold
from pneumolab.viz.evaluation import plot_confusion, plot_pr, plot_roc
from pneumolab.widgets.live import LivePanel


def threshold_explorer(y_true: ArrayLike, y_prob: ArrayLike, threshold: float = 0.5) -> LivePanel:
    """A panel with a threshold slider: the confusion matrix, the metrics and the points on
    the ROC and PR curves follow it."""
    slider = widgets.FloatSlider(value=threshold, min=0.0, max=1.0, step=0.001, description="threshold",
                                 readout_format=".3f", continuous_update=False)
    return _panel(y_true, y_prob, slider, float)


def cost_explorer(y_true: ArrayLike, y_prob: ArrayLike, cost_miss: float = 5.0, *,
                  prevalence: float | None = None) -> LivePanel:
    """A panel with a slider for the cost of a missed pneumonia, counted in false alarms; the
    threshold follows as the one of lowest expected cost on these (validation) data."""
    slider = widgets.FloatLogSlider(value=cost_miss, base=10, min=0, max=2, step=0.05,
                                    description="miss cost", readout_format=".1f", continuous_update=False)

    def cheapest(cost: float) -> float:
        choice = choose_threshold(y_true, y_prob, "cost", cost_miss=cost, prevalence=prevalence)
        return choice.threshold

    return _panel(y_true, y_prob, slider, cheapest)


def _panel(y_true: ArrayLike, y_prob: ArrayLike, slider: widgets.ValueWidget,
           to_threshold: Callable[[float], float]) -> LivePanel:
    """Slider, a one-line summary, a picture and a metrics table, redrawn on every move.

    HTML and Image widgets, not an Output, so the panel also updates outside a
    live kernel (Voila, tests). A :class:`~pneumolab.widgets.live.LivePanel`: in a
    notebook, the picture at the starting threshold stays under it.
    """
    summary, picture, table = widgets.HTML(), widgets.Image(format="png"), widgets.HTML()

    def update(_change: object = None) -> None:
        threshold = to_threshold(slider.value)
        metrics = metrics_at(y_true, y_prob, threshold)
        (tn, fp), (fn, tp) = metrics["confusion_matrix"]
        summary.value = (f"<b>threshold {threshold:.3f}</b>: {tp} of {tp + fn} pneumonia caught, "
                         f"{fn} missed; {fp} false alarms among {tn + fp} normal images")
        table.value = metrics_table(metrics).to_html(index=False, float_format="{:.3f}".format)
        picture.value = _panel_png(y_true, y_prob, threshold)

    slider.observe(update, names="value")
    update()
    return LivePanel([slider, summary, picture, table], still=Image(data=picture.value, format="png"))


def _panel_png(y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> bytes:
    """The confusion matrix, ROC and PR curves at ``threshold``, side by side, as PNG bytes."""
    figure = Figure(figsize=(13, 4), layout="constrained")
    axes = figure.subplots(1, 3)
    plot_confusion(y_true, y_prob, threshold, ax=axes[0])
    plot_roc(y_true, y_prob, threshold=threshold, ax=axes[1])
    plot_pr(y_true, y_prob, threshold=threshold, ax=axes[2])
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    return buffer.getvalue()

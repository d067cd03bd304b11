import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from pneumolab.metrics.outcomes import pick_errors
from pneumolab.viz import evaluation as plots

Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


@pytest.fixture(autouse=True)
def _close_figures():
    matplotlib.use("Agg")
    yield
    plt.close("all")


def markers(ax):
    return [line for line in ax.get_lines() if line.get_gid() == plots.OPERATING_POINT]


def legend_texts(ax):
    return [text.get_text() for text in ax.get_legend().get_texts()]


def test_roc_compares_models_with_aucs_and_marks_each_operating_point():
    figure = plots.plot_roc(Y, {"a": P, "b": [0.3, 0.2, 0.6, 0.9]}, threshold={"a": 0.5, "b": 0.6})
    ax = figure.axes[0]
    assert legend_texts(ax) == ["chance", "a (AUC 0.750)", "b (AUC 1.000)"]
    a_point, b_point = markers(ax)
    assert (a_point.get_xdata()[0], a_point.get_ydata()[0]) == (0.0, 0.5)  # no false alarm, half caught
    assert (b_point.get_xdata()[0], b_point.get_ydata()[0]) == (0.0, 1.0)


def test_curves_added_to_given_axes_share_one_reference_line():
    figure, ax = plt.subplots()
    assert plots.plot_pr(Y, P, label="first", ax=ax) is figure
    plots.plot_pr(Y, [0.3, 0.2, 0.6, 0.9], threshold=0.5, label="second", ax=ax)
    assert legend_texts(ax) == ["no skill (0.50)", "first (AP 0.833)", "second (AP 1.000)"]
    (point,) = markers(ax)
    assert (point.get_xdata()[0], point.get_ydata()[0]) == (1.0, 1.0)


def test_confusion_matrix_names_its_cells():
    ax = plots.plot_confusion(Y, P, 0.5).axes[0]
    texts = [text.get_text() for text in ax.texts]
    assert texts == ["2 (100%)\ncorrect normal", "0 (0%)\nfalse alarm",
                     "1 (50%)\nmissed pneumonia", "1 (50%)\ncaught pneumonia"]
    assert "0.50" in ax.get_title()


def test_threshold_sweep_marks_the_chosen_threshold(scores):
    ax = plots.plot_threshold_sweep(*scores, threshold=0.3).axes[0]
    assert [line.get_label() for line in ax.get_lines()[:3]] == ["recall", "specificity", "precision"]
    (chosen,) = [line for line in ax.get_lines() if line.get_gid() == "chosen-threshold"]
    assert chosen.get_xdata()[0] == 0.3


def test_reliability_diagram_draws_each_model(scores):
    y, p = scores
    ax = plots.plot_reliability(y, {"raw": p, "sharpened": p**2}).axes[0]
    assert len(ax.get_lines()) == 3
    assert legend_texts(ax)[1].startswith("raw (Brier ")


def test_threshold_sweep_spreads_probabilities_near_0_and_1_on_a_logit_axis():
    y = np.r_[np.zeros(50), np.ones(50)]
    p = np.r_[np.linspace(0.9, 0.99, 50), np.linspace(0.995, 0.99995, 50)]
    ax = plots.plot_threshold_sweep(y, p, threshold=0.996).axes[0]
    assert ax.get_xscale() == "logit"
    low, high = ax.get_xlim()
    assert 0.5 < low < 0.9 and 0.99995 < high < 1


def test_close_operating_points_get_labels_that_do_not_overlap():
    ax = plots.plot_roc(Y, {"a": P, "b": P}, threshold={"a": 0.5, "b": 0.5}).axes[0]
    first, second = (text for text in ax.texts if text.get_text() == "t = 0.500")
    assert first.xyann != second.xyann


def test_error_gallery_titles_tell_apart_probabilities_that_round_to_one():
    scored = pd.DataFrame({"path": ["a.png", "b.png", "c.png"], "label": "NORMAL",
                           "probability": [0.99991, 0.99962, 0.2]})
    picked = pick_errors(scored, threshold=0.5, kind="false alarm")
    figure = plots.plot_errors(picked, [np.full((16, 16), 40 * i, np.uint8) for i in range(len(picked.rows))])
    titles = sorted(ax.get_title() for ax in figure.axes if ax.get_title())
    assert titles == ["P(pneumonia) = 1.000\nrank 1 of 3", "P(pneumonia) = 1.000\nrank 2 of 3"]
    assert figure.get_suptitle() == "2 false alarms at threshold 0.500 (showing 2)"


def test_error_gallery_wants_one_picture_per_picked_image():
    scored = pd.DataFrame({"path": ["a.png", "b.png"], "label": "NORMAL", "probability": [0.9, 0.8]})
    with pytest.raises(ValueError, match="Expected 2 pictures"):
        plots.plot_errors(pick_errors(scored, 0.5), [np.zeros((4, 4))])


def test_new_figures_are_not_left_in_pyplot():
    plots.plot_roc(Y, P)
    assert plt.get_fignums() == []

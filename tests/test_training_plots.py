import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from pneumolab.training.history import best_epoch  # noqa: E402
from pneumolab.viz.training import plot_history  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def marked_epochs(figure):
    lines = [line for ax in figure.axes for line in ax.get_lines()]
    return [line.get_xdata()[0] for line in lines if line.get_gid() == "best-epoch"]


def test_yes_no_history_marks_the_best_validation_auc_in_every_panel():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4], "loss": [0.7, 0.5, 0.4, 0.3],
                            "val_loss": [0.6, 0.3, 0.5, 0.6], "auc": [0.8, 0.9, 0.95, 0.97],
                            "val_auc": [0.85, 0.90, 0.93, 0.91]})
    assert best_epoch(history) == 3  # the best AUC, not the lowest loss (epoch 2)
    assert marked_epochs(plot_history(history)) == [3, 3]


def test_three_class_history_marks_the_lowest_validation_loss_of_the_final_stage():
    history = pd.DataFrame({"epoch": [1, 2, 3, 4, 5], "loss": [1.0, 0.8, 0.7, 0.6, 0.5],
                            "val_loss": [0.9, 0.5, 0.7, 0.6, 0.65],
                            "stage": ["head", "head", "top stage", "top stage", "top stage"]})
    assert best_epoch(history) == 4  # epoch 2 is lower, but the head's weights were not the ones kept
    figure = plot_history(history)
    assert marked_epochs(figure) == [4]
    assert any("best epoch (4, kept)" == text.get_text() for text in figure.axes[0].get_legend().get_texts())

import matplotlib
import pytest

from pneumolab.widgets.thresholds import cost_explorer, threshold_explorer


@pytest.fixture(autouse=True)
def _agg():
    matplotlib.use("Agg")


def test_threshold_explorer_follows_its_slider(scores):
    panel = threshold_explorer(*scores, threshold=0.5)
    slider, summary, picture, table = panel.children
    before = (summary.value, table.value, bytes(picture.value))
    assert "threshold 0.500" in summary.value and "recall" in table.value
    assert bytes(picture.value).startswith(b"\x89PNG")
    slider.value = 0.9
    assert "threshold 0.900" in summary.value
    assert (summary.value, table.value, bytes(picture.value)) != before


def test_cost_explorer_lowers_the_threshold_as_misses_get_dearer(scores):
    panel = cost_explorer(*scores, cost_miss=1.0)
    slider, summary = panel.children[:2]

    def shown_threshold():
        return float(summary.value.split("threshold ")[1].split("<")[0])

    cheap = shown_threshold()
    slider.value = 50.0
    assert shown_threshold() < cheap

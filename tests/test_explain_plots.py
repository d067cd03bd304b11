import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pneumolab.explain.gallery import ExplainedCalls  # noqa: E402
from pneumolab.viz import explain as explain_plots  # noqa: E402


def test_map_grid_has_a_colour_bar_and_each_models_call_under_its_maps():
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    scored = pd.DataFrame({"label": ["NORMAL", "PNEUMONIA"], "probability": [0.99962, 0.31]})
    captions = explain_plots.call_captions(scored, threshold=0.5)
    assert captions == ["P = 1.000, false alarm", "P = 0.310, missed pneumonia"]
    open_before = plt.get_fignums()
    figure = explain_plots.map_grid(images, {"model": np.zeros((2, 4, 4))}, captions={"model": captions})
    assert plt.get_fignums() == open_before, "a bare Figure: pyplot keeps nothing open"
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "share of the map's peak"
    map_axes = [ax for ax in figure.axes if ax.get_xlabel().startswith("P = ")]
    assert [ax.get_xlabel() for ax in map_axes] == captions


def test_a_gallery_draws_the_computed_calls_and_says_when_there_is_nothing():
    images = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 1)).astype(np.float32)
    maps = np.random.default_rng(2).random((3, 32, 32)).astype(np.float32)
    explained = ExplainedCalls(images, maps, ["a", "b", "c"], "three calls")
    figure = explain_plots.explanation_gallery(explained)
    assert len(figure.axes) == 2 * 3 + 1  # images over their overlays, and the colour bar
    assert [ax.get_title() for ax in figure.axes[:3]] == ["a", "b", "c"]
    assert figure.get_suptitle() == "three calls"
    empty = ExplainedCalls(images[:0], maps[:0], [], "missed pneumonia: 0 images: nothing to show")
    note = explain_plots.explanation_gallery(empty)
    assert note.axes[0].texts[0].get_text() == empty.heading

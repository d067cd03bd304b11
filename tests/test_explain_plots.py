import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pneumolab.viz import explain as explain_plots  # noqa: E402


def test_map_grid_has_a_colour_bar_and_each_models_call_under_its_maps():
    images = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 1)).astype(np.float32)
    scored = pd.DataFrame({"label": ["NORMAL", "PNEUMONIA"], "probability": [0.99962, 0.31]})
    captions = explain_plots.call_captions(scored, threshold=0.5)
    assert captions == ["P = 1.000, false alarm", "P = 0.310, missed pneumonia"]
    figure = explain_plots.map_grid(images, {"model": np.zeros((2, 4, 4))}, captions={"model": captions})
    bars = [ax for ax in figure.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and bars[0].get_ylabel() == "share of the map's peak"
    map_axes = [ax for ax in figure.axes if ax.get_xlabel().startswith("P = ")]
    assert [ax.get_xlabel() for ax in map_axes] == captions
    plt.close(figure)

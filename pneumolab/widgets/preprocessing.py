"""The live explorer of lesson 02: pick an image, steps and a normalization; see the result at once."""

from __future__ import annotations

from collections.abc import Mapping

import ipywidgets as widgets
import numpy as np
from IPython.display import Image, display

from pneumolab.preprocess.steps import NORMALIZATIONS, Step, apply_chain, image_steps
from pneumolab.viz.figures import rendered
from pneumolab.viz.preprocess import render
from pneumolab.widgets.live import LivePanel


def preprocessing_explorer(examples: Mapping[str, np.ndarray]) -> widgets.Widget:
    """Pick an image, up to three steps and a normalization; see the result and its histogram live.

    A :class:`~pneumolab.widgets.live.LivePanel`: in a notebook, a still of its first picture stays under it.
    """
    style = dict(description_width="initial")
    picker = widgets.Dropdown(options=list(examples), description="image", style=style)
    names = list(image_steps())
    chosen = [widgets.Dropdown(options=names, value=default, description=f"step {i + 1}", style=style,
                               layout=widgets.Layout(width="240px"))
              for i, default in enumerate(("squash", "CLAHE", "none"))]
    normalization = widgets.Dropdown(options=list(NORMALIZATIONS), description="then", style=style)
    size = widgets.IntSlider(value=128, min=32, max=512, step=32, description="size", style=style)
    clip = widgets.FloatSlider(value=0.01, min=0.001, max=0.1, step=0.001, readout_format=".3f",
                               description="CLAHE clip limit", style=style)
    radius = widgets.IntSlider(value=2, min=0, max=8, description="close/open radius", style=style)
    output = widgets.Output()
    steps_cache: dict[tuple, dict[str, Step]] = {}

    def update(_change: object = None) -> None:
        key = (size.value, clip.value, radius.value)
        if key not in steps_cache:
            steps_cache[key] = image_steps(*key)
        steps = steps_cache[key]
        image = examples[picker.value]
        chain = [box.value for box in chosen if box.value != "none"]
        result = apply_chain(image, chain, normalization.value, steps)
        drawn.append(rendered(render(image, result, " → ".join([*chain, normalization.value]))))
        with output:
            output.clear_output(wait=True)
            display(drawn[-1])

    drawn: list[Image] = []  # as shown: a JPEG, small in a stored notebook's widget state
    for control in (picker, *chosen, normalization, size, clip, radius):
        control.observe(update, names="value")
    update()
    return LivePanel([
        widgets.HBox([picker, normalization]),
        widgets.HBox(chosen),
        widgets.HBox([size, clip, radius]),
        output,
    ], still=drawn[0])

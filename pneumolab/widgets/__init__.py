"""What a student or teacher clicks: the preprocessing explorer, the threshold and cost sliders, the panel.

``preprocessing`` is lesson 02's live explorer of preprocessing steps on real films;
``thresholds`` moves a decision threshold (or a cost) and redraws the
metrics; ``live`` is the widget that redraws a figure in place; ``panel`` is
the upload-and-predict page served with Voila, ``panel_view`` its HTML and
pictures, ``panel_server`` the Voila process that serves it to a class.
Widgets sit on top of the kit: they use data, preprocessing, models,
inference, metrics and the figures, and nothing below imports them. Inside
the package import from those submodules; this face is for notebooks and
users (``from pneumolab import widgets``; ``widgets.threshold_explorer(y, p)``).
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["live", "panel", "panel_server", "panel_view", "preprocessing", "thresholds"],
    submod_attrs={
        "preprocessing": ["preprocessing_explorer"],
        "thresholds": ["cost_explorer", "threshold_explorer"],
        "live": ["LivePanel"],
        "panel": ["build_panel"],
        "panel_view": ["upload_guard"],
    },
)

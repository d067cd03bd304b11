import ipywidgets
from IPython.display import Image

from pneumolab.widgets import live


def test_a_live_panel_leaves_a_still_picture_under_it(monkeypatch):
    shown = []
    monkeypatch.setattr(live, "display", lambda item, **kwargs: shown.append((item, kwargs)))
    still = Image(data=b"\x89PNG\r\n\x1a\nstub", format="png")
    panel = live.LivePanel([ipywidgets.IntSlider()], still=still)
    panel._ipython_display_()
    (widget, widget_kwargs), (picture, _) = shown
    assert "application/vnd.jupyter.widget-view+json" in widget and widget_kwargs == {"raw": True}
    assert picture is still

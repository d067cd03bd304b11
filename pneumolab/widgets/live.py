"""A slider panel that leaves a still picture of itself in a stored notebook.

A lesson's panel of widgets is live only with a running kernel; a stored
notebook (GitHub, a reader without Jupyter) would show ``VBox(children=...)``.
:class:`LivePanel` displays the live panel and, under it, a still picture of its
starting state (an ``IPython.display.Image``, e.g. from
:func:`pneumolab.viz.figures.rendered`).
"""

from __future__ import annotations

import ipywidgets as widgets
from IPython.display import Image, display


class LivePanel(widgets.VBox):
    """A panel of widgets that, displayed in a notebook, leaves a still picture of its start under it.

    ``still`` is what the panel shows when it opens. The live panel is displayed
    first; the still below it is what a stored notebook shows to a reader without a kernel.
    """

    def __init__(self, children: list[widgets.Widget], still: Image, **kwargs):
        super().__init__(children, **kwargs)
        self.still = still

    def _ipython_display_(self) -> None:
        display(self._repr_mimebundle_(), raw=True)
        display(self.still)

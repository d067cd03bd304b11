"""Saving figures where the course keeps them, and showing them in the lesson that made them.

:func:`save_figure` is the one step a lesson takes after drawing: it writes
the figure to ``figures/`` of the checkout and, when it runs in a Jupyter
kernel, displays it in the notebook, so what the text discusses is always on
the page (the package draws on plain :class:`~matplotlib.figure.Figure`
objects, which a notebook would not show by itself). Figures that show films
are displayed as JPEG, which keeps a stored notebook small; line plots as PNG,
which keeps lines sharp.

:func:`rendered` makes the picture a notebook shows; the lessons' slider panels
(:class:`pneumolab.widgets.live.LivePanel`) leave one under them as a still.

Only the full course writes to ``figures/``. A quick run (``PNEUMOLAB_QUICK=1``:
CI, a first try) draws from a small subset, so its figures go to
``runs/quick-figures/`` instead and never replace the course's own.
"""

from __future__ import annotations

import io
from pathlib import Path

from IPython.display import Image, display
from matplotlib.figure import Figure

from pneumolab import config
from pneumolab.progress import in_notebook

#: Resolution of the copy shown in a notebook (the saved file keeps its own ``dpi``).
SHOWN_DPI = 90
#: Smallest side, in pixels, of an image drawn in a figure that makes it a picture of films.
FILM_PIXELS = 32
#: JPEG quality of a displayed figure that shows films.
JPEG_QUALITY = 80


def figures_dir() -> Path:
    """``figures/`` of the checkout (``runs/quick-figures/`` in quick mode), created if needed."""
    if config.quick_mode():
        folder = config.runs_dir() / "quick-figures"
    else:
        folder = config.repository_root() / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_figure(figure: Figure, name: str, *, dpi: int = 120) -> Path:
    """Save ``figure`` as ``NAME.png`` in :func:`figures_dir`, show it in a notebook, and return the path.

    In a Jupyter kernel the figure is displayed once, here, and closed in
    pyplot, so the inline backend does not show it a second time.
    """
    path = figures_dir() / f"{Path(name).stem}.png"
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    if in_notebook():
        import matplotlib.pyplot as plt

        display(rendered(figure, dpi=min(dpi, SHOWN_DPI)))
        plt.close(figure)  # a no-op for a figure pyplot does not manage
    return path


def rendered(figure: Figure, *, dpi: int = SHOWN_DPI) -> Image:
    """The figure as an ``IPython.display.Image``: JPEG when it shows films, else PNG.

    A film is an image at least :data:`FILM_PIXELS` a side; a small image such
    as a 3 x 3 confusion matrix drawn with ``imshow`` stays a sharp PNG.
    """
    photographic = any(min(image.get_array().shape[:2]) >= FILM_PIXELS
                       for ax in figure.axes for image in ax.get_images())
    buffer = io.BytesIO()
    if photographic:
        figure.savefig(buffer, format="jpeg", dpi=dpi, bbox_inches="tight",
                       pil_kwargs={"quality": JPEG_QUALITY, "optimize": True})
    else:
        figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return Image(data=buffer.getvalue(), format="jpeg" if photographic else "png")

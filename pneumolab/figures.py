"""Saving figures where the course keeps them: ``figures/`` of the checkout.

Only the full course writes there. A quick run (``PNEUMOLAB_QUICK=1``: CI, a
first try) draws from a small subset, so its figures go to
``runs/quick-figures/`` instead and never replace the course's own.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pneumolab import config


def figures_dir() -> Path:
    """``figures/`` of the checkout (``runs/quick-figures/`` in quick mode), created if needed."""
    if config.quick_mode():
        folder = config.runs_dir() / "quick-figures"
    else:
        folder = config.repository_root() / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def save_figure(figure: Figure, name: str, *, dpi: int = 120) -> Path:
    """Save ``figure`` as ``NAME.png`` in :func:`figures_dir` (tight bounding box) and return the path."""
    path = figures_dir() / f"{Path(name).stem}.png"
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path

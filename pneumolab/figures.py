"""Saving figures where the course keeps them: ``figures/`` of the checkout."""

from __future__ import annotations

from pathlib import Path

from matplotlib.figure import Figure

from pneumolab import config


def figures_dir() -> Path:
    """The ``figures/`` folder of the checkout, created if needed."""
    folder = config.repository_root() / "figures"
    folder.mkdir(exist_ok=True)
    return folder


def save_figure(figure: Figure, name: str, *, dpi: int = 120) -> Path:
    """Save ``figure`` as ``figures/NAME.png`` (tight bounding box) and return the path."""
    path = figures_dir() / f"{Path(name).stem}.png"
    figure.savefig(path, dpi=dpi, bbox_inches="tight")
    return path

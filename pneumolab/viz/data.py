"""Figures of the data set for lesson 01: class balance, patients, leakage, duplicates, geometry, pixels.

Each function draws a table or record computed by :mod:`pneumolab.data.eda`
(which reads the manifest and the pixels); nothing here reads a file or
computes over a split. Figures are made without pyplot, so a notebook shows
each one once, as a cell's value, and nothing piles up between calls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from pneumolab.config import SPLITS
from pneumolab.data.eda import ordered_classes

if TYPE_CHECKING:
    from pneumolab.data.eda import DuplicatePair

#: One colour per finest class and per label, the same in every data figure.
COLORS = {"normal": "#4C72B0", "bacteria": "#DD8452", "virus": "#C44E52", "unknown": "#8C8C8C",
          "NORMAL": "#4C72B0", "PNEUMONIA": "#D1603D"}


def plot_class_balance(balance: pd.DataFrame) -> Figure:
    """Left: NORMAL vs PNEUMONIA images per split. Right: each split's share of every finest class.

    ``balance`` is :func:`pneumolab.data.eda.class_balance`'s table.
    """
    columns = list(balance.columns)
    causes = columns[columns.index("PNEUMONIA") + 1 : columns.index("total")]
    counts = balance[["NORMAL", *causes]].rename(columns={"NORMAL": "normal"})
    counts = counts.loc[:, counts.sum() > 0]
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    positions = np.arange(len(balance))
    for offset, label in ((-0.2, "NORMAL"), (0.2, "PNEUMONIA")):
        bars = left.bar(positions + offset, balance[label], width=0.4, label=label, color=COLORS[label])
        left.bar_label(bars, padding=2, fontsize=8)
    left.set(xticks=positions, xticklabels=balance.index, ylabel="images", title="Images per split and label")
    left.margins(y=0.15)
    left.legend(frameon=False)
    shares = 100 * counts.div(counts.sum(axis=1), axis=0)
    start = np.zeros(len(shares))
    for name in shares.columns:
        bars = right.barh(positions, shares[name], left=start, color=COLORS.get(name), label=name)
        right.bar_label(bars, labels=[f"{v:.0f}%" for v in shares[name]], label_type="center",
                        color="white", fontsize=8)
        start += shares[name].to_numpy()
    right.set(yticks=positions, yticklabels=shares.index, xlabel="% of the split's images", xlim=(0, 100),
              title="Finest classes")
    right.invert_yaxis()
    right.legend(frameon=False, ncols=len(shares.columns), loc="upper center", bbox_to_anchor=(0.5, -0.25))
    return figure


def plot_images_per_patient(per_patient: pd.DataFrame, cap: int = 10) -> Figure:
    """How many patients have 1, 2, ... images (``cap`` or more in the last bar), per split and label.

    ``per_patient`` is :func:`pneumolab.data.eda.images_per_patient`'s table.
    """
    table = per_patient
    splits = [split for split in SPLITS if (table["split"] == split).any()]
    figure = Figure(figsize=(5 * len(splits), 3.2), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(splits), sharey=True))
    bins = np.arange(1, cap + 1)
    for ax, split in zip(axes, splits, strict=True):
        rows = table.loc[table["split"] == split]
        for offset, label in ((-0.2, "NORMAL"), (0.2, "PNEUMONIA")):
            counts = rows.loc[rows["label"] == label, "images"].clip(upper=cap).value_counts()
            ax.bar(bins + offset, counts.reindex(bins, fill_value=0), width=0.4, color=COLORS[label],
                   label=label)
        ax.set(title=f"{split}: {len(rows)} patients, up to {rows['images'].max()} images each",
               xlabel="images per patient", xticks=bins, yscale="log")
        ax.set_xticklabels([*map(str, bins[:-1]), f"{cap}+"])
    axes[0].set_ylabel("patients (log scale)")
    axes[0].legend(frameon=False)
    return figure


def plot_split_leakage(leakage: pd.DataFrame) -> Figure:
    """Bars of :func:`split_leakage`: patients on both sides, and the share of validation images affected."""
    columns = ["patients on both sides", "val images whose patient is in train (%)"]
    figure = Figure(figsize=(10, 2.6), layout="constrained")
    for ax, column in zip(figure.subplots(1, 2), columns, strict=True):
        bars = ax.barh(leakage.index, leakage[column], color=["#C44E52", "#55A868"][: len(leakage)])
        ax.bar_label(bars, fmt="%g", padding=3, fontsize=9)
        ax.set(title=column)
        ax.margins(x=0.2)
        ax.invert_yaxis()
    figure.axes[1].set_yticks([])
    return figure


def plot_duplicate_pair(pair: DuplicatePair) -> Figure:
    """The files of one group of identical copies side by side, and their pixel difference.

    ``pair`` comes from :func:`pneumolab.data.eda.duplicate_pair`.
    """
    members, images = pair.members, pair.images
    figure = Figure(figsize=(2.6 * (len(images) + 1), 3), layout="constrained")
    axes = figure.subplots(1, len(images) + 1)
    for ax, image, row in zip(axes, images, members.itertuples(), strict=False):
        _show(ax, image, f"{row.file}\n{row.split}, {row.patient}")
    difference = np.abs(images[0].astype(int) - images[1].astype(int))
    _show(axes[-1], difference, f"|difference|\nmax = {difference.max()}")
    figure.suptitle(f"Duplicate group {pair.group}: md5 {members['md5'].iloc[0][:12]}…", fontsize=10)
    return figure


def plot_geometry(table: pd.DataFrame) -> Figure:
    """Width against height, aspect ratio and file size per label (no pixels read).

    ``table`` is :func:`pneumolab.data.eda.geometry`'s, from the manifest's sizes.
    """
    figure = Figure(figsize=(12, 3.4), layout="constrained")
    scatter, aspect, size = figure.subplots(1, 3)
    for label, rows in table.groupby("label"):
        scatter.scatter(rows["width"], rows["height"], s=6, alpha=0.3, color=COLORS.get(label), label=label)
    scatter.set(xlabel="width (pixels)", ylabel="height (pixels)", title="Image size")
    scatter.legend(frameon=False, markerscale=3)
    if table["size"].nunique() == 1:
        scatter.text(0.5, 0.25, f"all {len(table)} images are\n{table['size'].iloc[0]} pixels",
                     transform=scatter.transAxes, ha="center")
    _histograms(aspect, table, "aspect", "aspect ratio (width / height)")
    _histograms(size, table, "file kB", "file size (kB)")
    return figure


def _histograms(ax: Axes, table: pd.DataFrame, column: str, xlabel: str) -> None:
    low, high = table[column].min(), table[column].max()
    bins = np.linspace(low, high, 40) if high > low else np.array([low - 0.5, low + 0.5])
    for label, rows in table.groupby("label"):
        ax.hist(rows[column], bins=bins, alpha=0.55, color=COLORS.get(label), label=label, density=True)
    if high == low:
        ax.text(0.5, 0.5, f"all {low:g}", transform=ax.transAxes, ha="center", color="white")
    ax.set(xlabel=xlabel, ylabel="density", title=xlabel.split(" (")[0].capitalize())


def plot_intensity(table: pd.DataFrame) -> Figure:
    """Median grey-level histogram per class (band: the middle half of images), brightness and contrast."""
    hist_columns = [c for c in table if c.startswith("hist_")]
    levels = np.array([int(c[5:]) for c in hist_columns]) + 128 / len(hist_columns)
    figure = Figure(figsize=(12, 3.4), layout="constrained")
    histogram, brightness, contrast = figure.subplots(1, 3)
    classes = ordered_classes(table["class"])
    for name in classes:
        rows = table.loc[table["class"] == name, hist_columns].to_numpy()
        low, middle, high = np.percentile(rows, [25, 50, 75], axis=0)
        histogram.plot(levels, middle, color=COLORS[name], label=f"{name} ({len(rows)})")
        histogram.fill_between(levels, low, high, color=COLORS[name], alpha=0.2)
    histogram.set(xlabel="grey level", ylabel="fraction of pixels", title="Grey-level histogram",
                  xlim=(0, 255))
    histogram.legend(frameon=False)
    for ax, column, title in ((brightness, "mean", "Brightness: mean grey level per image"),
                              (contrast, "std", "Contrast: spread of grey levels per image")):
        bins = np.linspace(table[column].min(), table[column].max(), 30)
        for name in classes:
            ax.hist(table.loc[table["class"] == name, column], bins=bins, density=True, alpha=0.45,
                    color=COLORS[name], label=name)
        ax.set(xlabel=column, ylabel="density", title=title)
        ax.legend(frameon=False)
    return figure


def plot_samples(samples: Mapping[str, Sequence[tuple[str, np.ndarray]]]) -> Figure:
    """A grid of images, one row per finest class, from :func:`pneumolab.data.eda.sample_images`."""
    per_class = max((len(images) for images in samples.values()), default=1)
    figure = Figure(figsize=(1.4 * per_class, 1.55 * len(samples)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(samples), per_class))
    for row, (name, images) in zip(axes, samples.items(), strict=True):
        for ax in row:
            ax.set_axis_off()
        for ax, (title, pixels) in zip(row, images, strict=False):
            _show(ax, pixels, title, fontsize=6.5)
        row[0].text(-0.08, 0.5, name, transform=row[0].transAxes, rotation=90, va="center", ha="right",
                    fontsize=11, color=COLORS[name], weight="bold")
    return figure


def _show(ax: Axes, image: np.ndarray, title: str, fontsize: float = 8) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=fontsize)
    ax.set_axis_off()

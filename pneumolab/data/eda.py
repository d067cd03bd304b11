"""Looking at the data set before training on it: the tables and figures of lesson 01.

Every function reads a manifest (:func:`pneumolab.data.manifest.build_manifest`, with
``check=True`` where sizes or checksums are needed) and returns a DataFrame
or a matplotlib Figure. Figures are made without pyplot, so a notebook shows
each one once, as a cell's value, and nothing piles up between calls.
Geometry comes from the manifest's ``width`` and ``height``, so on the
original images the same code shows their real sizes. Pixels are read with
Pillow, at reduced scale for large originals; nothing here needs TensorFlow.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from PIL import Image

from pneumolab import config
from pneumolab.data import manifest as data
from pneumolab.data import reader

#: The finest classes, in the order every table and figure uses.
CLASSES = ("normal", "bacteria", "virus")
COLORS = {"normal": "#4C72B0", "bacteria": "#DD8452", "virus": "#C44E52", "unknown": "#8C8C8C",
          "NORMAL": "#4C72B0", "PNEUMONIA": "#D1603D"}

RANDOM_SPLIT = "random image-level split"
GROUPED_SPLIT = "grouped by patient (carve_validation)"


def _splits(frame: pd.DataFrame) -> list[str]:
    return [split for split in data.SPLITS if (frame["split"] == split).any()]


def _classes(classes: pd.Series) -> list[str]:
    """The finest classes present, in the usual order (any unexpected ones last)."""
    present = set(classes)
    return [c for c in CLASSES if c in present] + sorted(present - set(CLASSES))


def _class_counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Usable images per split (rows) and finest class (columns)."""
    good = data.usable(manifest)
    classes = data.class_of(good)
    return pd.crosstab(good["split"], classes).reindex(index=_splits(good), columns=_classes(classes))


# --- class balance -----------------------------------------------------------------------------------


def class_balance(manifest: pd.DataFrame) -> pd.DataFrame:
    """Images per split: NORMAL, PNEUMONIA, its causes, the total and the share of PNEUMONIA."""
    counts = _class_counts(manifest)
    causes = counts.drop(columns="normal", errors="ignore")
    table = pd.DataFrame({"NORMAL": counts.get("normal", 0), "PNEUMONIA": causes.sum(axis=1)})
    table = table.join(causes)
    table["total"] = counts.sum(axis=1)
    table["PNEUMONIA %"] = (100 * table["PNEUMONIA"] / table["total"]).round(1)
    table.index.name = "split"
    return table


def plot_class_balance(manifest: pd.DataFrame) -> Figure:
    """Left: NORMAL vs PNEUMONIA images per split. Right: each split's share of every finest class."""
    table = class_balance(manifest)
    counts = _class_counts(manifest)
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    left, right = figure.subplots(1, 2)
    positions = np.arange(len(table))
    for offset, label in ((-0.2, "NORMAL"), (0.2, "PNEUMONIA")):
        bars = left.bar(positions + offset, table[label], width=0.4, label=label, color=COLORS[label])
        left.bar_label(bars, padding=2, fontsize=8)
    left.set(xticks=positions, xticklabels=table.index, ylabel="images", title="Images per split and label")
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


# --- patients and leakage ----------------------------------------------------------------------------


def images_per_patient(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per (split, patient id): its label and how many images it has."""
    good = data.usable(manifest)
    grouped = good.groupby(["split", "patient"], sort=False)
    table = grouped.agg(label=("label", "first"), images=("path", "size")).reset_index()
    return table.sort_values(["split", "images"], ascending=[True, False], ignore_index=True)


def plot_images_per_patient(manifest: pd.DataFrame, cap: int = 10) -> Figure:
    """How many patients have 1, 2, ... images (``cap`` or more in the last bar), per split and label."""
    table = images_per_patient(manifest)
    splits = _splits(table)
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


def _leakage(pool: pd.DataFrame, in_val: np.ndarray) -> dict:
    """What a validation split shares with its training side: patients and identical files."""
    train_patients = set(pool.loc[~in_val, "patient"])
    val = pool.loc[in_val]
    found = {
        "val images": len(val),
        "val patients": val["patient"].nunique(),
        "patients on both sides": len(train_patients & set(val["patient"])),
        "val images whose patient is in train (%)": 100 * val["patient"].isin(train_patients).mean(),
    }
    if "md5" in pool and pool["md5"].astype(bool).any():
        hashed = pool.assign(in_val=in_val).loc[pool["md5"].astype(bool)]
        copies = hashed.loc[hashed["md5"].duplicated(keep=False)]
        found["duplicate groups on both sides"] = int((copies.groupby("md5")["in_val"].nunique() > 1).sum())
    return found


def split_leakage(
    manifest: pd.DataFrame, val_fraction: float = 0.2, seeds: Iterable[int] = range(5)
) -> pd.DataFrame:
    """Carve a validation split out of train two ways and count what leaks across (mean over ``seeds``).

    A random split by image lets a patient's X-rays land on both sides; the
    kit's :func:`pneumolab.data.manifest.carve_validation` groups by patient (and by
    identical file) so nothing does.
    """
    good = data.usable(manifest)
    source = good["source_split"] if "source_split" in good else good["split"]
    pool = good.loc[source.isin(["train", "val"])].reset_index(drop=True)
    if pool.empty:
        raise ValueError("The manifest has no training images to split.")
    rows = []
    for seed in seeds:
        in_val = np.zeros(len(pool), dtype=bool)
        in_val[np.random.default_rng(seed).permutation(len(pool))[: round(val_fraction * len(pool))]] = True
        rows.append({"split": RANDOM_SPLIT, **_leakage(pool, in_val)})
        carved = data.carve_validation(pool, val_fraction, seed=config.SEED + seed)
        rows.append({"split": GROUPED_SPLIT, **_leakage(pool, (carved["split"] == "val").to_numpy())})
    return pd.DataFrame(rows).groupby("split", sort=False).mean().round(1)


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


def shared_patient_ids(manifest: pd.DataFrame, first: str = "train", second: str = "test") -> pd.DataFrame:
    """Patient ids that appear in both splits, with their images and causes on each side.

    An id on both sides is not proof of one child: ids may be numbered
    separately per cause or per batch, so compare the causes.
    """
    good = data.usable(manifest)
    per_split = good.loc[good["split"].isin([first, second])].groupby(["patient", "split"])
    table = per_split.agg(images=("path", "size"), causes=("cause", lambda c: "+".join(sorted(set(c)))))
    table = table.unstack("split").dropna()
    table.columns = [f"{split} {what}" for what, split in table.columns]
    table = table[[f"{first} images", f"{second} images", f"{first} causes", f"{second} causes"]]
    table = table.astype({f"{first} images": int, f"{second} images": int})
    table["same cause"] = table[f"{first} causes"] == table[f"{second} causes"]
    return table.sort_index(key=lambda ids: ids.str.extract(r"(\d+)", expand=False).astype(float))


# --- duplicates --------------------------------------------------------------------------------------


def plot_duplicate_pair(manifest: pd.DataFrame, group: int = 0) -> Figure:
    """The files of one group of identical copies side by side, and their pixel difference."""
    copies = data.duplicate_groups(data.usable(manifest))
    members = copies.loc[copies["group"] == group]
    if members.empty:
        raise ValueError(f"No duplicate group {group}; there are {copies['group'].nunique()}.")
    images = [read_gray(path) for path in members["path"]]
    figure = Figure(figsize=(2.6 * (len(images) + 1), 3), layout="constrained")
    axes = figure.subplots(1, len(images) + 1)
    for ax, image, row in zip(axes, images, members.itertuples(), strict=False):
        _show(ax, image, f"{row.file}\n{row.split}, {row.patient}")
    difference = np.abs(images[0].astype(int) - images[1].astype(int))
    _show(axes[-1], difference, f"|difference|\nmax = {difference.max()}")
    figure.suptitle(f"Duplicate group {group}: md5 {members['md5'].iloc[0][:12]}…", fontsize=10)
    return figure


# --- geometry ----------------------------------------------------------------------------------------


def geometry(manifest: pd.DataFrame) -> pd.DataFrame:
    """Size facts of every usable file: width, height, aspect ratio (width/height), megapixels, mode, kB."""
    good = data.usable(manifest)
    if "width" not in good:
        raise ValueError("The manifest has no image sizes: build it with check=True.")
    table = good[["split", "label", "file"]].assign(
        cls=data.class_of(good), width=good["width"].astype(int), height=good["height"].astype(int),
        mode=good["mode"],
    )
    table["size"] = table["width"].astype(str) + " × " + table["height"].astype(str)
    table["aspect"] = table["width"] / table["height"]
    table["megapixels"] = table["width"] * table["height"] / 1e6
    table["file kB"] = [os.path.getsize(path) / 1024 for path in good["path"]]
    return table.rename(columns={"cls": "class"})


def geometry_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per label: how many distinct sizes, the median and range of each side, the aspect ratio, the modes."""
    table = geometry(manifest)
    summary = table.groupby("label").agg(
        images=("file", "size"),
        distinct_sizes=("size", "nunique"),
        width_median=("width", "median"), width_min=("width", "min"), width_max=("width", "max"),
        height_median=("height", "median"), height_min=("height", "min"), height_max=("height", "max"),
        aspect_median=("aspect", "median"),
        modes=("mode", _shares),
    )
    return summary.round({"aspect_median": 2})


def _shares(values: pd.Series) -> str:
    return ", ".join(f"{k} {v:.0%}" for k, v in values.value_counts(normalize=True).items())


def shortcut_auc(manifest: pd.DataFrame) -> pd.DataFrame:
    """How well each size feature alone tells PNEUMONIA from NORMAL, per split (ROC AUC).

    0.5 means the feature carries no class information; near 0 or 1 means a
    model could score well by learning the feature instead of the lungs. A
    constant feature gives exactly 0.5.
    """
    from sklearn.metrics import roc_auc_score

    table = geometry(manifest)
    features = ["width", "height", "megapixels", "aspect", "file kB"]
    rows = {}
    for split in _splits(table):
        part = table.loc[table["split"] == split]
        positive = part["label"] == "PNEUMONIA"
        if positive.nunique() < 2:
            continue
        rows[split] = {f: roc_auc_score(positive, part[f]) for f in features}
    return pd.DataFrame(rows).T.round(3).rename_axis("split")


def plot_geometry(manifest: pd.DataFrame) -> Figure:
    """Width against height, aspect ratio and file size per label, from the manifest (no pixels read)."""
    table = geometry(manifest)
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


# --- pixels ------------------------------------------------------------------------------------------


def read_gray(path: str | os.PathLike, max_side: int | None = 256) -> np.ndarray:
    """An image file as uint8 grey levels, shrunk to at most ``max_side`` pixels a side (None: full size).

    Read with the kit's one reader (:func:`pneumolab.data.reader.load_image`), as
    training reads it: upright, 16-bit files scaled by the bits they use.
    JPEGs decode at reduced scale when that still leaves ``max_side``: much faster.
    """
    pixels = reader.load_image(Path(path).read_bytes(), str(path), channels=1, draft=max_side).pixels[..., 0]
    if max_side and max(pixels.shape) > max_side:
        image = Image.fromarray(pixels)
        image.thumbnail((max_side, max_side))
        pixels = np.asarray(image)
    return pixels


def _show(ax: Axes, image: np.ndarray, title: str, fontsize: float = 8) -> None:
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=fontsize)
    ax.set_axis_off()


def intensity_table(manifest: pd.DataFrame, bins: int = 64, max_side: int = 256) -> pd.DataFrame:
    """One row per usable image: split, label, class, mean and spread of grey levels, normalized histogram.

    The histogram columns ``hist_000`` ... hold the fraction of pixels per
    bin of grey levels (bin starts in the name). Reads every image, so pass
    a subset (:func:`pneumolab.data.manifest.stratified_subset`) for a quick look.
    """
    good = data.usable(manifest)
    edges = np.linspace(0, 256, bins + 1)

    def measure(path: str) -> np.ndarray:
        pixels = read_gray(path, max_side).ravel()
        counts = np.histogram(pixels, bins=edges)[0] / pixels.size
        return np.concatenate([[pixels.mean(), pixels.std()], counts])

    with ThreadPoolExecutor() as pool:
        measured = np.array(list(pool.map(measure, good["path"])))
    columns = ["mean", "std", *(f"hist_{int(edge):03d}" for edge in edges[:-1])]
    stats = pd.DataFrame(measured, columns=columns, index=good.index)
    facts = good[["split", "label", "file"]].assign(**{"class": data.class_of(good)})
    return pd.concat([facts, stats], axis=1)


def plot_intensity(table: pd.DataFrame) -> Figure:
    """Median grey-level histogram per class (band: the middle half of images), brightness and contrast."""
    hist_columns = [c for c in table if c.startswith("hist_")]
    levels = np.array([int(c[5:]) for c in hist_columns]) + 128 / len(hist_columns)
    figure = Figure(figsize=(12, 3.4), layout="constrained")
    histogram, brightness, contrast = figure.subplots(1, 3)
    classes = _classes(table["class"])
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


def plot_samples(
    manifest: pd.DataFrame, per_class: int = 6, split: str = "train", seed: int = config.SEED
) -> Figure:
    """A grid of random images, one row per finest class of ``split``."""
    good = data.usable(manifest)
    good = good.loc[good["split"] == split]
    classes = data.class_of(good)
    names = _classes(classes)
    figure = Figure(figsize=(1.4 * per_class, 1.55 * len(names)), layout="constrained")
    axes = np.atleast_2d(figure.subplots(len(names), per_class))
    for row, name in zip(axes, names, strict=True):
        members = good.loc[classes == name]
        picks = members.sample(min(per_class, len(members)), random_state=seed)
        for ax in row:
            ax.set_axis_off()
        for ax, pick in zip(row, picks.itertuples(), strict=False):
            _show(ax, read_gray(pick.path), Path(pick.file).stem, fontsize=6.5)
        row[0].text(-0.08, 0.5, name, transform=row[0].transAxes, rotation=90, va="center", ha="right",
                    fontsize=11, color=COLORS[name], weight="bold")
    return figure

"""Looking at the data set before training on it: the tables behind lesson 01's figures.

Every function reads a manifest (:func:`pneumolab.data.manifest.build_manifest`, with
``check=True`` where sizes or checksums are needed) and returns a DataFrame
or a small record; :mod:`pneumolab.viz.data` draws them. Geometry comes from
the manifest's ``width`` and ``height``, so on the original images the same
code shows their real sizes. Pixels are read with the kit's one reader, at
reduced scale for large originals; nothing here needs TensorFlow or matplotlib.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pneumolab import config
from pneumolab.data import manifest as data
from pneumolab.data import reader
from pneumolab.data.manifest import TASKS

RANDOM_SPLIT = "random image-level split"
GROUPED_SPLIT = "grouped by patient (carve_validation)"


def _splits(frame: pd.DataFrame) -> list[str]:
    return [split for split in data.SPLITS if (frame["split"] == split).any()]


def ordered_classes(classes: pd.Series) -> list[str]:
    """The finest classes present, in the order of ``TASKS["cause"]`` (any others last)."""
    present, known = set(classes), TASKS["cause"]
    return [c for c in known if c in present] + sorted(present - set(known))


def _class_counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Usable images per split (rows) and finest class (columns)."""
    good = data.usable(manifest)
    classes = data.class_of(good)
    return pd.crosstab(good["split"], classes).reindex(index=_splits(good), columns=ordered_classes(classes))


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


# --- patients and leakage ----------------------------------------------------------------------------


def images_per_patient(manifest: pd.DataFrame) -> pd.DataFrame:
    """One row per (split, patient id): its label and how many images it has."""
    good = data.usable(manifest)
    grouped = good.groupby(["split", "patient"], sort=False)
    table = grouped.agg(label=("label", "first"), images=("path", "size")).reset_index()
    return table.sort_values(["split", "images"], ascending=[True, False], ignore_index=True)


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


@dataclass(frozen=True)
class DuplicatePair:
    """One group of identical files: its number, its manifest rows and their pixels (uint8 grey)."""

    group: int
    members: pd.DataFrame
    images: list[np.ndarray]


def duplicate_pair(manifest: pd.DataFrame, group: int = 0) -> DuplicatePair:
    """The files of one group of identical copies, read; the groups are those of
    :func:`pneumolab.data.manifest.duplicate_groups`."""
    copies = data.duplicate_groups(data.usable(manifest))
    members = copies.loc[copies["group"] == group]
    if members.empty:
        raise ValueError(f"No duplicate group {group}; there are {copies['group'].nunique()}.")
    return DuplicatePair(group, members, [read_gray(path) for path in members["path"]])


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


def sample_images(
    manifest: pd.DataFrame, per_class: int = 6, split: str = "train", seed: int = config.SEED
) -> dict[str, list[tuple[str, np.ndarray]]]:
    """Random images of ``split``, up to ``per_class`` per finest class: ``{class: [(stem, pixels)]}``."""
    good = data.usable(manifest)
    good = good.loc[good["split"] == split]
    classes = data.class_of(good)
    samples = {}
    for name in ordered_classes(classes):
        members = good.loc[classes == name]
        picks = members.sample(min(per_class, len(members)), random_state=seed)
        samples[name] = [(Path(pick.file).stem, read_gray(pick.path)) for pick in picks.itertuples()]
    return samples

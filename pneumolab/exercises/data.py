"""Lesson 01 checkers, the data: the majority baseline, leaking patients and a patient-grouped split."""

from __future__ import annotations

import numpy as np
import pandas as pd

from pneumolab.data import manifest as data
from pneumolab.exercises._core import _checker, _count, _describe, _Hint, _matches, _number
from pneumolab.metrics.binary import metrics_at


def _split_frame(answer: object, columns: tuple[str, ...]) -> pd.DataFrame:
    """A split answer as a DataFrame with ``columns``, or a hint to pass the manifest with its columns."""
    if not isinstance(answer, pd.DataFrame):
        raise _Hint(f"Pass the split as a DataFrame (the manifest with its 'split' column); "
                    f"you gave {_describe(answer)}.")
    missing = [column for column in columns if column not in answer]
    if missing:
        raise _Hint(f"Your table has no {', '.join(map(repr, missing))} column: keep the manifest's columns "
                    "and change only 'split'.")
    return answer


@_checker("always-PNEUMONIA baseline", "a fraction between 0 and 1, e.g. 0.5")
def majority_baseline(answer: float, manifest: pd.DataFrame, split: str = "test") -> str:
    """Accuracy of a "model" that answers PNEUMONIA for every image of one split of ``manifest``."""
    value = _number(answer, "The accuracy")
    rows = data.usable(manifest)

    def accuracy(on: str) -> float:
        y = data.targets(rows.loc[rows["split"] == on])
        return metrics_at(y, np.ones(len(y)), 0.5)["accuracy"]

    reference = accuracy(split)
    if _matches(value, reference):
        return (f"always answering PNEUMONIA is right {reference:.1%} of the time on {split}, "
                "without looking at a single lung. Accuracy alone says little here.")
    if _matches(value / 100, reference):
        raise _Hint("That looks like a percentage: give a fraction between 0 and 1 (50 % is 0.5).")
    if _matches(value, 1 - reference):
        raise _Hint("That is the share of NORMAL images. This 'model' always says PNEUMONIA: "
                    "which images does it get right?")
    for other in sorted(set(rows["split"]) - {split}):
        if _matches(value, accuracy(other)):
            raise _Hint(f"That is the accuracy on the {other} split; the question asks about {split}.")
    if value > 1:
        raise _Hint(f"An accuracy is a share of images, at most 1: divide by the number of {split} images.")
    raise _Hint(f"Not quite. Which {split} images does a model that always says PNEUMONIA get right, "
                f"and what share of all {split} images are they?")


@_checker("leaking patients", "a whole number of patients, e.g. 12")
def patients_on_both_sides(answer: int, split: pd.DataFrame) -> str:
    """How many patients of ``split`` (a manifest with train/val rows) have images on both sides."""
    value = _count(answer, "The number of patients")
    rows = _split_frame(split, ("patient", "split"))
    rows = rows.loc[rows["split"].isin(["train", "val"])]
    if rows["split"].nunique() < 2:
        raise _Hint("Your split needs rows in both 'train' and 'val' before anything can leak.")
    sides = rows.groupby("patient")["split"].nunique()
    leaking = sides.index[sides > 1]
    if value == len(leaking):
        share = rows.loc[rows["split"] == "val", "patient"].isin(leaking).mean()
        return (f"{len(leaking)} patients have X-rays on both sides, so {share:.0%} of the validation images "
                "have a sibling film in training: the model would be graded on children it has seen.")
    in_val_leaking = rows.loc[rows["split"] == "val", "patient"].isin(leaking)
    if value == int(in_val_leaking.sum()):
        raise _Hint("That counts validation images; the question asks for patients, each counted once.")
    if value == int((rows.groupby("patient").size() > 1).sum()):
        raise _Hint("That counts the patients with several X-rays, wherever those went; count only those "
                    "whose X-rays ended up on both sides.")
    if value == rows["patient"].nunique():
        raise _Hint("That is every patient in the table; count only those with X-rays on both sides.")
    raise _Hint("Not quite. A patient leaks when their rows hold two different values of 'split': "
                "group the rows by patient and look at the distinct splits.")


@_checker("patient-grouped split", "the manifest as a DataFrame, with 'split' set to train, val or test")
def grouped_split(answer: pd.DataFrame, manifest: pd.DataFrame, val_fraction: float = 0.2) -> str:
    """A validation split of ``manifest``'s training images: no patient, and no copied file, on both sides."""
    where = _split_frame(answer, ("path", "split")).drop_duplicates("path").set_index("path")["split"]
    rows = data.usable(manifest)
    pool = rows.loc[rows["split"].isin(["train", "val"])].reset_index(drop=True)
    test_now = where.reindex(rows.loc[rows["split"] == "test", "path"]).dropna()
    if (test_now != "test").any():
        raise _Hint("Some official test images moved into train or val: the test split stays as it is, "
                    "untouched until the final report.")
    assigned = where.reindex(pool["path"])
    if assigned.isna().any():
        raise _Hint(f"{int(assigned.isna().sum())} of the {len(pool)} training images are missing from your "
                    "split: every training image should land in 'train' or 'val'.")
    if not assigned.isin(["train", "val"]).all():
        raise _Hint("Training images may only go to 'train' or 'val'; found "
                    f"{sorted(set(assigned) - {'train', 'val'})}.")
    in_val = (assigned == "val").to_numpy()
    if in_val.all() or not in_val.any():
        raise _Hint("One side of your split is empty: some training images should go to 'val', "
                    "most stay in 'train'.")

    def on_both_sides(keys: pd.Series) -> list:
        return sorted(set(keys[in_val]) & set(keys[~in_val]))

    patients = on_both_sides(pool["patient"])
    if patients:
        raise _Hint(f"{len(patients)} patients have X-rays on both sides (for example {patients[0]}): "
                    "move whole patients, not single images.")
    if on_both_sides(data.leakage_groups(pool)):
        raise _Hint("No patient is on both sides, but a file copied under two patient ids is: group by "
                    "data.leakage_groups(...), which merges such patients, rather than by 'patient'.")
    share = in_val.mean()
    if not 0.5 * val_fraction <= share <= 1.5 * val_fraction:
        raise _Hint(f"Validation holds {share:.0%} of the training images; aim for about {val_fraction:.0%}.")
    y = data.targets(pool)
    if abs(y[in_val].mean() - y[~in_val].mean()) > 0.1:
        raise _Hint(f"Validation is {y[in_val].mean():.0%} pneumonia but training {y[~in_val].mean():.0%}: "
                    "stratify by class as well as grouping by patient.")
    return (f"no patient, and no copy of a file, on both sides; validation holds {int(in_val.sum()):,} "
            f"images ({share:.0%}), {y[in_val].mean():.0%} of them pneumonia.")

"""Scoring a saved model on a split of the data: its predictions, and the report built from them.

The validation split is carved again exactly as in training (same seed and
fraction, read from the model card), so ``split="val"`` means the images the
threshold was chosen on; ``split="test"`` is the official test split, meant to
be looked at once, for the final report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import keras
import pandas as pd

from pneumolab.data import manifest as data
from pneumolab.inference.batches import predict_dataset
from pneumolab.metrics import multiclass
from pneumolab.metrics.report import interval_text
from pneumolab.metrics.report import report as binary_report
from pneumolab.models.card import ModelCard
from pneumolab.models.files import load, load_card, resolve
from pneumolab.preprocess.pipeline import Skipped, dataset_for

#: Unreadable files named in an error before "... and N more".
_NAMED = 10


@dataclass(frozen=True)
class ScoredSplit:
    """A split's rows with the model's outputs, and the image files of the split left out as unreadable."""

    #: The scored rows (see :func:`predict_split`).
    frame: pd.DataFrame
    #: Path -> why it could not be read (empty unless scored with ``skip_bad=True``).
    left_out: dict[str, str]


def predict_split(
    model: keras.Model, card: ModelCard, split: str = "test", data_dir: str | Path | None = None,
    skip_bad: bool = False,
) -> pd.DataFrame:
    """The usable rows of ``split`` with the model's probabilities: ``probability`` (yes/no
    models) or one ``p_<class>`` column per class.

    An image file of the split that cannot be read is an error naming it (scores
    without it would not be the split's) unless ``skip_bad``; :func:`score_split`
    also says which were left out."""
    return score_split(model, card, split, data_dir, skip_bad).frame


def score_split(
    model: keras.Model, card: ModelCard, split: str = "test", data_dir: str | Path | None = None,
    skip_bad: bool = False,
) -> ScoredSplit:
    """:func:`predict_split`, with the files left out as unreadable (only possible with ``skip_bad``)."""
    manifest = data.build_manifest(data_dir)
    if split == "val":
        manifest = data.carve_validation(manifest, card.data.val_fraction, card.data.split_seed)
    in_split = manifest.loc[(manifest["split"] == split) & data.image_files(manifest)]
    refused = in_split.loc[~in_split["ok"]]
    left_out = dict(zip(refused["path"], refused["problem"], strict=True))
    if left_out and not skip_bad:
        raise _unreadable(split, left_out)
    rows = data.usable(in_split)
    if rows.empty:
        raise ValueError(f"The data set has no {split!r} images.")
    recorded = card.data.images.get(split)
    if split == "val" and not card.data.quick_subset and recorded != len(rows):
        raise ValueError(f"This data set gives a validation split of {len(rows)} images, the model card "
                         f"{recorded}: it is not the data the model was trained on, so 'val' could hold "
                         "training images.")
    skipped = Skipped()
    dataset = dataset_for(card, rows, skipped=skipped)
    _, outputs = predict_dataset(model, dataset, f"scoring {split}")
    if skipped.reasons:  # broken or deleted since the manifest was built
        if not skip_bad:
            raise _unreadable(split, skipped.reasons)
        rows = rows.loc[~skipped.among(rows["path"])].reset_index(drop=True)
        left_out |= skipped.reasons
    if outputs.ndim == 1:
        frame = rows.assign(probability=outputs)
    else:
        frame = rows.assign(**{f"p_{name}": outputs[:, i] for i, name in enumerate(card.classes)})
    return ScoredSplit(frame, left_out)


def _unreadable(split: str, problems: dict[str, str]) -> ValueError:
    named = "\n".join(f"  {path}: {why}" for path, why in list(problems.items())[:_NAMED])
    more = f"\n  ... and {len(problems) - _NAMED} more" if len(problems) > _NAMED else ""
    return ValueError(
        f"{len(problems)} {split} image(s) cannot be read:\n{named}{more}\nScores without them would not "
        f"be the whole {split} split's. Fix or remove them, or score the rest with --skip-bad "
        "(skip_bad=True in Python); the report then counts what was left out."
    )


def score_model(
    folder: str | Path | None = None,
    split: str = "test",
    data_dir: str | Path | None = None,
    threshold: float | None = None,
    ci: bool = True,
    skip_bad: bool = False,
) -> dict:
    """The evaluation report of a saved model on ``split``, at the card's threshold unless given one.

    ``left_out`` lists the split's unreadable image files, scored without only when ``skip_bad``.
    """
    model, card = load(resolve(folder))
    result = score_split(model, card, split, data_dir, skip_bad)
    scored = result.frame
    labels = data.targets(scored, card.task)
    if card.task == "binary":
        chosen = card.threshold if threshold is None else threshold
        report = binary_report(labels, scored["probability"].to_numpy(), chosen, ci=ci)
    else:
        probabilities = scored[[f"p_{name}" for name in card.classes]].to_numpy()
        report = multiclass.multiclass_report(labels, probabilities, list(card.classes), ci=ci)
    left_out = [{"file": path, "problem": why} for path, why in result.left_out.items()]
    return dict(report, model=card.name, split=split, images=len(scored), left_out=left_out)


def comparison(folders: dict[str, str | Path], split: str = "test", data_dir: str | Path | None = None,
               ci: bool = True) -> pd.DataFrame:
    """One row per trained model: its cost, its validation ROC AUC, and its scores on ``split``.

    For the final report: call it once, on the test split, after every choice has been made.
    """
    rows = {}
    for name, folder in folders.items():
        card = load_card(resolve(folder))
        scored = score_model(folder, split, data_dir, ci=ci)
        row = {"parameters": card.parameters, "s per epoch": card.training.seconds_per_epoch,
               "training s": card.training.seconds, "val ROC AUC": card.report("val")["roc_auc"],
               "threshold": card.threshold}
        for metric in ("roc_auc", "recall", "specificity", "precision", "f1"):
            row[f"{split} {metric}"] = scored[metric]
            if scored.get("ci"):
                interval = interval_text(scored["ci"][metric])
                row[f"{split} {metric} {scored['ci_level']:.0%} CI"] = interval
        rows[name] = row
    return pd.DataFrame(rows).T

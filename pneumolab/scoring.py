"""Scoring a saved model on a split of the data: its predictions, and the report built from them.

The validation split is carved again exactly as in training (same seed and
fraction, read from the model card), so ``split="val"`` means the images the
threshold was chosen on; ``split="test"`` is the official test split, meant to
be looked at once, for the final report.
"""

from __future__ import annotations

from pathlib import Path

import keras
import pandas as pd

from pneumolab import data, evaluate, models, multiclass
from pneumolab.pipeline import make_dataset


def predict_split(
    model: keras.Model, card: dict, split: str = "test", data_dir: str | Path | None = None
) -> pd.DataFrame:
    """The usable rows of ``split`` with the model's probabilities: ``probability`` (yes/no
    models) or one ``p_<class>`` column per class."""
    manifest = data.build_manifest(data_dir)
    if split == "val":
        manifest = data.carve_validation(manifest, card["data"]["val_fraction"], card["data"]["split_seed"])
    rows = data.usable(manifest.loc[manifest["split"] == split])
    if rows.empty:
        raise ValueError(f"The data set has no {split!r} images.")
    recorded = card["data"]["images"].get(split)
    if split == "val" and not card["data"].get("quick_subset") and recorded != len(rows):
        raise ValueError(f"This data set gives a validation split of {len(rows)} images, the model card "
                         f"{recorded}: it is not the data the model was trained on, so 'val' could hold "
                         "training images.")
    spec = card["input"]
    dataset = make_dataset(rows, task=card["task"], image_size=spec["image_size"],
                           channels=spec["channels"], fit=spec["fit"])
    outputs, _ = models.predict_dataset(model, dataset, f"scoring {split}")
    if len(outputs) != len(rows):
        raise ValueError(f"{len(rows) - len(outputs)} {split} image(s) could not be decoded any more "
                         "(changed since the manifest was built?); scores would not match their files.")
    if outputs.shape[1] == 1:
        return rows.assign(probability=outputs[:, 0])
    return rows.assign(**{f"p_{name}": outputs[:, i] for i, name in enumerate(card["classes"])})


def score_model(
    folder: str | Path | None = None,
    split: str = "test",
    data_dir: str | Path | None = None,
    threshold: float | None = None,
    ci: bool = True,
) -> dict:
    """The evaluation report of a saved model on ``split``, at the card's threshold unless given one."""
    model, card = models.load(models.resolve(folder))
    scored = predict_split(model, card, split, data_dir)
    labels = data.targets(scored, card["task"])
    if card["task"] == "binary":
        chosen = card["threshold"] if threshold is None else threshold
        result = evaluate.report(labels, scored["probability"].to_numpy(), chosen, ci=ci)
    else:
        probabilities = scored[[f"p_{name}" for name in card["classes"]]].to_numpy()
        result = multiclass.multiclass_report(labels, probabilities, card["classes"], ci=ci)
    return dict(result, model=card["name"], split=split, images=len(scored))


def comparison(folders: dict[str, str | Path], split: str = "test", data_dir: str | Path | None = None,
               ci: bool = True) -> pd.DataFrame:
    """One row per trained model: its cost, its validation ROC AUC, and its scores on ``split``.

    For the final report: call it once, on the test split, after every choice has been made.
    """
    rows = {}
    for name, folder in folders.items():
        card = models.load_card(models.resolve(folder))
        scored = score_model(folder, split, data_dir, ci=ci)
        row = {"parameters": card["parameters"], "s per epoch": card["training"]["seconds_per_epoch"],
               "training s": card["training"]["seconds"], "val ROC AUC": card["validation"]["roc_auc"],
               "threshold": card["threshold"]}
        for metric in ("roc_auc", "recall", "specificity", "precision", "f1"):
            row[f"{split} {metric}"] = scored[metric]
            if scored.get("ci"):
                interval = evaluate.interval_text(scored["ci"][metric])
                row[f"{split} {metric} {scored['ci_level']:.0%} CI"] = interval
        rows[name] = row
    return pd.DataFrame(rows).T

"""An honest comparison, fixed in advance: single models, the members, and the ensemble on the test split.

    python benchmarks/generalization.py [--data DIR]

The candidates are declared below (:data:`CANDIDATES`) and printed before any
image is scored. Everything each candidate decides (its threshold, its
calibration, for the ensemble its members' temperatures) was fixed on the
patient-grouped validation split when it was built (``pneumolab train``,
``pneumolab ensemble``); this script only reads those model folders. It scores
validation for every candidate first, then the official test split **once** per
candidate, and prints one table with bootstrap intervals beside Kermany et al.
(2018) and MedMNIST+ (Doerrich et al. 2024). The JSON goes to
``benchmarks/results/generalization.json``; the README, the model card and
lesson 08 quote it.

The folders come from ``make reference`` (which trains the members and joins
them); a missing one is named with the command that makes it.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from _report import report

from pneumolab import config, metrics, models
from pneumolab.data import manifest as data
from pneumolab.inference.scoring import predict_split


@dataclass(frozen=True)
class Candidate:
    """One model to compare: its name, what kind it is, where it lives and how it is made."""

    name: str
    kind: str
    folder: str
    description: str
    made_by: str


#: Declared before anything is scored; the order is the table's.
CANDIDATES = (
    Candidate("transfer", "member", "runs/reference-transfer",
              "EfficientNet-Lite0, top stages fine-tuned (the reference model until 2026-12-02)",
              "pneumolab train --arch transfer --out runs/reference-transfer"),
    Candidate("scratch", "member", "runs/scratch", "the CNN of lesson 03, 128 px, augmented",
              "pneumolab train --arch scratch --out runs/scratch"),
    Candidate("probe", "member", "runs/probe",
              "a linear layer on frozen EfficientNet-Lite0 features, label smoothing 0.1",
              "pneumolab train --arch probe --out runs/probe"),
    Candidate("ensemble-plain", "ensemble", "runs/ensemble-plain",
              "the three members' calibrated logit maps averaged, its own temperature fitted by plain "
              "likelihood on validation with perturbed copies (the shipped reference of round 1)",
              "a copy of pneumolab/reference as built by pneumolab 0.1.0 at commit 2a54aa9"),
    Candidate("ensemble", "ensemble", "pneumolab/reference",
              "the same ensemble, its own temperature fitted to label-smoothed targets (eps 0.1) on "
              "validation with perturbed copies (the shipped reference)",
              "pneumolab ensemble runs/reference-transfer runs/scratch runs/probe --out pneumolab/reference"),
)

#: Published results on the same 624 test images.
LITERATURE = (
    dict(name="Kermany et al. 2018", roc_auc=0.968, recall=0.932, specificity=0.901,
         note="Inception v3 transfer; early stopping on the test split"),
    dict(name="MedMNIST+ (Doerrich et al. 2024)", roc_auc=[0.97, 0.99], recall=None, specificity=None,
         note="PneumoniaMNIST at 224 px, many models; validation carved from train"),
)

#: The share of test images at or above this probability: how often the model claims near-certainty.
CERTAIN = 0.999


def specificity_at_recall(y_true: np.ndarray, y_prob: np.ndarray, recall: float = 0.95) -> float:
    """The best specificity on the ROC curve with recall at least ``recall`` (a property of the curve,
    not of any threshold chosen beforehand)."""
    sweep = metrics.threshold_sweep(y_true, y_prob)
    return float(sweep.loc[sweep["recall"] >= recall, "specificity"].max())


def labelled(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Labels (1: pneumonia) and P(pneumonia) of a scored split."""
    return data.targets(frame, "binary"), frame["probability"].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="data folder (default: $PNEUMOLAB_DATA)")
    args = parser.parse_args()
    started = time.perf_counter()

    print("Declared candidates (scored on test once each, after validation):")
    for candidate in CANDIDATES:
        print(f"  {candidate.name:<14} {candidate.folder}: {candidate.description}")
    loaded = {}
    for candidate in CANDIDATES:
        try:
            loaded[candidate.name] = models.load(config.repository_root() / candidate.folder)
        except (FileNotFoundError, OSError, ValueError) as error:
            parser.error(f"{candidate.name}: {error}. Make it with: {candidate.made_by}")

    val = {name: predict_split(model, card, "val", args.data) for name, (model, card) in loaded.items()}
    test = {name: predict_split(model, card, "test", args.data) for name, (model, card) in loaded.items()}

    rows, entries = [], []
    for candidate in CANDIDATES:
        card = loaded[candidate.name][1]
        y_val, p_val = labelled(val[candidate.name])
        y_test, p_test = labelled(test[candidate.name])
        on_val = metrics.report(y_val, p_val, card.threshold, ci=False)
        on_test = metrics.report(y_test, p_test, card.threshold)
        certain = float(np.mean(p_test >= CERTAIN))
        # The normal films the model is all but sure show pneumonia: at 0.99, and at 0.95, where the panel
        # of a calibrated model says "very likely pneumonia".
        normal = p_test[y_test == 0]
        normal_sure = dict(share_normal_test_at_099=float(np.mean(normal >= 0.99)),
                           share_normal_test_at_095=float(np.mean(normal >= 0.95)))
        curve = specificity_at_recall(y_test, p_test)
        entries.append(dict(name=candidate.name, kind=candidate.kind, description=candidate.description,
                            folder=candidate.folder, made_by=candidate.made_by, threshold=card.threshold,
                            val=on_val, test=on_test, share_test_at_0999=certain, **normal_sure,
                            specificity_at_test_recall_095=curve))
        ci = on_test["ci"]
        rows.append(dict(model=candidate.name, threshold=card.threshold, val_auc=on_val["roc_auc"],
                         test_auc=on_test["roc_auc"],
                         auc_ci=f"[{ci['roc_auc'][0]:.3f}, {ci['roc_auc'][1]:.3f}]",
                         recall=on_test["recall"], specificity=on_test["specificity"],
                         spec_ci=f"[{ci['specificity'][0]:.3f}, {ci['specificity'][1]:.3f}]",
                         precision=on_test["precision"], f1=on_test["f1"], pr_auc=on_test["pr_auc"],
                         spec_at_rec95=curve, at_0999=certain, brier=on_test["brier"]))
    for paper in LITERATURE:
        auc = paper["roc_auc"]
        rows.append(dict(model=paper["name"], threshold="", val_auc="",
                         test_auc=auc if isinstance(auc, float) else f"{auc[0]}-{auc[1]}", auc_ci="",
                         recall=paper["recall"] or "", specificity=paper["specificity"] or "", spec_ci="",
                         precision="", f1="", pr_auc="", spec_at_rec95="", at_0999="", brier=""))
    protocol = ("Candidates declared in advance; thresholds, temperatures and calibration fixed on the "
                "patient-grouped validation split when each was built; test scored once per candidate. "
                "Round 2 adds one candidate: after round 1 showed 52 % of test images at P >= 0.999, the "
                "ensemble's own temperature is fitted to label-smoothed targets. That weight is positive, "
                "so by itself it moves no ranking and no decision (threshold chosen by rank on "
                "validation), only the probabilities; the rebuild also re-drew the perturbed copies of "
                "validation (members' temperatures moved by under 1 %). Written by a re-run of the same "
                "script and models that added the shares of normal films at 0.99 and 0.95. Intervals: "
                "95 % percentile bootstrap over test images (2000 resamples).")
    report("generalization", rows, protocol=protocol, declared=[c.name for c in CANDIDATES],
           seconds=round(time.perf_counter() - started, 1), candidates=entries, literature=list(LITERATURE))


if __name__ == "__main__":
    main()

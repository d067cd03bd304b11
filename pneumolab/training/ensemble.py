"""Building an ensemble from trained model folders: calibrated on validation under simulated shift.

The job behind ``pneumolab ensemble``. Nothing here looks at the test split: the
members' temperatures, the ensemble's own calibration and its threshold are all
fitted on the patient-grouped validation split the members were trained beside
(every member must have been trained with the same split). The combination itself
is fixed in advance: the mean of the members' calibrated logit maps
(:func:`pneumolab.models.ensemble.build_ensemble`).

Why "under simulated shift": the members score validation almost perfectly (it
comes from the same hospital, years and machines as their training images), so a
temperature fitted on validation alone makes them *more* certain, and on the test
split (other years, other films) they are then certain and wrong. Following Tomani
et al. (CVPR 2021, "Post-hoc uncertainty calibration for domain drift scenarios"),
calibration and the threshold are fitted on validation together with copies of it
perturbed at growing strength (:data:`SHIFT_STRENGTHS`: rotation, zoom, shift,
shear and contrast of :func:`pneumolab.preprocess.transforms.augmentation`), meant to
keep the probabilities honest when the images differ a little from the training set's.
Measured on the official test split (README, lesson 08), it did not: those perturbations
make pneumonia harder to see, while the test split makes normal films look like pneumonia,
so the threshold came down and the probabilities stayed over-confident.

Over-confident because a plain maximum-likelihood fit on a set the ensemble separates
almost perfectly (validation AUC 0.98 even with its perturbed copies) rewards ever more
certainty: the first shipped ensemble put 52 % of the test films at P >= 0.999. Its own
calibration now fits label-smoothed targets (:data:`CALIBRATION_SMOOTHING`). One positive
weight, it changes no ranking and no decision (the threshold, chosen by rank on validation,
moves with it): only how sure the answers sound.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from pneumolab.data import manifest as data
from pneumolab.inference.batches import predict_dataset
from pneumolab.metrics.calibration import fit_logit_scaling
from pneumolab.metrics.report import report
from pneumolab.metrics.thresholds import choose_threshold
from pneumolab.models.card import (
    CalibrationRecord,
    InputSpec,
    MemberRecord,
    ModelCard,
    ThresholdRule,
    TrainingRecord,
)
from pneumolab.models.ensemble import build_ensemble, member_logits
from pneumolab.models.files import load, save
from pneumolab.preprocess.pipeline import dataset_as
from pneumolab.preprocess.transforms import augmentation
from pneumolab.training.config import DEFAULTS
from pneumolab.training.run import library_versions

#: What the kit's reference ensemble takes: 224 px gray, stretched, like its members were trained on.
ENSEMBLE_INPUT = InputSpec(image_size=224, channels=1)
#: Strengths of the perturbed copies of validation that calibration also sees (0: the images as they are).
SHIFT_STRENGTHS = (0.0, 1.0, 2.0, 3.0)
#: How members and ensemble are calibrated (:func:`pneumolab.metrics.calibration.fit_logit_scaling`).
CALIBRATION = "temperature"
#: The ensemble's own calibration fits smoothed targets (ε/2, 1 - ε/2), with the ε the probe member
#: trains with: validation, even perturbed, is nearly separable, and a plain fit sharpens without end.
CALIBRATION_SMOOTHING = DEFAULTS["probe"]["label_smoothing"]


def shifted_logits(members: Sequence[keras.Model], names: Sequence[str], rows: pd.DataFrame, seed: int
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Over ``rows`` and each perturbed copy of them: the shift strength of each image, its label, and the
    members' outputs of :func:`~pneumolab.models.ensemble.member_logits` ``(N, 2 * members)``."""
    net = member_logits(members, ENSEMBLE_INPUT, names)
    strengths, labels, outputs = [], [], []
    for strength in SHIFT_STRENGTHS:
        augment = augmentation(strength=strength, seed=seed) if strength else None
        dataset = dataset_as(ENSEMBLE_INPUT, rows, augment=augment)
        y, z = predict_dataset(net, dataset, f"validation, shift {strength:g}")
        strengths.append(np.full(len(y), strength))
        labels.append(y)
        outputs.append(z)
    return np.concatenate(strengths), np.concatenate(labels), np.concatenate(outputs)


def assemble(folders: Sequence[str | Path], out: str | Path | None = None, data_dir: str | Path | None = None,
             *, command: str | None = None, rule: str = "recall", target: float | None = 0.95,
             ) -> tuple[keras.Model, ModelCard]:
    """The ensemble of the yes/no models in ``folders``, calibrated and given a threshold on validation
    (with its perturbed copies). Saved to ``out`` (``model.keras`` and its card) when given."""
    started = time.perf_counter()
    loaded = [load(folder) for folder in folders]
    first = loaded[0][1]
    for (_, card), folder in zip(loaded, folders, strict=True):
        if card.task != "binary":
            raise ValueError(f"{folder} is a {card.task!r} model; an ensemble joins yes/no models.")
        if (card.data.split_seed, card.data.val_fraction) != (first.data.split_seed, first.data.val_fraction):
            raise ValueError(f"{folder} was validated on another split than {folders[0]}: no split is "
                             "unseen by every member, so the ensemble cannot be calibrated.")
    root = data.find_data_dir(data_dir)
    seed = first.data.split_seed
    manifest = data.carve_validation(data.build_manifest(root), first.data.val_fraction, seed)
    rows = data.usable(manifest.loc[manifest["split"] == "val"])
    models = [model for model, _ in loaded]
    names = [f"member{i}_{card.training.config.get('arch', 'model')}"
             for i, (_, card) in enumerate(loaded, 1)]
    strengths, labels, outputs = shifted_logits(models, names, rows, seed)
    temperatures = [1.0 / fit_logit_scaling(labels, logits, CALIBRATION)[0] for logits in outputs[:, ::2].T]
    pooled = np.mean([outputs[:, 2 * i + 1] / t for i, t in enumerate(temperatures)], axis=0)
    # The members' temperatures only put them on one scale; how sure the ensemble speaks is set here.
    weight, bias = fit_logit_scaling(labels, pooled, CALIBRATION, CALIBRATION_SMOOTHING)
    probabilities = expit(weight * pooled + bias)
    choice = choose_threshold(labels, probabilities, rule=rule, **({"target": target} if target else {}))
    model = build_ensemble(models, temperatures, ENSEMBLE_INPUT, names=names, weight=weight, bias=bias)
    clean = strengths == 0
    members = tuple(
        MemberRecord(name=card.name, arch=str(card.training.config.get("arch")), folder=str(folder),
                     temperature=round(t, 6),
                     val_roc_auc=round(float(roc_auc_score(labels[clean], z[clean])), 6),
                     command=card.command)
        for (_, card), folder, t, z in zip(loaded, folders, temperatures, outputs[:, ::2].T, strict=True))
    card = ModelCard(
        name="ensemble", task="binary", classes=first.classes, input=ENSEMBLE_INPUT,
        threshold=choice.threshold,
        threshold_rule=ThresholdRule(rule, target, chosen_on="validation with perturbed copies"),
        data=first.data,
        training=TrainingRecord(
            config={"arch": "ensemble", "members": [str(f) for f in folders], "calibration": CALIBRATION,
                    "shift_strengths": list(SHIFT_STRENGTHS)},
            epochs_run=0, best_epoch=0, seconds=round(time.perf_counter() - started, 1),
            seconds_per_epoch=0.0),
        parameters=int(model.count_params()),
        versions=library_versions(),
        command=command,
        reports={"val": report(labels[clean], probabilities[clean], choice.threshold, ci=False),
                 "val_shifted": report(labels, probabilities, choice.threshold, ci=False)},
        members=members,
        calibration=CalibrationRecord(f"{CALIBRATION}, on validation and perturbed copies",
                                      round(weight, 6), round(bias, 6),
                                      fitted_on="validation with perturbed copies",
                                      label_smoothing=CALIBRATION_SMOOTHING),
    )
    if out is not None:
        save(model, out, card)
    return model, card

"""Dataset shift: how far the test split lies from the training images, and what that does to a model.

A *domain classifier* is asked a question with no medical content: did this image come from the
training folder or from the test folder? If it cannot tell (out-of-fold ROC AUC near 0.5), the two
splits look alike; the closer to 1, the larger the shift, and the less a validation score carved
from train says about the test split. :func:`domain_shift` fits it (a logistic regression on
frozen image features) with cross-validation grouped by patient, so it cannot win by recognising a
child it has already seen, and gives its AUC with a bootstrap interval as a :class:`DomainShift`.

:func:`compare_splits` puts a model's scores on several splits side by side at one threshold
(chosen on validation), :func:`share_at_least` counts over-confident answers, and
:func:`read_generalization` reads the comparison that ``benchmarks/generalization.py`` writes.
Pure NumPy, pandas and scikit-learn, like the rest of :mod:`pneumolab.metrics`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pneumolab import config
from pneumolab.metrics.binary import check_scores, metrics_at
from pneumolab.metrics.bootstrap import bootstrap_ci

#: Where ``benchmarks/generalization.py`` writes its comparison of candidates.
GENERALIZATION_FILE = config.repository_root() / "benchmarks" / "results" / "generalization.json"


@dataclass(frozen=True)
class DomainShift:
    """The result of a domain classifier: how well it tells training images from test images.

    ``p_test`` is each image's out-of-fold probability of being a test image (scored by a
    classifier that never saw that image's patient), in the order of the inputs; ``domain`` is
    1 for a test image, 0 for a training image; ``folds`` the fold of each image.
    """

    roc_auc: float
    ci: tuple[float, float]
    p_test: np.ndarray
    domain: np.ndarray
    folds: np.ndarray
    n_train: int
    n_test: int

    def extremes(self, n: int = 4) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the ``n`` most test-like training images and the ``n`` most train-like test images."""
        train, test = np.flatnonzero(self.domain == 0), np.flatnonzero(self.domain == 1)
        test_like = train[np.argsort(-self.p_test[train], kind="stable")[:n]]
        train_like = test[np.argsort(self.p_test[test], kind="stable")[:n]]
        return test_like, train_like


def domain_model(C: float = 0.1, seed: int = config.SEED) -> object:  # noqa: N803 (scikit-learn's name)
    """The domain classifier, unfitted: standardized features, then an L2 logistic regression.

    Classes are weighted so that the two splits count equally, whatever their sizes.
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000, class_weight="balanced",
                                                              random_state=seed))


def grouped_folds(
    domain: ArrayLike, groups: ArrayLike, n_splits: int = 5, seed: int = config.SEED
) -> np.ndarray:
    """The fold (0 to ``n_splits - 1``) of each image: every group (patient) in one fold only,
    and each fold holding about the same share of test images."""
    from sklearn.model_selection import StratifiedGroupKFold

    domain, groups = np.asarray(domain), np.asarray(groups)
    if domain.shape != groups.shape or domain.ndim != 1:
        raise ValueError(f"domain and groups must be two vectors of one length; got {domain.shape} and "
                         f"{groups.shape}.")
    if n_splits < 2 or len(np.unique(groups)) < n_splits:
        raise ValueError(f"{n_splits} folds need at least {max(n_splits, 2)} groups and n_splits >= 2; "
                         f"there are {len(np.unique(groups))} groups.")
    folds = np.full(domain.size, -1)
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(domain.size), domain, groups)):
        folds[held_out] = fold
    return folds


def out_of_fold(
    features: ArrayLike, domain: ArrayLike, folds: ArrayLike, model: object | None = None
) -> np.ndarray:
    """Each image's P(test) from a copy of ``model`` (default :func:`domain_model`) fitted on the
    other folds: every score comes from a classifier that never saw the image."""
    from sklearn.base import clone

    features, domain, folds = np.asarray(features, float), np.asarray(domain), np.asarray(folds)
    if features.ndim != 2 or len(features) != len(domain) or len(domain) != len(folds):
        raise ValueError("features (N, d), domain (N,) and folds (N,) must describe the same N images.")
    model = domain_model() if model is None else model
    scores = np.full(len(domain), np.nan)
    for fold in np.unique(folds):
        held_out = folds == fold
        if len(np.unique(domain[~held_out])) < 2:
            raise ValueError(f"Without fold {fold} only one split is left to learn from; use fewer folds.")
        fitted = clone(model).fit(features[~held_out], domain[~held_out])
        scores[held_out] = fitted.predict_proba(features[held_out])[:, 1]
    return scores


def domain_shift(
    features: ArrayLike, domain: ArrayLike, groups: ArrayLike, *, n_splits: int = 5, n_boot: int = 2000,
    seed: int = config.SEED,
) -> DomainShift:
    """How well frozen ``features`` tell test images (``domain`` 1) from training images (0).

    Cross-validated by ``groups`` (patients: :func:`grouped_folds`), so the AUC measures the
    splits, not the memory of a child's other film; the 95 % interval resamples the images.
    An AUC near 0.5 means no detectable shift, near 1 two different collections.
    """
    domain = np.asarray(domain).astype(int)
    if set(np.unique(domain)) != {0, 1}:
        raise ValueError("domain must hold both 0 (training image) and 1 (test image).")
    folds = grouped_folds(domain, groups, n_splits, seed)
    p_test = out_of_fold(features, domain, folds, domain_model(seed=seed))
    bounds = bootstrap_ci(domain, p_test, 0.5, n_boot=n_boot, seed=seed).loc["roc_auc"]
    return DomainShift(roc_auc=float(metrics_at(domain, p_test)["roc_auc"]),
                       ci=(float(bounds.low), float(bounds.high)),
                       p_test=p_test, domain=domain, folds=folds, n_train=int((domain == 0).sum()),
                       n_test=int(domain.sum()))


def share_at_least(y_prob: ArrayLike, level: float = 0.999) -> float:
    """The share of images given a probability of at least ``level``: how often the model is all but sure."""
    p = np.asarray(y_prob, dtype=float)
    if p.size == 0:
        raise ValueError("No probabilities given.")
    return float(np.mean(p >= level))


def compare_splits(scores: Mapping[str, tuple[ArrayLike, ArrayLike]], threshold: float,
                   level: float = 0.999) -> pd.DataFrame:
    """One row per split ``{name: (y_true, y_prob)}`` at one threshold (chosen on validation).

    Columns: ``images, pneumonia share, roc_auc, recall, specificity, precision, brier`` and the
    share of images at P >= ``level``. The same threshold on every row shows what it does where
    it was not chosen.
    """
    rows = {}
    for name, (y_true, y_prob) in scores.items():
        y, p = check_scores(y_true, y_prob)
        found = metrics_at(y, p, threshold)
        rows[name] = {"images": found["n"], "pneumonia share": found["prevalence"],
                      **{m: found[m] for m in ("roc_auc", "recall", "specificity", "precision", "brier")},
                      f"share at P >= {level:g}": share_at_least(p, level)}
    return pd.DataFrame(rows).T.astype({"images": int})


_REPORT_METRICS = ("roc_auc", "recall", "specificity", "precision", "brier")


def read_generalization(path: str | Path | None = None) -> pd.DataFrame:
    """The comparison written by ``benchmarks/generalization.py`` (default :data:`GENERALIZATION_FILE`)
    as a table: see :func:`generalization_frame`.

    Raises FileNotFoundError when the comparison has not been run, ValueError when the file is not
    such a comparison.
    """
    path = Path(GENERALIZATION_FILE if path is None else path)
    if not path.is_file():
        raise FileNotFoundError(f"No generalization comparison at {path}: run benchmarks/generalization.py.")
    try:
        found = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not a generalization comparison (not JSON: {error}).") from None
    return generalization_frame(found, source=str(path))


def generalization_frame(found: Mapping, source: str = "the comparison") -> pd.DataFrame:
    """A comparison in the schema of ``generalization.json`` as one row per candidate, then per
    published result.

    Columns: ``name, source`` (``kit`` or ``literature``), ``kind, description, threshold``,
    ``val_<m>`` and ``test_<m>`` for roc_auc, recall, specificity, precision, brier,
    ``test_roc_auc_low/high`` (the 95 % interval; for a published range, the range, with no point),
    ``share_test_at_0999, specificity_at_test_recall_095, note``. Candidates come in the
    declared order; ``frame.attrs`` holds ``protocol``, ``seconds``, ``declared`` and
    ``missing`` (declared candidates without a result).
    """
    try:
        candidates, declared = list(found["candidates"]), list(found.get("declared", []))
    except (KeyError, TypeError, AttributeError) as error:
        problem = f"{type(error).__name__}: {error}"
        raise ValueError(f"{source} is not a generalization comparison ({problem}).") from None
    order = {name: i for i, name in enumerate(declared)}
    candidates.sort(key=lambda c: order.get(c.get("name"), len(order)))
    rows = [_candidate_row(c, source) for c in candidates]
    rows += [_literature_row(entry) for entry in found.get("literature", [])]
    frame = pd.DataFrame(rows, columns=_COLUMNS)
    frame.attrs.update(protocol=found.get("protocol", ""), seconds=found.get("seconds"), declared=declared,
                       missing=[name for name in declared if name not in set(frame["name"])])
    return frame


_COLUMNS = ["name", "source", "kind", "description", "threshold",
            *(f"{split}_{m}" for split in ("val", "test") for m in _REPORT_METRICS),
            "test_roc_auc_low", "test_roc_auc_high", "share_test_at_0999", "specificity_at_test_recall_095",
            "note"]


def _number(value: object) -> float:
    return float("nan") if value is None else float(value)


def _candidate_row(candidate: Mapping, source: str) -> dict:
    try:
        row = {"name": candidate["name"], "source": "kit", "kind": candidate.get("kind", ""),
               "description": candidate.get("description", ""),
               "threshold": _number(candidate.get("threshold")),
               "share_test_at_0999": _number(candidate.get("share_test_at_0999")),
               "specificity_at_test_recall_095": _number(candidate.get("specificity_at_test_recall_095")),
               "note": ""}
        for split in ("val", "test"):
            report = candidate[split]
            row |= {f"{split}_{m}": _number(report.get(m)) for m in _REPORT_METRICS}
        low, high = (candidate["test"].get("ci") or {}).get("roc_auc") or (None, None)
    except (KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"{source}: candidate {candidate!r:.80} lacks {error}.") from None
    return row | {"test_roc_auc_low": _number(low), "test_roc_auc_high": _number(high)}


def _literature_row(entry: Mapping) -> dict:
    auc = entry.get("roc_auc")
    if isinstance(auc, list | tuple):  # a published range: bounds, no point
        low, high, point = _number(auc[0]), _number(auc[1]), float("nan")
    else:
        low = high = float("nan")
        point = _number(auc)
    return {"name": entry.get("name", "?"), "source": "literature", "kind": "published",
            "description": entry.get("note", ""), "test_roc_auc": point, "test_roc_auc_low": low,
            "test_roc_auc_high": high, "test_recall": _number(entry.get("recall")),
            "test_specificity": _number(entry.get("specificity")), "note": entry.get("note", "")}

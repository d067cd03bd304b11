"""Choosing a detector's operating point on validation data, by a stated rule.

In screening a missed pneumonia costs more than a false alarm, so the threshold
is a decision, not a constant 0.5: :func:`choose_threshold` makes it on
validation data by one of the :data:`RULES`, then the test set is judged once at
that threshold (:func:`pneumolab.metrics.report.report`). :func:`threshold_sweep`
lists every threshold that makes a difference; :func:`expected_cost` prices each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pneumolab.metrics.binary import (
    check_scores,
    confusion_counts,
    fbeta_from_counts,
    grouped_counts,
    metrics_at,
    rates,
)


def threshold_sweep(y_true: ArrayLike, y_prob: ArrayLike) -> pd.DataFrame:
    """Confusion counts and rates at every candidate threshold, ascending.

    The candidates are 0, every distinct predicted probability, and 1: between two
    neighbouring probabilities nothing changes, so no other threshold gives a
    different confusion matrix. Columns: ``threshold, tn, fp, fn, tp, accuracy,
    recall, precision, specificity, f1``.
    """
    y, p = check_scores(y_true, y_prob)
    values, pos, neg = grouped_counts(y, p, np.arange(y.size)[None])
    thresholds = np.unique(np.concatenate([[0.0], values, [1.0]]))
    counts = {k: v[0].astype(int) for k, v in confusion_counts(values, pos, neg, thresholds).items()}
    return pd.DataFrame(dict(threshold=thresholds, **counts, **rates(**counts)))


def expected_cost(
    sweep: pd.DataFrame, cost_miss: float, cost_false_alarm: float = 1.0, prevalence: float | None = None
) -> pd.Series:
    """Average cost per screened image at each threshold of a :func:`threshold_sweep`.

    ``prevalence`` is the share of pneumonia where the test will be used; by default
    the share in the data. Only the ratio of the two costs matters for the choice.
    """
    if cost_miss < 0 or cost_false_alarm < 0:
        raise ValueError("Costs cannot be negative.")
    if prevalence is None:
        prevalence = (sweep["tp"] + sweep["fn"]) / (sweep["tp"] + sweep["fn"] + sweep["tn"] + sweep["fp"])
    elif not 0 <= prevalence <= 1:
        raise ValueError(f"prevalence must lie between 0 and 1, got {prevalence}.")
    miss = prevalence * (1 - sweep["recall"]) * cost_miss
    false_alarm = (1 - prevalence) * (1 - sweep["specificity"]) * cost_false_alarm
    return (miss + false_alarm).rename("expected_cost")


# Each rule says which candidates are eligible and what to maximize among them;
# ties go to the highest threshold (fewest false alarms among equals).
Rule = Callable[..., tuple[pd.Series, pd.Series]]


def _everywhere(sweep: pd.DataFrame) -> pd.Series:
    return pd.Series(True, index=sweep.index)


def _rule_recall(sweep: pd.DataFrame, *, target: float) -> tuple[pd.Series, pd.Series]:
    return sweep["recall"] >= target, sweep["threshold"]


def _rule_precision(sweep: pd.DataFrame, *, target: float) -> tuple[pd.Series, pd.Series]:
    return sweep["precision"] >= target, -sweep["threshold"]


def _rule_fbeta(sweep: pd.DataFrame, *, beta: float = 1.0) -> tuple[pd.Series, pd.Series]:
    score = pd.Series(fbeta_from_counts(sweep["tp"], sweep["fp"], sweep["fn"], beta), index=sweep.index)
    return _everywhere(sweep), score


def _rule_youden(sweep: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    return _everywhere(sweep), sweep["recall"] + sweep["specificity"] - 1


def _rule_cost(
    sweep: pd.DataFrame, *, cost_miss: float, cost_false_alarm: float = 1.0, prevalence: float | None = None
) -> tuple[pd.Series, pd.Series]:
    return _everywhere(sweep), -expected_cost(sweep, cost_miss, cost_false_alarm, prevalence)


#: Threshold rules by name, with the parameters each takes.
RULES: dict[str, Rule] = {
    "recall": _rule_recall,        # target=: highest threshold with recall >= target
    "precision": _rule_precision,  # target=: lowest threshold with precision >= target
    "fbeta": _rule_fbeta,          # beta=1.0: maximum F-beta
    "youden": _rule_youden,        # maximum recall + specificity - 1
    "cost": _rule_cost,            # cost_miss=, cost_false_alarm=1.0, prevalence=None: minimum expected cost
}


@dataclass(frozen=True)
class ThresholdChoice:
    """A threshold chosen on validation data, the rule that chose it, and the metrics there."""

    threshold: float
    rule: str
    params: dict
    metrics: dict


def choose_threshold(y_true: ArrayLike, y_prob: ArrayLike, rule: str = "recall", **params) -> ThresholdChoice:
    """Pick the operating point on VALIDATION data by an explicit rule (see :data:`RULES`).

    Choosing on the test set would make its scores optimistic; choose here, then
    report the test set once at ``choice.threshold``. Ties go to the highest
    threshold. Raises ``ValueError`` when no threshold meets a target.
    Example: ``choose_threshold(y_val, p_val, "recall", target=0.95)``.
    """
    if rule not in RULES:
        raise ValueError(f"Unknown rule {rule!r}; choose one of {sorted(RULES)}.")
    sweep = threshold_sweep(y_true, y_prob)
    eligible, score = RULES[rule](sweep, **params)
    if not eligible.any():  # only the target rules can leave nothing eligible
        best = sweep[rule].max()
        raise ValueError(f"No threshold reaches {rule} >= {params['target']} (best {best:.3f}).")
    best = score[eligible].max()
    tied = np.isclose(score, best, rtol=1e-12, atol=1e-12)  # equal in exact arithmetic, not always in floats
    threshold = float(sweep["threshold"][eligible & tied].max())
    return ThresholdChoice(threshold, rule, dict(params), metrics_at(y_true, y_prob, threshold))

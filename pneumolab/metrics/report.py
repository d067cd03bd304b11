"""The test-set verdict of a detector, as tables, text and plain JSON.

:func:`report` judges the test set once, at a threshold chosen beforehand on
validation data, with bootstrap intervals; :func:`metrics_table` shows the
metrics of :func:`pneumolab.metrics.binary.metrics_at` with what each means;
:func:`json_ready` makes any result plain Python for ``json.dumps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pneumolab import config
from pneumolab.metrics.binary import MEANING, metrics_at
from pneumolab.metrics.bootstrap import bootstrap_ci


def report(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    threshold: float,
    *,
    ci: bool = True,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = config.SEED,
) -> dict:
    """The test-set verdict at a threshold chosen beforehand, ready for ``json.dumps``.

    Keys: ``accuracy, recall, precision, specificity, f1, roc_auc, pr_auc,
    threshold, confusion_matrix`` (``[[TN, FP], [FN, TP]]``), ``n, prevalence,
    brier``, ``ci`` (metric -> ``[low, high]``, percentile bootstrap) and
    ``ci_level``; with ``ci=False`` the last two are None. Only plain numbers and
    lists; NaN becomes None.
    """
    found = metrics_at(y_true, y_prob, threshold)
    names = ("accuracy", "recall", "precision", "specificity", "f1", "roc_auc", "pr_auc", "threshold",
             "confusion_matrix", "n", "prevalence", "brier")
    result = {name: found[name] for name in names}
    result["ci"] = result["ci_level"] = None
    if ci:
        bounds = bootstrap_ci(y_true, y_prob, threshold, n_boot=n_boot, level=level, seed=seed)
        result["ci"] = {name: [row.low, row.high] for name, row in bounds.iterrows()}
        result["ci_level"] = level
    return json_ready(result)


def interval_text(bounds: Sequence[float | None]) -> str:
    """A confidence interval ``[low, high]`` of a report as text, ``"undefined"`` where a bound is None."""
    low, high = bounds
    return "undefined" if low is None or high is None else f"[{low:.3f}, {high:.3f}]"


def json_ready(value: object) -> object:
    """``value`` with numpy types made plain Python and NaN made None, for JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [json_ready(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else float(value)
    return value


def metrics_table(metrics: dict) -> pd.DataFrame:
    """The metrics of :func:`metrics_at` as a tidy table: ``metric, value, meaning, note``."""
    names = ("accuracy", "recall", "precision", "specificity", "f1", "fbeta", "roc_auc", "pr_auc", "brier")
    meaning = MEANING | {"fbeta": f"{MEANING['fbeta']} (beta = {metrics['beta']:g})"}
    return pd.DataFrame(
        dict(metric=list(names), value=[metrics[n] for n in names], meaning=[meaning[n] for n in names],
             note=[metrics["notes"].get(n, "") for n in names])
    )

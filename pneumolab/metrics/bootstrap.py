"""How sure we are: percentile bootstrap intervals of a detector's metrics.

The images are resampled with replacement and every resample is scored at once
on the counting core of :mod:`pneumolab.metrics.binary` (a resample is a row of
counts), so two thousand resamples take a fraction of a second.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from pneumolab import config
from pneumolab.limits import check_threshold
from pneumolab.metrics.binary import CI_METRICS, check_scores, grouped_counts, scores_at


def bootstrap_distribution(
    y_true: ArrayLike, y_prob: ArrayLike, threshold: float, *, n_boot: int = 2000, seed: int = config.SEED
) -> pd.DataFrame:
    """The metrics of ``n_boot`` resamples of the images drawn with replacement, one row each.

    The spread of a column is what another test set of the same size might have
    shown. AUCs of resamples holding one class only are NaN.
    """
    y, p = check_scores(y_true, y_prob)
    threshold = check_threshold(threshold)
    rows = np.random.default_rng(seed).integers(0, y.size, size=(n_boot, y.size))
    found = scores_at(*grouped_counts(y, p, rows), threshold)
    return pd.DataFrame({name: found[name] for name in CI_METRICS})


def bootstrap_ci(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    threshold: float,
    *,
    n_boot: int = 2000,
    level: float = 0.95,
    seed: int = config.SEED,
) -> pd.DataFrame:
    """Percentile bootstrap confidence intervals, one row per metric: ``estimate, low, high, width``.

    On a few hundred test images a 95% interval is several points wide: two
    models whose intervals overlap that much may not differ at all.
    """
    if not 0 < level < 1:
        raise ValueError(f"level must lie between 0 and 1, got {level}.")
    y, p = check_scores(y_true, y_prob)
    point = scores_at(*grouped_counts(y, p, np.arange(y.size)[None]), check_threshold(threshold))
    samples = bootstrap_distribution(y, p, threshold, n_boot=n_boot, seed=seed)
    tail = (1 - level) / 2
    bounds = samples.quantile([tail, 1 - tail]).T.set_axis(["low", "high"], axis=1)
    table = pd.DataFrame({"estimate": [point[name][0] for name in CI_METRICS]}, index=list(CI_METRICS))
    table = table.join(bounds)
    table["width"] = table["high"] - table["low"]
    return table.rename_axis("metric")

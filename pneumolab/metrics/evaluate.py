"""Judging a pneumonia detector: metrics at an operating point, choosing that point, and how sure we are.

Every function takes ``y_true`` (1 = PNEUMONIA, 0 = NORMAL) and ``y_prob`` (the
model's probability of pneumonia) and predicts pneumonia when
``y_prob >= threshold``. In screening a missed pneumonia costs more than a false
alarm, so the threshold is a decision, not a constant 0.5: :func:`choose_threshold`
makes it on validation data by a stated rule, then the test set is judged once at
that threshold, with bootstrap confidence intervals (:func:`report`).

Corner cases have fixed answers, so no number is ever left undefined by accident:

* a ratio with nothing to count is 0.0, as scikit-learn's ``zero_division=0``:
  precision when no image is predicted pneumonia, recall when ``y_true`` holds no
  pneumonia, specificity when it holds no normal image, and F-scores with ``TP = 0``;
* ROC AUC needs both classes and PR AUC (average precision) needs a pneumonia;
  otherwise they are NaN and an :class:`UndefinedMetricWarning` says why;
* images with equal probabilities always fall on the same side of a threshold,
  and in ROC AUC a tie between a pneumonia and a normal image counts one half;
* thresholds 0 and 1 are allowed: 0 calls every image pneumonia, 1 only those at
  probability exactly 1.

A model of several classes (normal, bacteria, virus) is judged in
:mod:`pneumolab.metrics.multiclass`, on the same computing core.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize_scalar
from scipy.special import expit

from pneumolab import config
from pneumolab.limits import check_threshold

#: The metrics that get a bootstrap confidence interval, in report order.
CI_METRICS = ("accuracy", "recall", "precision", "specificity", "f1", "roc_auc", "pr_auc", "brier")

#: What each metric says about a screening programme, for tables and widgets.
MEANING = {
    "accuracy": "share of all images called right",
    "recall": "sensitivity: share of pneumonia caught",
    "precision": "share of alarms that are pneumonia",
    "specificity": "share of normal images called normal",
    "f1": "harmonic mean of precision and recall",
    "fbeta": "like F1, with recall weighing beta times as much as precision",
    "roc_auc": "chance a pneumonia scores above a normal image",
    "pr_auc": "average precision over all recall levels",
    "brier": "mean squared error of the probabilities (lower is better)",
}

_EPS = 1e-7  # probabilities are clipped to [_EPS, 1 - _EPS] before taking logits


class UndefinedMetricWarning(UserWarning):
    """A metric is NaN because the data cannot define it (for example a single class)."""


# ---------------------------------------------------------------- metrics at a threshold


def metrics_at(y_true: ArrayLike, y_prob: ArrayLike, threshold: float = 0.5, *, beta: float = 2.0) -> dict:
    """Every metric at one threshold, as a dict.

    Keys: ``threshold, beta, n, prevalence, confusion_matrix`` (2x2 array
    ``[[TN, FP], [FN, TP]]``), ``accuracy, recall, precision, specificity, f1,
    fbeta, roc_auc, pr_auc, brier`` (floats) and ``notes``, which maps a metric to
    the reason it took a conventional value (see the module docstring).
    ``beta=2`` makes ``fbeta`` the F2 score, which values recall the way screening does.
    """
    y, p = _check(y_true, y_prob)
    threshold = check_threshold(threshold)
    found = _evaluate(*grouped_counts(y, p, np.arange(y.size)[None]), threshold)
    tn, fp, fn, tp = (int(found[k][0]) for k in ("tn", "fp", "fn", "tp"))
    result = dict(threshold=threshold, beta=beta, n=int(y.size), prevalence=float(y.mean()),
                  confusion_matrix=np.array([[tn, fp], [fn, tp]]))
    result |= {name: float(found[name][0]) for name in CI_METRICS}
    result["fbeta"] = float(fbeta_from_counts(tp, fp, fn, beta))
    result["notes"] = _notes(tn, fp, fn, tp)
    undefined = [f"{k}: {result['notes'][k]}" for k in ("roc_auc", "pr_auc") if math.isnan(result[k])]
    if undefined:
        warnings.warn("; ".join(undefined), UndefinedMetricWarning, stacklevel=2)
    return result


def metrics_table(metrics: dict) -> pd.DataFrame:
    """The metrics of :func:`metrics_at` as a tidy table: ``metric, value, meaning, note``."""
    names = ("accuracy", "recall", "precision", "specificity", "f1", "fbeta", "roc_auc", "pr_auc", "brier")
    meaning = MEANING | {"fbeta": f"{MEANING['fbeta']} (beta = {metrics['beta']:g})"}
    return pd.DataFrame(
        dict(metric=list(names), value=[metrics[n] for n in names], meaning=[meaning[n] for n in names],
             note=[metrics["notes"].get(n, "") for n in names])
    )


def _notes(tn: int, fp: int, fn: int, tp: int) -> dict[str, str]:
    notes = {}
    if tp + fp == 0:
        notes["precision"] = "no image predicted pneumonia: set to 0.0 (zero_division=0)"
    if tp + fn == 0:
        notes["recall"] = "no pneumonia in y_true: set to 0.0 (zero_division=0)"
        notes["pr_auc"] = "undefined without a pneumonia in y_true: NaN"
    if tn + fp == 0:
        notes["specificity"] = "no normal image in y_true: set to 0.0 (zero_division=0)"
    if tp + fn == 0 or tn + fp == 0:
        notes["roc_auc"] = "undefined with only one class in y_true: NaN"
    return notes


def _check(y_true: ArrayLike, y_prob: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true)
    p = np.asarray(y_prob, dtype=float)
    if y.ndim != 1 or p.shape != y.shape:
        raise ValueError(f"y_true and y_prob must be 1-D and equally long, not {y.shape} and {p.shape}.")
    if y.size == 0:
        raise ValueError("There are no images to evaluate.")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold only 0 (NORMAL) and 1 (PNEUMONIA).")
    if not (np.isfinite(p).all() and p.min() >= 0 and p.max() <= 1):
        raise ValueError("y_prob must hold probabilities between 0 and 1.")
    return y.astype(np.int64), p


# The computing core. Images are pooled by distinct probability (ascending), and
# each row of ``pos``/``neg`` says how many pneumonia/normal images of one sample
# sit at each probability. The plain data set is one row of ones; a bootstrap
# resample is a row of counts. So point estimates, threshold sweeps and
# bootstraps share one exact, vectorized computation. ``grouped_counts``,
# ``ranking_scores``, ``fbeta_from_counts`` and ``safe_ratio`` are public because
# :mod:`pneumolab.metrics.multiclass` scores each class one-vs-rest with the same core.


def grouped_counts(
    y: np.ndarray, p: np.ndarray, rows: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct probabilities and the pneumonia/normal counts at each, for each row of image indices."""
    values, group = np.unique(p, return_inverse=True)
    n_rows, n_groups = rows.shape[0], values.size
    slots = (np.arange(n_rows)[:, None] * n_groups + group[rows]).ravel()
    size = n_rows * n_groups
    pos = np.bincount(slots, weights=y[rows].ravel(), minlength=size).reshape(n_rows, n_groups)
    total = np.bincount(slots, minlength=size).reshape(n_rows, n_groups)
    return values, pos, total - pos


def _counts(values: np.ndarray, pos: np.ndarray, neg: np.ndarray, thresholds: np.ndarray) -> dict:
    """TN, FP, FN, TP of every row at every threshold, each of shape (rows, thresholds)."""
    cut = np.searchsorted(values, thresholds, side="left")
    pos_below = np.pad(np.cumsum(pos, axis=1), ((0, 0), (1, 0)))
    neg_below = np.pad(np.cumsum(neg, axis=1), ((0, 0), (1, 0)))
    fn, tn = pos_below[:, cut], neg_below[:, cut]
    return dict(tn=tn, fp=neg_below[:, -1:] - tn, fn=fn, tp=pos_below[:, -1:] - fn)


def _rates(tn: np.ndarray, fp: np.ndarray, fn: np.ndarray, tp: np.ndarray) -> dict:
    return dict(
        accuracy=safe_ratio(tp + tn, tp + tn + fp + fn),
        recall=safe_ratio(tp, tp + fn),
        precision=safe_ratio(tp, tp + fp),
        specificity=safe_ratio(tn, tn + fp),
        f1=fbeta_from_counts(tp, fp, fn, 1.0),
    )


def fbeta_from_counts(tp: ArrayLike, fp: ArrayLike, fn: ArrayLike, beta: float) -> np.ndarray:
    """F-beta from counts, elementwise (0.0 when ``TP = 0``), so stacks of resamples are scored at once."""
    tp, fp, fn = (np.asarray(a, dtype=float) for a in (tp, fp, fn))
    weight = beta**2
    return safe_ratio((1 + weight) * tp, (1 + weight) * tp + weight * fn + fp)


def safe_ratio(num: ArrayLike, den: ArrayLike, empty: float = 0.0) -> np.ndarray:
    """``num / den`` elementwise, ``empty`` where ``den`` is 0: a ratio with nothing to count is defined."""
    num, den = np.broadcast_arrays(np.asarray(num, dtype=float), np.asarray(den, dtype=float))
    return np.divide(num, den, out=np.full(num.shape, empty), where=den > 0)


def ranking_scores(values: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> dict:
    """ROC AUC (rank form, ties count half), average precision and Brier score of every row."""
    n_pos, n_neg = pos.sum(axis=1), neg.sum(axis=1)
    neg_below = np.cumsum(neg, axis=1) - neg
    roc_auc = safe_ratio((pos * (neg_below + 0.5 * neg)).sum(axis=1), n_pos * n_neg, empty=np.nan)
    pos_down, neg_down = pos[:, ::-1], neg[:, ::-1]
    precision = safe_ratio(np.cumsum(pos_down, axis=1), np.cumsum(pos_down + neg_down, axis=1))
    pr_auc = safe_ratio((pos_down * precision).sum(axis=1), n_pos, empty=np.nan)
    squared_error = (pos * (1 - values) ** 2 + neg * values**2).sum(axis=1)
    return dict(roc_auc=roc_auc, pr_auc=pr_auc, brier=squared_error / (n_pos + n_neg))


def _evaluate(values: np.ndarray, pos: np.ndarray, neg: np.ndarray, threshold: float) -> dict:
    counts = {k: v[:, 0] for k, v in _counts(values, pos, neg, np.array([threshold])).items()}
    return counts | _rates(**counts) | ranking_scores(values, pos, neg)


# ---------------------------------------------------------------- choosing the threshold


def threshold_sweep(y_true: ArrayLike, y_prob: ArrayLike) -> pd.DataFrame:
    """Confusion counts and rates at every candidate threshold, ascending.

    The candidates are 0, every distinct predicted probability, and 1: between two
    neighbouring probabilities nothing changes, so no other threshold gives a
    different confusion matrix. Columns: ``threshold, tn, fp, fn, tp, accuracy,
    recall, precision, specificity, f1``.
    """
    y, p = _check(y_true, y_prob)
    values, pos, neg = grouped_counts(y, p, np.arange(y.size)[None])
    thresholds = np.unique(np.concatenate([[0.0], values, [1.0]]))
    counts = {k: v[0].astype(int) for k, v in _counts(values, pos, neg, thresholds).items()}
    return pd.DataFrame(dict(threshold=thresholds, **counts, **_rates(**counts)))


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


# ---------------------------------------------------------------- how sure we are


def bootstrap_distribution(
    y_true: ArrayLike, y_prob: ArrayLike, threshold: float, *, n_boot: int = 2000, seed: int = config.SEED
) -> pd.DataFrame:
    """The metrics of ``n_boot`` resamples of the images drawn with replacement, one row each.

    The spread of a column is what another test set of the same size might have
    shown. AUCs of resamples holding one class only are NaN.
    """
    y, p = _check(y_true, y_prob)
    threshold = check_threshold(threshold)
    rows = np.random.default_rng(seed).integers(0, y.size, size=(n_boot, y.size))
    found = _evaluate(*grouped_counts(y, p, rows), threshold)
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
    y, p = _check(y_true, y_prob)
    point = _evaluate(*grouped_counts(y, p, np.arange(y.size)[None]), check_threshold(threshold))
    samples = bootstrap_distribution(y, p, threshold, n_boot=n_boot, seed=seed)
    tail = (1 - level) / 2
    bounds = samples.quantile([tail, 1 - tail]).T.set_axis(["low", "high"], axis=1)
    table = pd.DataFrame({"estimate": [point[name][0] for name in CI_METRICS]}, index=list(CI_METRICS))
    table = table.join(bounds)
    table["width"] = table["high"] - table["low"]
    return table.rename_axis("metric")


# ---------------------------------------------------------------- calibration


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared distance between probability and outcome: 0 is perfect, 0.25 is a coin."""
    y, p = _check(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def log_loss(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean negative log-likelihood of the outcomes; punishes confident mistakes hard."""
    y, p = _check(y_true, y_prob)
    return _nll(_logit(p), y, 1.0)


def reliability_curve(
    y_true: ArrayLike, y_prob: ArrayLike, *, n_bins: int = 10, strategy: str = "uniform"
) -> pd.DataFrame:
    """Mean predicted probability against observed pneumonia rate, per probability bin.

    A calibrated model sits on the diagonal: of the images given 0.8, 80% have
    pneumonia. ``strategy="uniform"`` uses equal-width bins, ``"quantile"`` bins of
    equal counts. Empty bins are left out. Columns: ``bin_low, bin_high,
    mean_prob, frac_positive, count``.
    """
    y, p = _check(y_true, y_prob)
    if strategy == "uniform":
        edges = np.linspace(0.0, 1.0, n_bins + 1)
    elif strategy == "quantile":
        inner = np.quantile(p, np.linspace(0, 1, n_bins + 1)[1:-1])
        edges = np.unique(np.concatenate([[0.0], inner, [1.0]]))
    else:
        raise ValueError(f"Unknown strategy {strategy!r}; choose 'uniform' or 'quantile'.")
    bins = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, edges.size - 2)
    table = (
        pd.DataFrame(dict(bin=bins, prob=p, y=y))
        .groupby("bin")
        .agg(mean_prob=("prob", "mean"), frac_positive=("y", "mean"), count=("y", "size"))
    )
    table.insert(0, "bin_high", edges[table.index + 1])
    table.insert(0, "bin_low", edges[table.index])
    return table.reset_index(drop=True)


def fit_temperature(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """The temperature T that makes ``sigmoid(logit(p) / T)`` most likely on VALIDATION data.

    T > 1 softens over-confident probabilities, T < 1 sharpens timid ones. The
    order of the images does not change, so ROC AUC does not either; a threshold
    ``t`` chosen before scaling becomes ``sigmoid(logit(t) / T)`` after it.
    """
    y, p = _check(y_true, y_prob)
    logits = _logit(p)
    fit = minimize_scalar(lambda log_t: _nll(logits, y, math.exp(log_t)),
                          bounds=(math.log(0.01), math.log(100.0)), method="bounded")
    return float(math.exp(fit.x))


def apply_temperature(y_prob: ArrayLike, temperature: float) -> np.ndarray:
    """Probabilities rescaled by a temperature from :func:`fit_temperature`."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}.")
    return expit(_logit(np.asarray(y_prob, dtype=float)) / temperature)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, _EPS, 1 - _EPS)
    return np.log(p) - np.log1p(-p)


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    return float(np.mean(np.logaddexp(0.0, -(2 * y - 1) * logits / temperature)))


# ---------------------------------------------------------------- the report


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

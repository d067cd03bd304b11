"""Are the probabilities honest? Brier score, log loss, reliability curve and temperature scaling.

A calibrated model's 0.8 means pneumonia four times in five. Temperature scaling
(:func:`fit_temperature` on validation data, :func:`apply_temperature` after)
fixes over- or under-confidence without changing the order of the images.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit

from pneumolab.metrics.binary import check_scores

_EPS = 1e-7  # probabilities are clipped to [_EPS, 1 - _EPS] before taking logits


def brier_score(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean squared distance between probability and outcome: 0 is perfect, 0.25 is a coin."""
    y, p = check_scores(y_true, y_prob)
    return float(np.mean((p - y) ** 2))


def log_loss(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean negative log-likelihood of the outcomes; punishes confident mistakes hard."""
    y, p = check_scores(y_true, y_prob)
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
    y, p = check_scores(y_true, y_prob)
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
    y, p = check_scores(y_true, y_prob)
    return fit_temperature_logits(y, _logit(p))


def fit_logit_scaling(
    y_true: ArrayLike, logits: ArrayLike, method: str = "temperature", label_smoothing: float = 0.0
) -> tuple[float, float]:
    """``(weight, bias)`` that make ``sigmoid(weight * logit + bias)`` most likely on VALIDATION data.

    ``"temperature"`` fits the weight alone (``1 / T``, bias 0: the order of the images, and so ROC AUC,
    does not change, nor does the 0.5 point); ``"platt"`` fits both (Platt scaling). Takes logits, not
    probabilities: a model sure enough to round its probability to 1.0 still has a finite logit.

    ``label_smoothing`` ε fits to the targets ``ε/2`` and ``1 - ε/2`` instead of 0 and 1. On data the
    model separates almost perfectly (a validation split from its own training hospital), the plain
    fit rewards ever more certainty; smoothed targets stop it near ``1 - ε/2``, as label smoothing
    does in training.
    """
    y = np.asarray(y_true, dtype=float)
    z = np.asarray(logits, dtype=float)
    if y.shape != z.shape or not np.isin(y, (0, 1)).all() or not np.isfinite(z).all():
        raise ValueError("fit_logit_scaling needs labels of 0 and 1 and finite logits of the same length.")
    if not 0.0 <= label_smoothing < 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing}.")
    if method == "temperature":
        temperature = fit_temperature_logits(y, z, label_smoothing)
        return 1.0 / temperature, 0.0
    if method != "platt":
        raise ValueError(f"Unknown calibration method {method!r}; choose 'temperature' or 'platt'.")
    fit = minimize(lambda wb: _nll(wb[0] * z + wb[1], y, 1.0, label_smoothing),
                   x0=np.array([1.0, 0.0]), method="Nelder-Mead")
    return float(fit.x[0]), float(fit.x[1])


def fit_temperature_logits(y_true: ArrayLike, logits: ArrayLike, label_smoothing: float = 0.0) -> float:
    """:func:`fit_temperature` for logits rather than probabilities (targets smoothed by ε)."""
    y, z = np.asarray(y_true, dtype=float), np.asarray(logits, dtype=float)
    fit = minimize_scalar(lambda log_t: _nll(z, y, math.exp(log_t), label_smoothing),
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


def _nll(logits: np.ndarray, y: np.ndarray, temperature: float, label_smoothing: float = 0.0) -> float:
    """Mean cross-entropy of ``sigmoid(logits / temperature)`` against targets smoothed by ε."""
    target = y * (1.0 - label_smoothing) + label_smoothing / 2
    scaled = logits / temperature
    return float(np.mean(target * np.logaddexp(0.0, -scaled) + (1 - target) * np.logaddexp(0.0, scaled)))

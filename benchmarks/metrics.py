"""Seconds of the metrics a lesson or ``pneumolab evaluate`` waits for, on a test-sized split and larger.

    python benchmarks/metrics.py [--sizes 624 5856] [--repeats 3]

Synthetic labels and probabilities (a decent model, probabilities rounded so
that there are ties, as a real model's are). Target: the 95 % bootstrap
interval of a 624-image test split (2,000 resamples) within 2 s, so the final
report never keeps a lesson waiting. The best of ``--repeats`` runs is kept.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from _report import report

from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.bootstrap import bootstrap_ci
from pneumolab.metrics.multiclass import multiclass_report
from pneumolab.metrics.thresholds import choose_threshold

#: Seconds the bootstrap interval of the 624-image test split may take.
BOOTSTRAP_TARGET_S = 2.0
TEST_IMAGES = 624


def synthetic(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Labels and rounded probabilities of a decent, imperfect yes/no model."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return y, np.round(1 / (1 + np.exp(-rng.normal(1.5 * (2 * y - 1), 1.5))), 3)


def synthetic_three(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and per-class probabilities of a decent three-class model."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    logits = rng.normal(0, 1.5, (n, 3))
    logits[np.arange(n), y] += 2
    probs = np.exp(logits)
    return y, probs / probs.sum(axis=1, keepdims=True)


def best_seconds(work: Callable[[], object], repeats: int) -> float:
    """The fastest of ``repeats`` runs of ``work``, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", type=int, default=[TEST_IMAGES, 5856],
                        help="numbers of images to time (default: the test split and the whole data set)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the fastest counts")
    args = parser.parse_args()

    rows = []
    for n in args.sizes:
        y, p = synthetic(n)
        y3, p3 = synthetic_three(n)
        jobs = {
            "metrics_at": lambda y=y, p=p: metrics_at(y, p, 0.5),
            "choose_threshold (recall)": lambda y=y, p=p: choose_threshold(y, p, "recall", target=0.95),
            "bootstrap_ci (2000)": lambda y=y, p=p: bootstrap_ci(y, p, 0.5, n_boot=2000),
            "multiclass_report (2000)": lambda y=y3, p=p3: multiclass_report(y, p, ["a", "b", "c"]),
        }
        for name, work in jobs.items():
            seconds = best_seconds(work, args.repeats)
            target = BOOTSTRAP_TARGET_S if name.startswith("bootstrap") and n == TEST_IMAGES else None
            rows.append(dict(images=n, step=name, seconds=seconds,
                             target_s="" if target is None else target,
                             met="" if target is None else ("yes" if seconds <= target else "NO")))
    report("metrics", rows, bootstrap_target_s=BOOTSTRAP_TARGET_S)


if __name__ == "__main__":
    main()

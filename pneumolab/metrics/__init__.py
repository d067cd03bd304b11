"""Judging a model: metrics at a threshold, choosing the threshold, how sure we are, calibration.

Pure numpy, pandas and scipy: this part of the kit must import neither
TensorFlow nor matplotlib, so scoring, reports and the command line stay fast.
``binary`` holds the vectorised counting core and :func:`metrics_at`;
``thresholds`` chooses an operating point on validation data; ``bootstrap``
gives confidence intervals; ``calibration`` checks the probabilities;
``report`` writes the test-set verdict; ``multiclass`` judges the three-class
model; ``outcomes`` names each image's outcome at a threshold and picks errors
to show; ``shift`` measures dataset shift (a domain classifier, scores across
splits, the generalization comparison). Inside the package import from those
submodules; this face is for notebooks and users (``from pneumolab import
metrics``; ``metrics.metrics_at(y, p, 0.5)``).
A function named like its module (``report``, ``outcomes``) is what the face
gives under that name; lazy_loader keeps it so even after the module is imported.
"""

import lazy_loader as lazy

__getattr__, __dir__, __all__ = lazy.attach(
    __name__,
    submodules=["binary", "bootstrap", "calibration", "multiclass", "shift", "thresholds"],
    submod_attrs={
        "binary": ["CI_METRICS", "MEANING", "UndefinedMetricWarning", "metrics_at"],
        "thresholds": ["RULES", "ThresholdChoice", "choose_threshold", "expected_cost", "threshold_sweep"],
        "bootstrap": ["bootstrap_ci", "bootstrap_distribution"],
        "calibration": ["apply_temperature", "brier_score", "fit_temperature", "log_loss",
                        "reliability_curve"],
        "report": ["interval_text", "json_ready", "metrics_table", "report"],
        "multiclass": ["multiclass_report", "multiclass_table", "pair_scores"],
        "outcomes": ["OUTCOMES", "ErrorPick", "outcomes", "pick_errors"],
        "shift": ["GENERALIZATION_FILE", "DomainShift", "compare_splits", "domain_model", "domain_shift",
                  "generalization_frame", "grouped_folds", "out_of_fold", "read_generalization",
                  "share_at_least"],
    },
)

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn import metrics as skm

from pneumolab import metrics
from pneumolab.metrics.binary import CI_METRICS, UndefinedMetricWarning, metrics_at
from pneumolab.metrics.bootstrap import bootstrap_ci, bootstrap_distribution
from pneumolab.metrics.calibration import (
    apply_temperature,
    brier_score,
    fit_temperature,
    log_loss,
    reliability_curve,
)
from pneumolab.metrics.report import interval_text, metrics_table, report
from pneumolab.metrics.thresholds import choose_threshold, expected_cost, threshold_sweep

# The hand-checked example: candidates 0, .1, .35, .4, .8, 1.
Y = [0, 0, 1, 1]
P = [0.1, 0.4, 0.35, 0.8]


def synthetic(n, seed=0, separation=1.5):
    """Labels and scores of a decent, imperfect model, with ties (probabilities rounded)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    logits = rng.normal(separation * (2 * y - 1), 1.5)
    return y, np.round(1 / (1 + np.exp(-logits)), 3)


def test_hand_computed_metrics_at_one_half():
    m = metrics_at(Y, P, 0.5)
    assert m["confusion_matrix"].tolist() == [[2, 0], [1, 1]]
    assert (m["accuracy"], m["recall"], m["precision"], m["specificity"]) == (0.75, 0.5, 1.0, 1.0)
    assert m["f1"] == pytest.approx(2 / 3)
    assert m["fbeta"] == pytest.approx(5 / 9)  # F2 = 5 TP / (5 TP + 4 FN + FP)
    assert metrics_at(Y, P, 0.5, beta=0.5)["fbeta"] == pytest.approx(5 / 6)
    assert m["roc_auc"] == 0.75  # 3 of the 4 (pneumonia, normal) pairs are ordered right
    # ranked 0.8(P) 0.4(N) 0.35(P) 0.1(N): precision 1 at the first hit, 2/3 at the second
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert m["brier"] == pytest.approx((0.01 + 0.16 + 0.65**2 + 0.04) / 4)
    assert (m["n"], m["prevalence"], m["notes"]) == (4, 0.5, {})


def test_ties_fall_on_one_side_and_count_half_in_the_auc():
    y, p = [0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]
    m = metrics_at(y, p, 0.5)
    assert m["confusion_matrix"].tolist() == [[1, 1], [0, 2]]
    assert m["roc_auc"] == pytest.approx(3.5 / 4)
    assert m["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)


@pytest.mark.parametrize("seed", range(6))
def test_metrics_agree_with_scikit_learn(seed):
    y, p = synthetic(int(40 + 30 * seed), seed)
    p = np.round(p, 1)  # many ties
    threshold = float(np.median(p))
    m = metrics_at(y, p, threshold)
    predicted = (p >= threshold).astype(int)
    assert m["confusion_matrix"].tolist() == skm.confusion_matrix(y, predicted).tolist()
    assert m["precision"] == pytest.approx(skm.precision_score(y, predicted))
    assert m["f1"] == pytest.approx(skm.f1_score(y, predicted))
    assert m["fbeta"] == pytest.approx(skm.fbeta_score(y, predicted, beta=2))
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, p))
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, p))
    assert m["brier"] == pytest.approx(skm.brier_score_loss(y, p))


def test_thresholds_zero_and_one_are_well_defined():
    at_zero = metrics_at(Y, P, 0.0)
    assert at_zero["confusion_matrix"].tolist() == [[0, 2], [0, 2]]
    assert (at_zero["recall"], at_zero["specificity"], at_zero["precision"]) == (1.0, 0.0, 0.5)
    at_one = metrics_at(Y, P, 1.0)
    assert at_one["confusion_matrix"].tolist() == [[2, 0], [2, 0]]
    assert metrics_at(Y, [0.1, 0.4, 0.35, 1.0], 1.0)["confusion_matrix"].tolist() == [[2, 0], [1, 1]]


def test_no_predicted_pneumonia_gives_zero_precision_with_a_note():
    m = metrics_at(Y, P, 0.9)
    assert (m["precision"], m["recall"], m["f1"], m["fbeta"]) == (0.0, 0.0, 0.0, 0.0)
    assert "zero_division" in m["notes"]["precision"]
    table = metrics_table(m)
    assert list(table.columns) == ["metric", "value", "meaning", "note"]
    assert table.set_index("metric").loc["precision", "note"] == m["notes"]["precision"]
    assert not table["value"].isna().any()


@pytest.mark.parametrize("label", [0, 1])
def test_a_single_class_gives_nan_auc_with_a_warning_not_an_error(label):
    with pytest.warns(UndefinedMetricWarning, match="only one class"):
        m = metrics_at([label] * 4, P, 0.3)
    assert math.isnan(m["roc_auc"])
    assert "roc_auc" in m["notes"]
    if label == 1:
        assert m["pr_auc"] == 1.0 and m["specificity"] == 0.0 and "specificity" in m["notes"]
    else:
        assert math.isnan(m["pr_auc"]) and m["recall"] == 0.0 and "recall" in m["notes"]
    assert m["accuracy"] == (0.75 if label == 1 else 0.25)


@pytest.mark.parametrize(
    ("y_true", "y_prob", "threshold", "message"),
    [([0, 1], [0.2], 0.5, "equally long"), ([0, 2], [0.2, 0.3], 0.5, "only 0"),
     ([0, 1], [0.2, 1.3], 0.5, "between 0 and 1"), ([0, 1], [0.2, 0.3], 1.5, "threshold"),
     ([], [], 0.5, "no images")],
)
def test_bad_input_is_explained(y_true, y_prob, threshold, message):
    with pytest.raises(ValueError, match=message):
        metrics_at(y_true, y_prob, threshold)


def test_sweep_lists_every_distinct_probability_and_the_edges():
    sweep = threshold_sweep(Y, P)
    assert sweep["threshold"].tolist() == [0.0, 0.1, 0.35, 0.4, 0.8, 1.0]
    assert sweep["tp"].tolist() == [2, 2, 2, 1, 1, 0]
    assert sweep["fp"].tolist() == [2, 2, 1, 1, 0, 0]
    assert sweep["precision"].tolist() == pytest.approx([0.5, 0.5, 2 / 3, 0.5, 1.0, 0.0])


@pytest.mark.parametrize(
    ("rule", "params", "expected"),
    [
        ("recall", dict(target=0.95), 0.35),    # the highest threshold still catching both
        ("recall", dict(target=0.5), 0.8),
        ("precision", dict(target=0.9), 0.8),
        ("precision", dict(target=0.6), 0.35),  # the lowest, though 0.4 in between falls short
        ("fbeta", dict(), 0.35),                # F1: 0.8 at 0.35, 2/3 at 0.8
        ("fbeta", dict(beta=0.5), 0.8),         # weighing precision flips it: 0.71 against 0.83
        ("youden", dict(), 0.8),                # J = 0.5 at 0.35 and 0.8: ties go to the highest
        ("cost", dict(cost_miss=2.0), 0.35),    # costs: 1 (one false alarm) against 2 (one miss)
        ("cost", dict(cost_miss=0.5), 0.8),
        ("cost", dict(cost_miss=2.0, prevalence=0.1), 0.8),  # rare pneumonia: 0.45 against 0.1
    ],
)
def test_threshold_rules_on_the_hand_example(rule, params, expected):
    choice = choose_threshold(Y, P, rule, **params)
    assert choice.threshold == expected
    assert (choice.rule, choice.params) == (rule, params)
    assert choice.metrics["threshold"] == expected


def test_expected_cost_by_hand():
    sweep = threshold_sweep(Y, P)
    cost = expected_cost(sweep, cost_miss=2.0)
    assert cost.tolist() == pytest.approx([0.5, 0.5, 0.25, 0.75, 0.5, 1.0])
    rare = expected_cost(sweep, cost_miss=2.0, prevalence=0.1)
    assert rare[2] == pytest.approx(0.9 * 0.5) and rare[4] == pytest.approx(0.1 * 0.5 * 2)


def test_a_dearer_miss_never_raises_the_threshold():
    y, p = synthetic(400)
    costs = [0.2, 0.5, 1, 2, 5, 10, 20, 50, 100]
    chosen = [choose_threshold(y, p, "cost", cost_miss=c).threshold for c in costs]
    assert chosen == sorted(chosen, reverse=True)
    assert chosen[0] > chosen[-1]


def test_unreachable_targets_and_unknown_rules_are_explained():
    with pytest.raises(ValueError, match="No threshold reaches precision"):
        choose_threshold(Y, P, "precision", target=1.01)
    with pytest.raises(ValueError, match="Unknown rule"):
        choose_threshold(Y, P, "accuracy")


def test_bootstrap_rows_are_the_metrics_of_resamples():
    y, p = synthetic(200)
    samples = bootstrap_distribution(y, p, 0.5, n_boot=5, seed=7)
    rows = np.random.default_rng(7).integers(0, y.size, size=(5, y.size))
    for row, sample in zip(rows, samples.itertuples(), strict=True):
        m = metrics_at(y[row], p[row], 0.5)
        assert [getattr(sample, k) for k in CI_METRICS] == pytest.approx(
            [m[k] for k in CI_METRICS])


def test_bootstrap_ci_is_seeded_contains_the_estimate_and_narrows_with_more_images():
    y, p = synthetic(624)
    ci = bootstrap_ci(y, p, 0.5, seed=1)
    assert ci.equals(bootstrap_ci(y, p, 0.5, seed=1))
    assert not ci.equals(bootstrap_ci(y, p, 0.5, seed=2))
    assert list(ci.index) == list(CI_METRICS)
    assert ((ci["low"] <= ci["estimate"]) & (ci["estimate"] <= ci["high"])).all()
    assert 0.02 < ci.loc["accuracy", "width"] < 0.15  # several points wide on 624 images
    small = bootstrap_ci(*synthetic(100), 0.5, n_boot=500)
    large = bootstrap_ci(*synthetic(2500), 0.5, n_boot=500)
    assert (large["width"] < small["width"]).all()


def test_bootstrap_skips_resamples_without_both_classes():
    y, p = [0, 0, 0, 1], [0.1, 0.2, 0.6, 0.7]
    samples = bootstrap_distribution(y, p, 0.5, n_boot=200)
    assert samples["roc_auc"].isna().any() and samples["accuracy"].notna().all()
    ci = bootstrap_ci(y, p, 0.5, n_boot=200)
    assert ci["low"].notna().all()


def test_brier_log_loss_and_reliability_by_hand():
    assert brier_score([0, 1], [0.2, 0.6]) == pytest.approx((0.04 + 0.16) / 2)
    assert log_loss([0, 1], [0.2, 0.6]) == pytest.approx(-(np.log(0.8) + np.log(0.6)) / 2)
    curve = reliability_curve([0, 1, 0, 1, 1], [0.05, 0.15, 0.12, 0.95, 1.0], n_bins=10)
    assert curve["bin_low"].tolist() == pytest.approx([0.0, 0.1, 0.9])
    assert curve["count"].tolist() == [1, 2, 2]
    assert curve["frac_positive"].tolist() == [0.0, 0.5, 1.0]
    assert curve["mean_prob"].tolist() == pytest.approx([0.05, 0.135, 0.975])


def test_quantile_bins_hold_equal_counts():
    y, p = synthetic(1000)
    curve = reliability_curve(y, p, n_bins=5, strategy="quantile")
    assert curve["count"].sum() == 1000
    assert curve["count"].between(150, 250).all()


def overconfident(n, seed, sharpness):
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 2, n)
    y = (rng.random(n) < 1 / (1 + np.exp(-logits))).astype(int)
    return y, 1 / (1 + np.exp(-sharpness * logits))


def test_temperature_scaling_softens_overconfident_probabilities():
    y_val, p_val = overconfident(2000, 0, sharpness=3.0)
    y_test, p_test = overconfident(2000, 1, sharpness=3.0)
    temperature = fit_temperature(y_val, p_val)
    assert 2.5 < temperature < 3.5
    scaled = apply_temperature(p_test, temperature)
    assert log_loss(y_test, scaled) < log_loss(y_test, p_test)
    assert brier_score(y_test, scaled) < brier_score(y_test, p_test)
    assert skm.roc_auc_score(y_test, scaled) == pytest.approx(skm.roc_auc_score(y_test, p_test))
    assert fit_temperature(*overconfident(2000, 2, sharpness=0.5)) < 1
    assert apply_temperature([0.2, 0.7], 1.0) == pytest.approx([0.2, 0.7])


REPORT_KEYS = {"accuracy", "recall", "precision", "specificity", "f1", "roc_auc", "pr_auc", "threshold",
               "confusion_matrix", "n", "prevalence", "brier", "ci", "ci_level"}


def test_report_has_exactly_the_promised_keys_and_is_json():
    y, p = synthetic(300)
    result = report(y, p, 0.4, n_boot=300)
    assert set(result) == REPORT_KEYS
    assert set(result["ci"]) == set(CI_METRICS)
    assert result["ci_level"] == 0.95 and result["n"] == 300 and result["threshold"] == 0.4
    assert sum(map(sum, result["confusion_matrix"])) == 300
    for name, (low, high) in result["ci"].items():
        assert low <= result[name] <= high
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert all(type(result[k]) is float for k in ("accuracy", "roc_auc", "brier", "prevalence"))


def test_report_turns_nan_into_none_and_can_skip_the_intervals():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndefinedMetricWarning)
        result = report([0, 0, 0], [0.1, 0.6, 0.3], 0.5, n_boot=50)
    assert result["roc_auc"] is None and result["pr_auc"] is None
    assert result["ci"]["roc_auc"] == [None, None]
    json.dumps(result, allow_nan=False)
    bare = report(Y, P, 0.5, ci=False)
    assert set(bare) == REPORT_KEYS and bare["ci"] is None and bare["ci_level"] is None


def test_interval_text():
    assert interval_text([0.12345, 0.9]) == "[0.123, 0.900]"
    assert interval_text([None, None]) == "undefined"


def test_the_face_names_resolve_without_tensorflow_or_matplotlib():
    code = ("import sys; from pneumolab import metrics; [getattr(metrics, n) for n in metrics.__all__]; "
            "print(sorted({'tensorflow', 'matplotlib'} & set(sys.modules)))")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
    assert metrics.report is report and metrics.metrics_at is metrics_at  # functions, not same-named modules

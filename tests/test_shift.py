"""Lesson 08, dataset shift: the domain classifier and its folds, scores across splits, the reader of the
generalization comparison, their figures, and the exercise checkers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from pneumolab import exercises as check
from pneumolab.metrics import shift
from pneumolab.metrics.binary import metrics_at
from pneumolab.metrics.thresholds import choose_threshold
from pneumolab.viz import shift as plots

FIXTURE = Path(__file__).parent / "fixtures" / "generalization.json"


def assert_hint(feedback: check.Feedback, *words: str) -> None:
    assert not feedback.ok, f"accepted a wrong answer: {feedback}"
    for word in words:
        assert word.lower() in feedback.message.lower(), feedback.message


@pytest.fixture(autouse=True)
def _agg():
    matplotlib.use("Agg")


def two_samples(gap: float, n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features of ``n`` training and ``n // 2`` test images whose means differ by ``gap`` in every
    dimension, with two films per patient."""
    rng = np.random.default_rng(seed)
    domain = np.r_[np.zeros(n), np.ones(n // 2)].astype(int)
    features = rng.normal(size=(domain.size, 20)) + gap * domain[:, None]
    groups = np.array([f"p{i // 2}" for i in range(domain.size)])
    return features, domain, groups


# ---------------------------------------------------------------- the domain classifier


def test_one_distribution_gives_an_auc_near_one_half():
    found = shift.domain_shift(*two_samples(0.0))
    assert abs(found.roc_auc - 0.5) < 0.1
    assert found.ci[0] < 0.5 < found.ci[1]
    assert (found.n_train, found.n_test) == (240, 120)


def test_separated_distributions_give_an_auc_near_one():
    found = shift.domain_shift(*two_samples(2.0))
    assert found.roc_auc > 0.99 and found.ci[0] > 0.97
    assert found.p_test[found.domain == 1].mean() > 0.9 > 0.1 > found.p_test[found.domain == 0].mean()


def test_grouped_folds_never_put_a_patient_in_two_folds_and_hold_both_splits():
    _, domain, groups = two_samples(0.0)
    folds = shift.grouped_folds(domain, groups, n_splits=5)
    assert sorted(np.unique(folds)) == [0, 1, 2, 3, 4]
    for patient in np.unique(groups):
        assert len(np.unique(folds[groups == patient])) == 1
    for fold in range(5):
        assert 0.2 < domain[folds == fold].mean() < 0.5
    assert np.array_equal(folds, shift.grouped_folds(domain, groups, n_splits=5))  # seeded


def test_grouped_folds_refuse_too_few_groups_and_mismatched_inputs():
    with pytest.raises(ValueError, match="groups"):
        shift.grouped_folds([0, 1, 0, 1], ["a", "a", "b", "b"], n_splits=5)
    with pytest.raises(ValueError, match="one length"):
        shift.grouped_folds([0, 1, 0], ["a", "b"])


def test_out_of_fold_scores_never_come_from_a_classifier_that_saw_the_image():
    features, domain, groups = two_samples(0.0, n=60)
    folds = shift.grouped_folds(domain, groups, n_splits=3)
    scores = shift.out_of_fold(features, domain, folds)
    in_sample = shift.domain_model().fit(features, domain).predict_proba(features)[:, 1]
    assert np.isfinite(scores).all() and scores.shape == domain.shape
    auc = metrics_at(domain, scores)["roc_auc"]
    assert auc < metrics_at(domain, in_sample)["roc_auc"] - 0.1  # noise is learnt only in sample
    with pytest.raises(ValueError, match="only one split"):
        shift.out_of_fold(features, domain, domain)  # one fold holds all test images


def test_domain_shift_needs_both_splits():
    features, domain, groups = two_samples(0.0)
    with pytest.raises(ValueError, match="both"):
        shift.domain_shift(features, np.zeros_like(domain), groups)


def test_extremes_pick_the_most_test_like_training_and_most_train_like_test_images():
    found = shift.domain_shift(*two_samples(1.0))
    test_like, train_like = found.extremes(3)
    assert (found.domain[test_like] == 0).all() and (found.domain[train_like] == 1).all()
    assert found.p_test[test_like].min() >= np.sort(found.p_test[found.domain == 0])[-3]
    assert found.p_test[train_like].max() <= np.sort(found.p_test[found.domain == 1])[2]


# ---------------------------------------------------------------- scores across splits


def test_share_at_least_counts_probabilities_at_or_above_the_level():
    assert shift.share_at_least([0.5, 0.999, 0.9995, 1.0]) == 0.75
    assert shift.share_at_least([0.2, 0.4], level=0.5) == 0.0
    with pytest.raises(ValueError):
        shift.share_at_least([])


def test_compare_splits_scores_every_split_at_one_threshold():
    y = np.array([0, 0, 1, 1])
    table = shift.compare_splits({"validation": (y, [0.1, 0.2, 0.8, 0.9]),
                                  "test": (y, [0.6, 0.2, 0.8, 0.9995])}, threshold=0.5)
    assert list(table.index) == ["validation", "test"]
    assert table.loc["validation", "specificity"] == 1.0 and table.loc["test", "specificity"] == 0.5
    assert table.loc["test", "recall"] == 1.0 and table.loc["test", "share at P >= 0.999"] == 0.25
    assert table.loc["test", "images"] == 4


# ---------------------------------------------------------------- the generalization comparison


def test_read_generalization_orders_candidates_as_declared_then_the_literature():
    frame = shift.read_generalization(FIXTURE)
    assert list(frame["name"]) == ["reference member", "ensemble of three", "Kermany et al. 2018",
                                   "public notebooks"]
    assert list(frame["source"]) == ["kit", "kit", "literature", "literature"]
    member = frame.iloc[0]
    assert member["test_roc_auc"] == 0.951 and member["val_specificity"] == 1.0
    assert (member["test_roc_auc_low"], member["test_roc_auc_high"]) == (0.932, 0.969)
    assert member["share_test_at_0999"] == 0.52 and member["specificity_at_test_recall_095"] == 0.80
    ranged = frame.iloc[3]
    assert np.isnan(ranged["test_roc_auc"]) and (ranged["test_roc_auc_low"], ranged["test_roc_auc_high"]) == (
        0.95, 0.99)
    assert np.isnan(ranged["test_recall"])
    assert frame.attrs["missing"] == ["member, augmented"] and frame.attrs["seconds"] == 1234.5


def test_read_generalization_says_when_the_comparison_is_missing_or_malformed(tmp_path):
    with pytest.raises(FileNotFoundError, match="generalization.py"):
        shift.read_generalization(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not a generalization comparison"):
        shift.read_generalization(bad)
    broken = json.loads(FIXTURE.read_text())
    del broken["candidates"][0]["test"]
    bad.write_text(json.dumps(broken))
    with pytest.raises(ValueError, match="lacks"):
        shift.read_generalization(bad)


def test_generalization_frame_reads_a_comparison_built_in_memory():
    found = json.loads(FIXTURE.read_text())
    frame = shift.generalization_frame({"candidates": found["candidates"][1:], "literature": []})
    assert list(frame["name"]) == ["reference member"] and frame.attrs["missing"] == []
    with pytest.raises(ValueError, match="not a generalization comparison"):
        shift.generalization_frame({"literature": []})


def test_read_generalization_reads_the_default_file_when_given_no_path(tmp_path, monkeypatch):
    copy = tmp_path / "generalization.json"
    shutil.copy(FIXTURE, copy)
    monkeypatch.setattr(shift, "GENERALIZATION_FILE", copy)
    assert len(shift.read_generalization()) == 4


# ---------------------------------------------------------------- figures


@pytest.fixture
def split_scores(scores):
    y, p = scores
    return {"validation": (y, p), "test": (y, np.sqrt(p))}


def test_split_score_histograms_have_one_panel_per_split_with_its_auc(split_scores):
    figure = plots.plot_split_scores(split_scores, threshold=0.9)
    assert isinstance(figure, Figure) and len(figure.axes) == 2
    assert all("ROC AUC" in ax.get_title() for ax in figure.axes)
    assert figure.axes[1].get_title().startswith("test")


def test_domain_figures_show_the_auc_and_the_films():
    found = shift.domain_shift(*two_samples(1.0))
    figure = plots.plot_domain_scores(found)
    assert f"{found.roc_auc:.3f}" in figure.axes[0].get_title()
    films = [np.zeros((40, 40))] * 3
    gallery = plots.plot_domain_gallery(films, [0.9, 0.8, 0.7], films[:2], [0.1, 0.2])
    assert sum(bool(ax.get_images()) for ax in gallery.axes) == 5
    with pytest.raises(ValueError, match="pictures"):
        plots.plot_domain_gallery(films, [0.9], films, [0.1, 0.2, 0.3])


def test_threshold_transfer_marks_both_operating_points(scores):
    y, p = scores
    oracle = choose_threshold(y, p, "recall", target=0.95).threshold
    figure = plots.plot_threshold_transfer(y, p, 0.7, oracle)
    texts = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert any("chosen on validation" in text for text in texts)
    assert any("met on test" in text for text in texts)


def test_split_reliability_has_a_curve_per_split(split_scores):
    figure = plots.plot_split_reliability(split_scores)
    texts = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert any(text.startswith("validation (Brier") for text in texts)
    assert any(text.startswith("test (Brier") for text in texts)


def test_generalization_figure_has_a_row_per_candidate_and_published_result():
    frame = shift.read_generalization(FIXTURE)
    figure = plots.plot_generalization(frame)
    labels = [label.get_text() for label in figure.axes[0].get_yticklabels()]
    assert labels == list(frame["name"])


# ---------------------------------------------------------------- exercise checkers


def test_grouped_folds_checker():
    _, domain, groups = two_samples(0.0)
    right = shift.grouped_folds(domain, groups)
    assert check.grouped_folds(right, groups, domain)
    assert check.grouped_folds(right.astype(float), groups, domain)
    assert_hint(check.grouped_folds(np.arange(domain.size) % 5, groups, domain), "more than one fold")
    assert_hint(check.grouped_folds(np.zeros(domain.size, int), groups, domain), "at least two")
    assert_hint(check.grouped_folds(domain, groups, domain), "one split only")
    assert_hint(check.grouped_folds(right[:10], groups, domain), "shape")
    assert_hint(check.grouped_folds("folds", groups, domain), "shape")


def test_domain_auc_checker():
    features, domain, groups = two_samples(0.3)
    folds = shift.grouped_folds(domain, groups)
    auc = metrics_at(domain, shift.out_of_fold(features, domain, folds))["roc_auc"]
    assert check.domain_auc(auc, features, domain, folds)
    assert check.domain_auc(round(auc, 3), features, domain, folds)
    in_sample = shift.domain_model().fit(features, domain).predict_proba(features)[:, 1]
    assert_hint(check.domain_auc(metrics_at(domain, in_sample)["roc_auc"], features, domain, folds),
                "trained on")
    assert_hint(check.domain_auc(1 - auc, features, domain, folds), "1 - AUC")
    assert_hint(check.domain_auc(100 * auc, features, domain, folds), "percentage")
    assert_hint(check.domain_auc(1.5, features, domain, folds), "between 0 and 1")
    assert_hint(check.domain_auc("0.7", features, domain, folds), "number")


def test_threshold_on_test_checker():
    rng = np.random.default_rng(1)
    y_val, y_test = rng.integers(0, 2, 300), rng.integers(0, 2, 200)
    p_val = 1 / (1 + np.exp(-rng.normal(4 * y_val - 2, 1.0)))
    p_test = 1 / (1 + np.exp(-rng.normal(4 * y_test - 1, 1.5)))  # normals score higher on test
    chosen = choose_threshold(y_val, p_val, "recall", target=0.95)
    on_test = metrics_at(y_test, p_test, chosen.threshold)
    right = {"threshold": chosen.threshold, **{name: on_test[name] for name in ("recall", "specificity")}}
    assert check.threshold_on_test(right, y_val, p_val, y_test, p_test)
    own = choose_threshold(y_test, p_test, "recall", target=0.95).threshold
    scores = (y_val, p_val, y_test, p_test)
    assert_hint(check.threshold_on_test(right | {"threshold": own}, *scores), "TEST split")
    assert_hint(check.threshold_on_test(right | {"threshold": 0.5}, y_val, p_val, y_test, p_test), "highest")
    on_val = {"recall": chosen.metrics["recall"], "specificity": chosen.metrics["specificity"]}
    assert_hint(check.threshold_on_test(right | on_val, y_val, p_val, y_test, p_test), "validation")
    swapped = right | {"recall": right["specificity"], "specificity": right["recall"]}
    assert_hint(check.threshold_on_test(swapped, y_val, p_val, y_test, p_test), "swapped")
    percent = right | {"specificity": 100 * right["specificity"]}
    assert_hint(check.threshold_on_test(percent, y_val, p_val, y_test, p_test), "percentages")
    assert_hint(check.threshold_on_test([0.5, 0.9, 0.8], y_val, p_val, y_test, p_test), "dict")

"""The scores of a three-class model (normal, bacteria, virus), checked by hand and against scikit-learn."""

import json

import numpy as np
import pytest
from sklearn import metrics as skm

from pneumolab.metrics import multiclass


def test_multiclass_report_by_hand():
    classes = ["normal", "bacteria", "virus"]
    y = [0, 0, 1, 1, 2, 2]
    probs = np.array([[0.8, 0.1, 0.1], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1],
                      [0.1, 0.6, 0.3], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7]])
    result = multiclass.multiclass_report(y, probs, classes, n_boot=200)
    assert result["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [0, 1, 1]]
    assert result["accuracy"] == pytest.approx(4 / 6)
    bacteria = result["per_class"]["bacteria"]
    assert (bacteria["recall"], bacteria["precision"], bacteria["support"]) == (1.0, 0.5, 2)
    assert result["macro_f1"] == pytest.approx(skm.f1_score(y, probs.argmax(axis=1), average="macro"))
    low, high = result["ci"]["accuracy"]
    assert low <= result["accuracy"] <= high and result["ci_level"] == 0.95
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert multiclass.multiclass_report(y, probs, classes, ci=False)["ci"] is None
    with pytest.raises(ValueError, match="shape"):
        multiclass.multiclass_report(y, probs[:, :2], classes)


def test_multiclass_one_vs_rest_auc_and_per_class_intervals():
    classes = ["normal", "bacteria", "virus"]
    rng = np.random.default_rng(3)
    y = rng.integers(0, 3, 300)
    logits = rng.normal(0, 1, (300, 3))
    logits[np.arange(300), y] += 1.0
    probs = np.round(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), 2)  # with ties
    result = multiclass.multiclass_report(y, probs, classes, n_boot=300)
    expected = [skm.roc_auc_score(y == c, probs[:, c]) for c in range(3)]
    assert [result["per_class"][name]["roc_auc"] for name in classes] == pytest.approx(expected)
    assert result["macro_roc_auc"] == pytest.approx(np.mean(expected))
    for name in classes:
        for metric, (low, high) in result["ci"]["per_class"][name].items():
            assert low <= result["per_class"][name][metric] <= high, (name, metric)
    low, high = result["ci"]["macro_roc_auc"]
    assert low <= result["macro_roc_auc"] <= high
    assert json.loads(json.dumps(result, allow_nan=False)) == result


def test_multiclass_auc_of_an_absent_class_is_none():
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1]])
    result = multiclass.multiclass_report([0, 1, 0, 1], probs, ["normal", "bacteria", "virus"], n_boot=50)
    assert result["per_class"]["virus"]["roc_auc"] is None
    assert result["per_class"]["normal"]["roc_auc"] == 1.0 and result["macro_roc_auc"] == 1.0
    assert result["ci"]["per_class"]["virus"]["roc_auc"] == [None, None]


def test_pair_scores_by_hand():
    classes = ["normal", "bacteria", "virus"]
    y = [0, 1, 2, 2, 1]
    probs = np.array([[0.9, 0.05, 0.05], [0.2, 0.6, 0.2], [0.1, 0.3, 0.6], [1.0, 0.0, 0.0],
                      [0.0, 0.25, 0.75]])
    labels, scores = multiclass.pair_scores(y, probs, classes, positive="virus", negative="bacteria")
    assert labels.tolist() == [0, 1, 1, 0]  # the normal image is left out
    assert scores == pytest.approx([0.25, 2 / 3, 0.5, 0.75])  # 0.5 when both are 0
    flipped, other = multiclass.pair_scores(y, probs, classes, positive="bacteria", negative="virus")
    assert flipped.tolist() == (1 - labels).tolist() and other == pytest.approx(1 - scores)
    with pytest.raises(ValueError, match="'fungus' is not one of"):
        multiclass.pair_scores(y, probs, classes, positive="fungus", negative="virus")
    with pytest.raises(ValueError, match="different"):
        multiclass.pair_scores(y, probs, classes, positive="virus", negative="virus")
    with pytest.raises(ValueError, match="shape"):
        multiclass.pair_scores(y, probs[:, :2], classes, positive="virus", negative="bacteria")


def test_multiclass_table_has_one_row_per_class_with_intervals():
    classes = ["normal", "bacteria", "virus"]
    probs = np.array([[0.7, 0.2, 0.1], [0.2, 0.7, 0.1], [0.6, 0.3, 0.1], [0.3, 0.6, 0.1]])
    result = multiclass.multiclass_report([0, 1, 0, 1], probs, classes, n_boot=50)
    table = multiclass.multiclass_table(result)
    assert table.index.tolist() == classes
    assert table.loc["normal", "recall"] == 1.0 and table.loc["virus", "support"] == 0
    assert table.loc["virus", "roc_auc 95% CI"] == "undefined"
    low, high = result["ci"]["per_class"]["bacteria"]["precision"]
    assert table.loc["bacteria", "precision 95% CI"] == f"[{low:.3f}, {high:.3f}]"
    bare = multiclass.multiclass_table(multiclass.multiclass_report([0, 1, 0, 1], probs, classes, ci=False))
    assert list(bare.columns) == ["support", "recall", "precision", "f1", "roc_auc"]

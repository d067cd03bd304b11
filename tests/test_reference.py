"""The model shipped in the package: small enough, documented, and its card's numbers reproducible."""

import json

import numpy as np
import pytest

from pneumolab import cli, models
from pneumolab.metrics.binary import metrics_at

CARD = models.load_card(models.REFERENCE_DIR)


def test_reference_ships_inside_the_package_and_is_small(monkeypatch):
    monkeypatch.delenv(models.MODEL_ENV, raising=False)
    assert models.resolve() == models.REFERENCE_DIR
    # Three members (two EfficientNet-Lite0, one small CNN), each about 14 MB or less in float32.
    assert (models.REFERENCE_DIR / models.MODEL_FILE).stat().st_size <= 32 * 2**20


def test_card_says_how_the_model_came_to_be():
    assert CARD.command.startswith("pneumolab ensemble")
    assert [member.arch for member in CARD.members] == ["transfer", "scratch", "probe"]
    assert all(member.temperature > 0 and member.val_roc_auc > 0.99 for member in CARD.members)
    assert CARD.calibration is not None and CARD.calibration.fitted_on.startswith("validation")
    assert CARD.calibration.label_smoothing == 0.1  # the ensemble's own fit: it never claims certainty
    assert CARD.threshold_rule.chosen_on.startswith("validation")
    assert 0.05 < CARD.threshold < 0.95
    assert CARD.data.split.startswith("validation carved from train, grouped by patient")
    assert CARD.data.quick_subset is False
    assert CARD.data.images == {"train": 4173, "val": 1043, "test": 624}
    for split in ("val", "test"):
        assert {"recall", "specificity", "precision", "f1", "roc_auc", "pr_auc"} <= set(CARD.report(split))
    assert set(CARD.report("test")["ci"]) >= {"recall", "specificity", "roc_auc"}
    assert {"tensorflow", "keras", "pneumolab"} <= set(CARD.versions)


def test_card_is_written_in_the_current_schema():
    text = (models.REFERENCE_DIR / models.CARD_FILE).read_text()
    assert json.loads(text)["card_version"] == models.CARD_VERSION
    assert text == CARD.to_json()


def test_predict_on_the_test_images_reproduces_the_card(real_data, capsys):
    files = sorted(str(path) for path in (real_data / "test").glob("*/*"))
    assert len(files) == 624
    assert cli.main(["predict", *files, "--json"]) == 0
    answers = json.loads(capsys.readouterr().out)
    truth = np.array(["/PNEUMONIA/" in answer["file"] for answer in answers], dtype=int)
    scores = np.array([answer["probability"] for answer in answers])
    found = metrics_at(truth, scores, CARD.threshold)
    assert np.asarray(found["confusion_matrix"]).tolist() == CARD.report("test")["confusion_matrix"]
    for metric in ("recall", "specificity", "roc_auc", "pr_auc"):
        assert found[metric] == pytest.approx(CARD.report("test")[metric], abs=1e-3), metric

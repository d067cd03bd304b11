import json

import numpy as np
import pytest

from pneumolab import cli, models
from pneumolab.training.config import ARCHS, DEFAULTS, TrainConfig
from pneumolab.training.loop import class_weights
from pneumolab.training.run import train
from pneumolab.training.strategies import STRATEGIES


def test_class_weights_balance_the_classes():
    weights = class_weights(np.array([0, 1, 1, 1]))
    assert weights == pytest.approx({0: 2.0, 1: 2 / 3})
    labels = np.array([0] * 10 + [1] * 30 + [2] * 20)
    weights = class_weights(labels)
    per_class_mass = [weights[c] * (labels == c).sum() for c in range(3)]
    assert np.allclose(per_class_mass, per_class_mass[0])


@pytest.mark.parametrize(("n_outputs", "activation_sum"), [(1, None), (3, 1.0)])
def test_scratch_cnn_shapes(n_outputs, activation_sum):
    model = models.scratch_cnn(image_size=64, channels=1, n_outputs=n_outputs)
    out = model(np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 1)).astype("float32")).numpy()
    assert out.shape == (2, n_outputs)
    assert ((0 <= out) & (out <= 1)).all()
    if activation_sum:
        assert np.allclose(out.sum(axis=1), activation_sum, atol=1e-5)
    assert 300_000 < models.scratch_cnn().count_params() < 500_000


def test_impossible_settings_are_refused_before_any_training():
    with pytest.raises(ValueError, match=r"'resnet9000'; choose one of \['scratch', 'transfer', 'probe'\]"):
        TrainConfig(arch="resnet9000")
    with pytest.raises(ValueError, match="Unknown task"):
        TrainConfig(task="colour")
    with pytest.raises(ValueError, match="Unknown threshold rule"):
        TrainConfig(threshold_rule="cost")
    with pytest.raises(ValueError, match="cannot augment"):
        TrainConfig(arch="transfer", augment=True)
    with pytest.raises(ValueError, match="val_fraction"):
        TrainConfig(val_fraction=0.7)
    assert TrainConfig(arch="transfer").augment is False


def test_every_architecture_has_its_defaults_and_a_strategy():
    assert set(STRATEGIES) == set(ARCHS) <= set(DEFAULTS)
    scratch, transfer = TrainConfig(arch="scratch", quick=False), TrainConfig(arch="transfer", quick=False)
    assert (scratch.image_size, scratch.augment) == (128, True)
    assert (transfer.image_size, transfer.augment) == (224, False)
    probe = TrainConfig(arch="probe", quick=False)
    assert (probe.image_size, probe.augment, probe.label_smoothing) == (224, False, 0.1)
    assert [scratch.epochs, transfer.epochs, probe.epochs] == [DEFAULTS[arch]["epochs"] for arch in ARCHS]
    assert TrainConfig(arch="transfer", image_size=96, quick=False).image_size == 96, "explicit wins"


def test_quick_mode_chooses_one_epoch_openly_and_never_overrides_an_explicit_one():
    quick = TrainConfig(arch="scratch", quick=True)
    assert quick.epochs == 1
    assert "epochs 1 (quick mode; usually 15)" in quick.describe()
    chosen = TrainConfig(arch="scratch", epochs=3, quick=True)
    assert chosen.epochs == 3 and "epochs 3," in chosen.describe() and "(quick mode" not in chosen.describe()


def test_scratch_training_writes_a_reloadable_model_with_its_card(tiny_xrays, tmp_path):
    cfg = TrainConfig(arch="scratch", epochs=6, image_size=48, quick=False, augment=False,
                      val_fraction=0.25, learning_rate=3e-3)
    result = train(cfg, tiny_xrays, tmp_path / "run")

    folder = tmp_path / "run"
    assert {p.name for p in folder.iterdir()} >= {"model.keras", "model_card.json", "history.csv"}
    card = models.load_card(folder)
    assert card == result.card
    assert 0 <= card.threshold <= 1
    assert card.threshold_rule.chosen_on == "validation"
    images = card.data.images
    assert images["train"] + images["val"] == 60 and 12 <= images["val"] <= 18 and images["test"] == 20
    assert card.input == models.InputSpec(image_size=48, channels=1, fit="squash", scale="0-255")
    recorded = card.training.config
    assert (recorded["arch"], recorded["epochs"], recorded["quick"]) == ("scratch", 6, False)
    assert set(card.report("val")) >= {"recall", "precision", "specificity", "f1", "roc_auc", "pr_auc"}
    assert card.report("val")["roc_auc"] > 0.8, "the blob is easy to learn"
    assert len(result.history) == card.training.epochs_run <= 6

    model, loaded_card = models.load(folder)
    batch = np.random.default_rng(1).uniform(0, 255, (3, 48, 48, 1)).astype("float32")
    assert np.allclose(model(batch).numpy(), result.model(batch, training=False).numpy(), atol=1e-5)
    assert loaded_card == card


def test_quick_mode_trains_one_epoch(tiny_xrays, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PNEUMOLAB_QUICK", "1")
    result = train(TrainConfig(arch="scratch", image_size=32), tiny_xrays)
    assert "epochs 1 (quick mode; usually 15)" in capsys.readouterr().out
    assert result.card.training.epochs_run == 1
    assert result.card.data.quick_subset is True


def test_cli_trains_the_cause_task(tiny_xrays, tmp_path, capsys):
    code = cli.main(["train", "--arch", "scratch", "--task", "cause", "--epochs", "1", "--image-size", "32",
                     "--data", str(tiny_xrays), "--out", str(tmp_path / "cause")])
    assert code == 0
    card = models.load_card(tmp_path / "cause")
    assert card.classes == ("normal", "bacteria", "virus")
    assert card.threshold is None
    assert "Saved scratch_cnn" in capsys.readouterr().out
    assert card.command.startswith("pneumolab train --arch scratch --task cause")

    assert cli.main(["evaluate", "--model", str(tmp_path / "cause"), "--data", str(tiny_xrays),
                     "--split", "test", "--json", str(tmp_path / "report.json")]) == 0
    printed = capsys.readouterr().out
    assert "macro_roc_auc" in printed and "virus: recall" in printed
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["images"] == 20 and len(report["confusion_matrix"]) == 3

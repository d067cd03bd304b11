"""The ensemble: one Keras model whose output and map are exactly its calibrated members' mean."""

from __future__ import annotations

import json
from dataclasses import replace

import keras
import numpy as np
import pytest
from keras import layers
from scipy.special import expit

from pneumolab import cli, explain, models
from pneumolab.inference import serving
from pneumolab.inference.predict import Prediction, chance_phrase
from pneumolab.metrics.calibration import fit_logit_scaling
from pneumolab.models.card import CalibrationRecord, InputSpec, MemberRecord
from pneumolab.models.ensemble import GRID, MAP_LAYER, build_ensemble, cam_head, logit_map, member_logits
from pneumolab.training.config import TrainConfig
from pneumolab.training.ensemble import assemble
from pneumolab.training.run import train
from pneumolab.widgets.panel_view import verdict_html
from tests.cards import probe_card


def small_member(size: int, pools: int, seed: int, name: str) -> keras.Model:
    """A gray model ending like the kit's: convolutions, global average pooling, dropout, one sigmoid unit."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((size, size, 1))
    x = layers.Rescaling(1 / 255)(inputs)
    for _ in range(pools):
        x = layers.MaxPooling2D()(layers.Conv2D(4, 3, padding="same", activation="relu")(x))
    x = layers.GlobalAveragePooling2D()(x)
    output = layers.Dense(1, activation="sigmoid", bias_initializer="ones")(layers.Dropout(0.2)(x))
    return keras.Model(inputs, output, name=name)


def pre_sigmoid(model: keras.Model, images: np.ndarray) -> np.ndarray:
    p = model.predict_on_batch(images)[:, 0].astype(np.float64)
    return np.log(p) - np.log1p(-p)


@pytest.fixture(scope="module")
def sample_models(tiny_xrays, tmp_path_factory) -> list:
    """Two members trained briefly on the tiny data set, on one validation split: a CNN and a probe."""
    root = tmp_path_factory.mktemp("members")
    folders = [root / "scratch", root / "probe"]
    for arch, folder in zip(("scratch", "probe"), folders, strict=True):
        train(TrainConfig(arch=arch, epochs=1, image_size=48, quick=False), tiny_xrays, folder)
    return folders


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(0).uniform(0, 255, (4, 56, 56, 1)).astype(np.float32)


def test_a_logit_map_pools_to_the_models_logit_over_its_temperature(images):
    member = small_member(56, 2, 1, "a")
    pooled = keras.Sequential([logit_map(member, temperature=2.0), layers.GlobalAveragePooling2D()])
    expected = pre_sigmoid(member, images) / 2
    np.testing.assert_allclose(pooled.predict_on_batch(images)[:, 0], expected, atol=1e-4)


def test_an_ensemble_of_one_member_on_the_grid_is_that_member(images):
    member = small_member(56, 2, 1, "a")  # 56 px halved twice: a 14 x 14 map, the grid itself
    assert member.layers[-4].output.shape[1] == GRID
    ensemble = build_ensemble([member], [1.0], InputSpec(56, 1))
    np.testing.assert_allclose(ensemble.predict_on_batch(images), member.predict_on_batch(images), atol=1e-5)


def test_the_ensembles_output_is_its_calibrated_members_mean_and_its_members_see_their_own_size(images):
    members = [small_member(56, 2, 1, "a"), small_member(32, 2, 2, "b")]
    temperatures, weight, bias = [2.0, 0.5], 1.3, -0.2
    ensemble = build_ensemble(members, temperatures, InputSpec(56, 1), names=["a", "b"], weight=weight,
                              bias=bias)
    outputs = member_logits(members, InputSpec(56, 1), ["a", "b"]).predict_on_batch(images)
    expected = expit(weight * np.mean([outputs[:, 1] / 2.0, outputs[:, 3] / 0.5], axis=0) + bias)
    np.testing.assert_allclose(ensemble.predict_on_batch(images)[:, 0], expected, atol=1e-5)
    # The exact logits are the members' own (member b sees the images resized to its 32 px).
    np.testing.assert_allclose(outputs[:, 0], pre_sigmoid(members[0], images), atol=1e-4)
    resized = keras.layers.Resizing(32, 32)(images).numpy()
    np.testing.assert_allclose(outputs[:, 2], pre_sigmoid(members[1], resized), atol=1e-4)


def test_the_ensemble_explains_itself_with_its_map_and_exports_with_it(images, tmp_path):
    members = [small_member(56, 2, 1, "a"), small_member(56, 3, 2, "b")]
    ensemble = build_ensemble(members, [1.0, 1.0], InputSpec(56, 1), names=["a", "b"])
    pool, dense = cam_head(ensemble)
    assert pool.input is ensemble.get_layer(MAP_LAYER).output and dense.name == "calibration"
    heatmap = explain.grad_cam(ensemble, images[0])
    assert heatmap.shape[:2] == (GRID, GRID) or heatmap.shape[:2] == (56, 56)
    assert np.isfinite(heatmap).all() and heatmap.max() > 0
    folder = tmp_path / "ensemble"
    models.save(ensemble, folder, probe_card(56, 1))
    info = serving.export(folder, tmp_path / "ensemble.tflite")
    assert info.cam, info.no_cam_reason


def test_an_ensemble_joins_only_yes_no_models_with_its_own_channels():
    three = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(2, 3), layers.GlobalAveragePooling2D(),
                              layers.Dense(3, activation="softmax")])
    with pytest.raises(ValueError, match="3 outputs"):
        build_ensemble([three], [1.0], InputSpec(8, 1))
    with pytest.raises(ValueError, match="1-channel images, the ensemble 3"):
        build_ensemble([small_member(56, 2, 1, "a")], [1.0], InputSpec(56, 3))


@pytest.mark.parametrize("temperature", [0.5, 3.0])
def test_temperature_scaling_finds_the_temperature_the_labels_were_drawn_at(temperature):
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 4, 20000)
    labels = (rng.uniform(size=logits.size) < expit(logits / temperature)).astype(int)
    weight, bias = fit_logit_scaling(labels, logits, "temperature")
    assert bias == 0 and abs(1 / weight - temperature) < 0.1 * temperature
    weight, bias = fit_logit_scaling(labels, logits + 1.0, "platt")
    assert abs(weight - 1 / temperature) < 0.1 / temperature and abs(bias + weight) < 0.1


def test_smoothed_targets_stop_the_fit_from_sharpening_a_separable_validation_set():
    """Nearly separable data: the plain fit makes every answer certain; smoothed targets stop near 1 - ε/2."""
    rng = np.random.default_rng(1)
    labels = np.repeat([0, 1], 500)
    logits = np.where(labels == 1, 3.0, -3.0) + rng.normal(0, 0.5, labels.size)
    plain, _ = fit_logit_scaling(labels, logits, "temperature")
    smoothed, bias = fit_logit_scaling(labels, logits, "temperature", label_smoothing=0.1)
    assert bias == 0 and smoothed < plain
    assert np.mean(expit(plain * logits[labels == 1]) >= 0.999) > 0.9
    assert np.median(expit(smoothed * logits[labels == 1])) == pytest.approx(0.95, abs=0.01)
    assert np.mean(expit(smoothed * logits) >= 0.999) == 0
    weight, bias = fit_logit_scaling(labels, logits, "platt", label_smoothing=0.1)
    assert np.median(expit(weight * logits[labels == 0] + bias)) == pytest.approx(0.05, abs=0.01)
    with pytest.raises(ValueError, match="label_smoothing"):
        fit_logit_scaling(labels, logits, label_smoothing=1.0)


def test_an_ensembles_card_keeps_its_members_and_calibration(tmp_path):
    members = (MemberRecord("a", "transfer", "runs/a", 1.5, 0.99, "pneumolab train --arch transfer"),
               MemberRecord("b", "probe", "runs/b", 0.5, 0.98))
    card = probe_card(members=members, calibration=CalibrationRecord("temperature", 0.7, 0.0))
    models.save_card(tmp_path, card)
    assert models.load_card(tmp_path) == card
    raw = json.loads((tmp_path / models.CARD_FILE).read_text())
    raw["members"][0]["temperature"] = "hot"
    (tmp_path / models.CARD_FILE).write_text(json.dumps(raw | {"members": "a, b"}))
    with pytest.raises(models.CardError, match="members"):
        models.load_card(tmp_path)


def test_pneumolab_ensemble_builds_a_calibrated_reference_from_trained_members(
    sample_models, tiny_xrays, tmp_path, capsys
):
    out = tmp_path / "ensemble"
    assert cli.main(["ensemble", *map(str, sample_models), "--data", str(tiny_xrays), "--out", str(out)]) == 0
    assert "Saved the ensemble of 2 members" in capsys.readouterr().out
    model, card = models.load(out)
    assert [member.arch for member in card.members] == ["scratch", "probe"]
    assert all(member.temperature > 0 for member in card.members)
    assert card.calibration is not None and card.threshold is not None and 0 <= card.threshold <= 1
    assert set(card.reports) == {"val", "val_shifted"}
    assert card.reports["val_shifted"]["n"] == 4 * card.reports["val"]["n"]
    assert card.command.startswith("pneumolab ensemble")


def test_members_validated_on_different_splits_are_refused(sample_models, tiny_xrays, tmp_path):
    other = tmp_path / "other"
    model, card = models.load(sample_models[0])
    models.save(model, other, replace(card, data=replace(card.data, split_seed=card.data.split_seed + 1)))
    with pytest.raises(ValueError, match="another split"):
        assemble([sample_models[0], other], data_dir=tiny_xrays)


@pytest.mark.parametrize(("probability", "words"), [
    (0.99, "very likely pneumonia"), (0.8, "likely pneumonia"), (0.5, "uncertain"), (0.1, "likely normal"),
    (0.01, "very likely normal"),
])
def test_a_calibrated_models_words_say_the_chance_and_the_decision_still_follows_the_threshold(
    probability, words
):
    answer = Prediction(probability, 0.3, np.zeros((8, 8, 1), np.float32), calibrated=True)
    assert answer.confidence == words == chance_phrase(probability)
    assert answer.label == ("PNEUMONIA" if probability >= 0.3 else "NORMAL")
    assert f">{words}<" in verdict_html("film.png", probability, 0.3, (), (), calibrated=True)

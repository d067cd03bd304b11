import numpy as np
import pytest

from pneumolab import explain, models
from pneumolab.models import backbones, transfer
from pneumolab.training.config import TrainConfig
from pneumolab.training.run import train


@pytest.fixture(scope="module")
def backbone():
    return backbones.backbone(transfer.BACKBONE, (64, 64, 3), weights="imagenet")


def test_split_halves_compute_what_the_whole_backbone_computes(backbone):
    lower, upper = transfer.split_backbone(backbone)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype("float32")
    assert np.allclose(upper(lower(images)), backbone(images), atol=1e-4)
    assert upper.get_layer("head_conv") is backbone.get_layer("head_conv"), "halves share their layers"


def test_gray_input_is_copied_into_three_identical_channels():
    inputs, rgb = transfer.to_rgb_input(16, 1)
    import keras

    probe = keras.Model(inputs, rgb)
    gray = np.random.default_rng(1).uniform(0, 255, (1, 16, 16, 1)).astype("float32")
    out = probe(gray).numpy()
    assert out.shape == (1, 16, 16, 3)
    assert np.allclose(out, np.repeat(gray, 3, axis=-1))
    assert not probe.trainable_weights


def test_transfer_training_end_to_end_gives_an_explainable_model(tiny_xrays, tmp_path):
    cfg = TrainConfig(arch="transfer", image_size=64, epochs=3, quick=False, val_fraction=0.25)
    result = train(cfg, tiny_xrays, tmp_path / "transfer")

    assert list(result.history["stage"].unique()) == ["head", "top stage"]
    assert set(result.card.training.seconds_per_epoch) == {"head", "top stage"}
    best = result.card.training.best_epoch
    assert result.history.loc[result.history["epoch"] == best, "stage"].item() == "top stage"
    assert result.card.input.image_size == 64
    assert 0 <= result.card.threshold <= 1
    model, _ = models.load(tmp_path / "transfer")
    images = np.random.default_rng(2).uniform(0, 255, (2, 64, 64, 1)).astype("float32")
    assert np.allclose(model.predict_on_batch(images), result.model.predict_on_batch(images), atol=1e-5)
    heatmaps = explain.grad_cam(model, images)
    assert heatmaps.shape == (2, 64, 64)
    assert np.isfinite(heatmaps).all() and heatmaps.max() <= 1
    assert model.layers[-1].name == "prediction", "the logits Grad-CAM explains sit at the top level"
    assert np.allclose(explain.grad_cam(result.model, images), heatmaps, atol=1e-4), "fresh model = saved one"

"""The LiteRT export against the Keras model it came from, on real X-rays; the NumPy preprocessing
against TensorFlow's; which models export with Grad-CAM maps."""

from __future__ import annotations

import shutil

import keras
import numpy as np
import pytest

from pneumolab import explain, models
from pneumolab.inference import serving
from pneumolab.inference.predict import load_image, predict_images
from pneumolab.preprocess import numpy_input
from pneumolab.preprocess import transforms as preprocess
from tests.cards import probe_card


@pytest.fixture(scope="module")
def reference():
    folder = models.resolve("reference")
    model, card = models.load(folder)
    return folder, model, card, serving.load(folder)


def real_films(films, count: int = 4) -> list[np.ndarray]:
    files = [path for label in ("NORMAL", "PNEUMONIA")
             for path in sorted((films / "test" / label).glob("*.jpeg"))[:count]]
    return [load_image(path.read_bytes(), path.name, 1).pixels for path in files]


def test_shipped_export_matches_keras_on_real_images(reference, films):
    """Same input tensor: probabilities within 1e-4 and Grad-CAM maps correlated above 0.99."""
    folder, model, card, lite = reference
    assert serving.find_export(folder) == folder / serving.LITE_FILE  # shipped, made from this model.keras
    size = card.input.image_size
    batch = np.stack([preprocess.to_model_input(image, size, 1).numpy() for image in real_films(films)])
    outputs, cams = lite.run(batch)
    expected = model(batch, training=False).numpy()
    assert np.abs(outputs - expected).max() <= 1e-4
    assert expected.min() < 0.5 < expected.max()  # both kinds of answer, not saturated ones only
    maps = serving.activation_maps(cams, outputs, size)
    keras_maps = explain.grad_cam(model, batch)
    assert maps.shape == keras_maps.shape
    for ours, theirs in zip(maps, keras_maps, strict=True):
        assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99
        assert ours.max() == pytest.approx(1.0)


def test_whole_light_path_matches_keras_path(reference, films):
    """From decoded films to answers: NumPy resize + LiteRT against TensorFlow resize + Keras."""
    _, model, card, lite = reference
    images = real_films(films)
    ours = lite.predict_images(images, explain=True)
    theirs = predict_images(model, card, images, explain=True)
    for a, b in zip(ours, theirs, strict=True):
        assert abs(a.probability - b.probability) <= 1e-3
        assert a.label == b.label or abs(b.probability - b.threshold) < 1e-3
        assert np.abs(a.model_input - b.model_input).max() < 0.01
        assert np.corrcoef(a.heatmap.ravel(), b.heatmap.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("shape,dtype", [((300, 410), np.uint8), ((257, 199, 3), np.uint8),
                                         ((2000, 1800, 1), np.uint8), ((120, 90, 4), np.uint8),
                                         ((150, 150), np.uint16), ((64, 80, 3), np.float32)])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("fit", ["squash", "pad"])
def test_numpy_model_input_matches_tensorflow(shape, dtype, channels, fit):
    rng = np.random.default_rng(0)
    image = rng.random(shape).astype(dtype) if dtype == np.float32 else \
        rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    ours = numpy_input.to_model_input(image, 224, channels, fit)
    theirs = preprocess.to_model_input(image, 224, channels, fit).numpy()
    assert ours.shape == theirs.shape == (224, 224, channels)
    assert np.abs(ours - theirs).max() < 0.02


def tiny_model(pooled: bool) -> keras.Model:
    """Seeded, with a positive head: its class activation map is never all zero (whatever ran before)."""
    keras.utils.set_random_seed(7)
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Rescaling(1 / 255)(inputs)
    x = keras.layers.Conv2D(4, 3, strides=2, activation="relu", name="features")(x)
    x = keras.layers.GlobalAveragePooling2D()(x) if pooled else keras.layers.Flatten()(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", kernel_initializer="ones")(x))


def test_export_returns_maps_only_for_pooled_linear_heads(tmp_path):
    card = probe_card(image_size=32)
    images = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 1)).astype(np.float32)
    for pooled in (True, False):
        folder = models.save(tiny_model(pooled), tmp_path / f"pooled-{pooled}", card)
        info = serving.export(folder, folder / serving.LITE_FILE)
        assert info.cam is pooled and bool(info.no_cam_reason) is not pooled
        lite = serving.load(folder)
        outputs, cams = lite.run(images)
        model = models.load(folder)[0]
        assert np.abs(outputs - model(images).numpy()).max() <= 1e-5
        if pooled:
            maps = serving.activation_maps(cams, outputs, 32)
            for ours, theirs in zip(maps, explain.grad_cam(model, images), strict=True):
                assert np.corrcoef(ours.ravel(), theirs.ravel())[0, 1] > 0.99
        else:
            assert cams is None


def test_an_export_is_used_only_for_the_model_it_came_from(tmp_path):
    """A retrained model.keras makes the old export stale: it is not found, so it will be made again."""
    folder = tmp_path / "model"
    shutil.copytree(models.resolve("reference"), folder)
    assert serving.find_export(folder) == folder / serving.LITE_FILE
    with (folder / models.MODEL_FILE).open("ab") as handle:
        handle.write(b"\0")
    assert serving.find_export(folder) is None
    assert serving.cached_export(folder).name.endswith(".tflite")


def test_predict_command_runs_litert_by_default_and_keras_on_request(films):
    """``pneumolab predict`` takes the light path (no TensorFlow in the process) unless asked for Keras."""
    import json
    import subprocess
    import sys

    film = str(sorted((films / "test" / "PNEUMONIA").glob("*.jpeg"))[0])
    script = ("import json, sys; from pneumolab import cli; cli.main(sys.argv[1:]); "
              "print(json.dumps('tensorflow' in sys.modules))")
    answers = {}
    for runtime in ("lite", "keras"):
        done = subprocess.run([sys.executable, "-c", script, "predict", film, "--json", "--runtime", runtime],
                              capture_output=True, text=True, timeout=600, check=True)
        *answer, tensorflow = done.stdout.strip().splitlines()
        answers[runtime] = json.loads("\n".join(answer))[0]
        assert json.loads(tensorflow) is (runtime == "keras")
    assert answers["lite"]["probability"] == pytest.approx(answers["keras"]["probability"], abs=1e-3)
    assert answers["lite"]["label"] == answers["keras"]["label"]


def test_an_unknown_runtime_is_refused_by_name(tmp_path):
    from pneumolab.inference import runtime

    with pytest.raises(ValueError, match="lite, keras"):
        runtime.load(models.resolve("reference"), "onnx")

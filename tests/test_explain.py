import gc
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf
from matplotlib.figure import Figure

from pneumolab import explain
from pneumolab.explain import gradcam
from pneumolab.metrics.outcomes import OUTCOMES, outcomes
from pneumolab.models.transfer import to_rgb_input
from pneumolab.viz import explain as explain_plots
from tests.cards import probe_card

layers = keras.layers
SIZE = 32


def small_cnn(channels: int = 1, classes: int = 1, size: int = SIZE) -> keras.Model:
    """The scratch-CNN shape: rescaling, convolutions, global pooling, dropout, one dense layer."""
    return keras.Sequential(
        [
            keras.Input((size, size, channels)),
            layers.Rescaling(1 / 255),
            layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv2"),
            layers.MaxPooling2D(),
            layers.Conv2D(16, 3, padding="same", activation="relu", name="conv3"),
            layers.GlobalAveragePooling2D(name="pool"),
            layers.Dropout(0.3),
            layers.Dense(classes, activation="sigmoid" if classes == 1 else "softmax"),
        ]
    )


def transfer_like() -> keras.Model:
    """The transfer-model shape: a functional backbone (with batch norm) nested as one layer, then a head."""
    inputs = keras.Input((SIZE, SIZE, 3))
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    x = layers.BatchNormalization(name="stem_bn")(x)
    skip = x
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="block")(x)
    x = layers.Add(name="residual")([x, skip])
    x = layers.Conv2D(16, 1, activation="relu", name="top_conv")(x)
    backbone = keras.Model(inputs, x, name="backbone")

    outer = keras.Input((SIZE, SIZE, 3))
    x = layers.Rescaling(1 / 127.5, offset=-1)(outer)
    x = backbone(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.5)(x)
    return keras.Model(outer, layers.Dense(1, activation="sigmoid")(x))


def noise_images(count: int, channels: int = 1, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 255, (count, SIZE, SIZE, channels)).astype(np.float32)


def blob_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Noise; every other image (label 1) also has a bright blob somewhere in the top-left quadrant."""
    rng = np.random.default_rng(seed)
    images = rng.uniform(0, 90, (count, SIZE, SIZE, 1))
    labels = np.arange(count) % 2
    centers = rng.integers(4, SIZE // 2 - 3, (count, 2))
    rows, cols = np.mgrid[:SIZE, :SIZE]
    for image, label, (y, x) in zip(images, labels, centers, strict=True):
        if label:
            image[..., 0] += 160 * np.exp(-((rows - y) ** 2 + (cols - x) ** 2) / (2 * 2.0**2))
    return np.clip(images, 0, 255).astype(np.float32), labels, centers


def near(center: np.ndarray, radius: float) -> np.ndarray:
    rows, cols = np.mgrid[:SIZE, :SIZE]
    return (rows - center[0]) ** 2 + (cols - center[1]) ** 2 <= radius**2


@pytest.fixture(scope="module")
def blob_model():
    """A tiny CNN trained for a few seconds to tell blob images from noise."""
    keras.utils.set_random_seed(7)
    images, labels, _ = blob_images(384, seed=1)
    model = small_cnn()
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="binary_crossentropy", metrics=["accuracy"])
    model.fit(images, labels, epochs=8, batch_size=32, verbose=0)
    test_images, test_labels, centers = blob_images(40, seed=2)
    accuracy = model.evaluate(test_images, test_labels, verbose=0)[1]
    assert accuracy >= 0.95, f"the tiny CNN did not learn the blobs (accuracy {accuracy:.2f})"
    positive = test_labels == 1
    return model, test_images[positive], centers[positive]


def check_maps(maps: np.ndarray, shape: tuple[int, ...]) -> None:
    assert maps.shape == shape
    assert maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1
    assert np.isclose(maps.reshape(len(maps), -1).max(axis=1), 1).all(), "each map is scaled to a peak of 1"


# ----------------------------------------------------------------------------- shapes, layers, classes


def test_sequential_gray_sigmoid_maps_have_input_shape_and_range():
    keras.utils.set_random_seed(1)  # some random models see no positive evidence anywhere: all-zero maps
    model, images = small_cnn(), noise_images(3)
    check_maps(explain.grad_cam(model, images), (3, SIZE, SIZE))
    assert explain.grad_cam(model, images[0]).shape == (SIZE, SIZE)
    check_maps(explain.grad_cam(model, images, layer="conv1"), (3, SIZE, SIZE))


def test_matches_grad_cam_computed_by_hand():
    keras.utils.set_random_seed(2)
    model, images = small_cnn(), noise_images(2)
    split = [layer.name for layer in model.layers].index("conv3") + 1
    with tf.GradientTape() as tape:
        features = tf.constant(images)
        for layer in model.layers[:split]:
            features = layer(features, training=False)
        tape.watch(features)
        score = features
        for layer in model.layers[split:]:
            score = layer(score, training=False)
        score = score[:, 0]
    weights = tf.reduce_mean(tape.gradient(score, features), axis=(1, 2))
    expected = tf.nn.relu(tf.einsum("nhwc,nc->nhw", features, weights))[..., tf.newaxis]
    expected = tf.image.resize(expected, (SIZE, SIZE))[..., 0].numpy()
    expected /= expected.max(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(explain.grad_cam(model, images, layer="conv3"), expected, atol=1e-5)


def test_nested_backbone_is_searched_and_its_layers_can_be_named():
    keras.utils.set_random_seed(2)
    model, images = transfer_like(), noise_images(3, channels=3)
    automatic = explain.grad_cam(model, images)
    check_maps(automatic, (3, SIZE, SIZE))
    assert explain.feature_layer(model)[0] == "backbone/top_conv"
    # the backbone's output is the same tensor as its last layer's, so the maps agree
    np.testing.assert_allclose(explain.grad_cam(model, images, layer="backbone"), automatic, atol=1e-5)
    np.testing.assert_array_equal(explain.grad_cam(model, images), automatic)  # dropout is off
    # batch norm uses its moving statistics: an image's map does not depend on the rest of the batch
    np.testing.assert_allclose(explain.grad_cam(model, images[1]), automatic[1], atol=1e-5)
    for inner in ("stem", "stem_bn", "residual"):
        check_maps(explain.grad_cam(model, images, layer=inner), (3, SIZE, SIZE))
    assert model.get_layer("backbone").get_layer("top_conv").output.shape[-1] == 16, "graph left intact"


def test_sequential_backbone_inside_a_sequential_model():
    keras.utils.set_random_seed(3)
    conv = layers.Conv2D(8, 3, activation="relu", name="inner_conv")
    backbone = keras.Sequential([keras.Input((SIZE, SIZE, 3)), conv], name="features")
    head = [layers.GlobalMaxPooling2D(), layers.Dense(1)]
    model = keras.Sequential([keras.Input((SIZE, SIZE, 3)), backbone, *head])
    images = noise_images(2, channels=3)
    assert explain.feature_layer(model)[0] == "features/inner_conv"
    np.testing.assert_allclose(
        explain.grad_cam(model, images), explain.grad_cam(model, images, layer="features"), atol=1e-5
    )


def test_softmax_defaults_to_the_predicted_class():
    keras.utils.set_random_seed(3)
    model, images = small_cnn(channels=3, classes=3), noise_images(4, channels=3)
    predicted = model.predict(images, verbose=0).argmax(axis=1)
    automatic = explain.grad_cam(model, images)
    check_maps(automatic, (4, SIZE, SIZE))
    np.testing.assert_allclose(explain.grad_cam(model, images, class_index=predicted.tolist()), automatic)
    check_maps(explain.grad_cam(model, images, class_index=2), (4, SIZE, SIZE))
    with pytest.raises(ValueError, match="class_index"):
        explain.grad_cam(model, images, class_index=3)


def test_bad_layer_names_and_models_without_feature_maps_are_refused():
    model = small_cnn()
    with pytest.raises(ValueError, match="No layer named 'conv9'.*conv3"):
        explain.grad_cam(model, noise_images(1), layer="conv9")
    with pytest.raises(ValueError, match="no 4-D"):
        explain.grad_cam(model, noise_images(1), layer="pool")
    flat = keras.Sequential([keras.Input((SIZE, SIZE, 1)), layers.Flatten(), layers.Dense(1)])
    with pytest.raises(ValueError, match="no layer with a 4-D"):
        explain.grad_cam(flat, noise_images(1))


def test_a_branching_outer_model_needs_a_top_level_layer():
    inner_input = keras.Input((SIZE, SIZE, 1))
    backbone = keras.Model(inner_input, layers.Conv2D(4, 3, name="inner_conv")(inner_input), name="backbone")
    inputs = keras.Input((SIZE, SIZE, 1))
    features = backbone(inputs)
    pooled = [layers.GlobalAveragePooling2D()(features), layers.GlobalMaxPooling2D()(features)]
    pooled = layers.Concatenate()(pooled)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(pooled))
    with pytest.raises(ValueError, match="not a plain chain"):
        explain.grad_cam(model, noise_images(1))


def test_a_saturated_sigmoid_still_gets_a_map():
    keras.utils.set_random_seed(4)
    model = small_cnn()
    head = model.layers[-1]
    head.set_weights([head.get_weights()[0], np.array([50.0], np.float32)])
    images = noise_images(2)
    assert (model.predict(images, verbose=0) == 1.0).all(), "float32 sigmoid saturates: zero gradient"
    check_maps(explain.grad_cam(model, images), (2, SIZE, SIZE))


def test_occlusion_map_shape_and_range():
    keras.utils.set_random_seed(5)
    model, image = small_cnn(), noise_images(1)[0]
    heat = explain.occlusion_map(model, image, patch=6, stride=3)
    assert heat.shape == (SIZE, SIZE) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1
    assert explain.occlusion_map(model, image, patch=100, baseline=0.0).shape == (SIZE, SIZE)


# ----------------------------------------------------------------------------- does it point at the signal?


def test_grad_cam_lights_up_the_blob(blob_model):
    model, images, centers = blob_model
    maps = explain.grad_cam(model, images)
    ratios = [m[near(c, 4)].mean() / m[~near(c, 4)].mean() for m, c in zip(maps, centers, strict=True)]
    hits = [near(c, 6)[np.unravel_index(m.argmax(), m.shape)] for m, c in zip(maps, centers, strict=True)]
    assert min(ratios) > 2, ratios
    assert np.mean(hits) >= 0.8, hits


def test_occlusion_lights_up_the_blob(blob_model):
    model, images, centers = blob_model
    ratios, hits = [], []
    for image, center in zip(images[:8], centers[:8], strict=True):
        heat = explain.occlusion_map(model, image, patch=5, stride=2)
        ratios.append(heat[near(center, 4)].mean() / max(heat[~near(center, 4)].mean(), 1e-6))
        hits.append(near(center, 6)[np.unravel_index(heat.argmax(), heat.shape)])
    assert min(ratios) > 2, ratios
    assert np.mean(hits) >= 0.8, hits


def test_a_randomized_model_gives_different_maps(blob_model):
    model, images, _ = blob_model
    trained = explain.grad_cam(model, images)
    randomized = explain.grad_cam(explain.randomized_copy(model, seed=11), images)
    assert np.mean([explain.map_similarity(a, a) for a in trained]) == pytest.approx(1)
    similarity = np.mean([explain.map_similarity(a, b) for a, b in zip(trained, randomized, strict=True)])
    assert similarity < 0.5, similarity


# ----------------------------------------------------------------------------- sanity-check helpers, display


def test_randomized_copy_is_reproducible_and_new():
    keras.utils.set_random_seed(6)
    model = transfer_like()
    first, second = explain.randomized_copy(model, seed=3), explain.randomized_copy(model, seed=3)
    assert [w.shape for w in first.get_weights()] == [w.shape for w in model.get_weights()]
    for a, b in zip(first.get_weights(), second.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    kernels = [(a, b) for a, b in zip(model.get_weights(), first.get_weights(), strict=True) if a.ndim == 4]
    assert kernels and not any(np.allclose(a, b) for a, b in kernels)


def test_map_similarity():
    rng = np.random.default_rng(0)
    a = rng.random((8, 8))
    assert explain.map_similarity(a, a) == pytest.approx(1)
    assert explain.map_similarity(a, -a) == pytest.approx(-1)
    assert explain.map_similarity(a, np.zeros((8, 8))) == 0.0
    with pytest.raises(ValueError, match="differ"):
        explain.map_similarity(a, rng.random((4, 4)))


@pytest.mark.parametrize(
    ("image", "grey"),
    [
        (np.full((SIZE, SIZE, 1), 128.0, np.float32), 128),  # a model input, 0-255 float
        (np.zeros((SIZE, SIZE), np.uint8), 0),
        (np.full((SIZE, SIZE, 3), 255, np.uint8), 255),
    ],
)
def test_overlay_is_rgb_uint8_of_the_image_size(image, grey):
    heat = np.linspace(0, 1, 8 * 8, dtype=np.float32).reshape(8, 8)  # resized to the image
    out = explain_plots.overlay(image, heat)
    assert out.shape == (SIZE, SIZE, 3) and out.dtype == np.uint8
    assert out.std() > 10, "the heat map shows"
    unchanged = explain_plots.overlay(image, heat, alpha=0.0)
    assert (unchanged == grey).all(), "without colour, the image as it was"


def test_explanation_figure_builds():
    image = noise_images(1)[0]
    heat = np.random.default_rng(0).random((SIZE, SIZE))
    figure = explain_plots.explanation_figure(image, heat, title="Grad-CAM", probability=0.93)
    assert isinstance(figure, Figure)
    assert len(figure.axes) == 4  # image, heat map, its colour bar, overlay
    assert "0.93" in figure.get_suptitle()
    figure.canvas.draw()


# ----------------------------------------------------------------------------- the kit's transfer-model shape


def gray_transfer_like() -> keras.Model:
    """The assembled transfer model: gray input copied to RGB by the frozen 1x1 convolution ``gray_to_rgb``,
    a nested backbone, pooling and a nested Sequential head."""
    backbone = transfer_like().get_layer("backbone")
    head = keras.Sequential([layers.Dropout(0.2), layers.Dense(1, activation="sigmoid")], name="head")
    gray, rgb = to_rgb_input(SIZE, 1)
    return keras.Model(gray, head(layers.GlobalAveragePooling2D()(backbone(rgb))))


def test_several_different_inputs_still_make_a_branch():
    inputs = keras.Input((SIZE, SIZE, 1))
    backbone = keras.Sequential([keras.Input((SIZE, SIZE, 2)), layers.Conv2D(4, 3, name="inner")], name="bb")
    mixed = layers.Concatenate()([inputs, layers.Rescaling(0.5)(inputs)])
    model = keras.Model(inputs, layers.Dense(1)(layers.GlobalAveragePooling2D()(backbone(mixed))))
    with pytest.raises(ValueError, match="not a plain chain"):
        explain.grad_cam(model, noise_images(1))


# ----------------------------------------------------------------------------- randomization check, borders


def test_randomization_check_table(blob_model):
    model, images, _ = blob_model
    table = explain.randomization_check(model, images[:4], seeds=(1, 2))
    assert list(table.columns) == ["image", "seed", "similarity", "blank"]
    assert len(table) == 8 and sorted(table["seed"].unique()) == [1, 2]
    assert table["similarity"].between(-1, 1).all() and table["similarity"].mean() < 0.5


def test_border_share_by_hand():
    heat = np.zeros((20, 20))
    heat[0, 0] = 1.0
    assert explain.border_share(heat) == 1.0
    heat[10, 10] = 3.0
    assert explain.border_share(heat) == pytest.approx(0.25)
    assert explain.border_share(np.ones((20, 20)), margin=0.1) == pytest.approx(1 - 0.8**2)
    stack = explain.border_share(np.stack([heat, np.zeros((20, 20))]))
    assert stack.shape == (2,) and stack[0] == pytest.approx(0.25) and np.isnan(stack[1])
    with pytest.raises(ValueError, match="margin"):
        explain.border_share(heat, margin=0.5)
    with pytest.raises(ValueError, match="shape"):
        explain.border_share(np.ones(5))


# ------------------------------------------------------------- galleries (explain.gallery, viz.explain)


@pytest.fixture(scope="module")
def tiny_scored(tiny_xrays):
    """A model, a card, and the tiny data set's test rows with made-up probabilities (all outcomes)."""
    from pneumolab.data import manifest as data

    manifest = data.build_manifest(tiny_xrays)
    rows = data.usable(manifest.loc[manifest["split"] == "test"])
    sick = (rows["label"] == "PNEUMONIA").to_numpy()
    probability = np.where(sick, 0.9, 0.1)
    probability[np.flatnonzero(sick)[:3]] = 0.2   # three missed pneumonias
    probability[np.flatnonzero(~sick)[:2]] = 0.7  # two false alarms
    card = probe_card(SIZE, 1, 0.5, name="tiny")
    keras.utils.set_random_seed(9)
    return small_cnn(), card, rows.assign(probability=probability)


def test_outcomes_at_the_threshold(tiny_scored):
    _, card, scored = tiny_scored
    counts = outcomes(scored, card.threshold).value_counts()
    expected = {"true positive": 7, "true negative": 8, "false negative": 3, "false positive": 2}
    assert counts.to_dict() == expected
    with pytest.raises(ValueError, match="probability"):
        outcomes(scored.drop(columns="probability"), 0.5)


def test_model_inputs_are_what_the_pipeline_feeds(tiny_scored):
    from pneumolab.preprocess.pipeline import make_dataset
    _, card, scored = tiny_scored
    images = explain.model_inputs(scored.head(5), card)
    assert images.shape == (5, SIZE, SIZE, 1) and images.dtype == np.float32
    expected = next(iter(make_dataset(scored.head(5), image_size=SIZE)))[0].numpy()
    np.testing.assert_array_equal(images, expected)


@pytest.mark.parametrize(("kind", "shown"),
                         [("true positive", 4), ("false negative", 3), ("false positive", 2)])
def test_gallery_builds_for_each_kind(tiny_scored, kind, shown):
    model, card, scored = tiny_scored
    figure = explain_plots.explanation_gallery(explain.outcome_gallery(model, card, scored, kind, n=4))
    assert len(figure.axes) == 2 * shown + 1  # the images over their overlays, and the colour bar
    assert OUTCOMES[kind][2] in figure.get_suptitle()
    figure.canvas.draw()


def test_gallery_of_an_empty_outcome_and_bad_arguments(tiny_scored):
    model, card, scored = tiny_scored
    normal = scored.loc[scored["label"] == "NORMAL"]
    figure = explain_plots.explanation_gallery(explain.outcome_gallery(model, card, normal, "true positive"))
    assert "nothing to show" in figure.axes[0].texts[0].get_text()
    with pytest.raises(ValueError, match="kind"):
        explain.outcome_gallery(model, card, scored, "miss")
    with pytest.raises(ValueError, match="one map per image"):
        explain_plots.map_grid(noise_images(2), {"a": np.zeros((3, SIZE, SIZE))})


def test_border_shares_of_a_scored_split(tiny_scored):
    model, card, scored = tiny_scored
    table = explain.border_shares(model, card, scored, batch_size=7)  # batches that do not divide 20
    assert list(table.columns) == ["outcome", "border_share"] and table.index.equals(scored.index)
    assert (table["outcome"] == outcomes(scored, card.threshold)).all()
    images = explain.model_inputs(scored, card)
    calls = (scored["probability"] >= card.threshold).astype(int).tolist()
    expected = explain.border_share(explain.grad_cam(model, images, class_index=calls))
    np.testing.assert_allclose(table["border_share"], expected, atol=1e-6)


def test_feature_layer_names_the_layer_and_its_shape():
    model = gray_transfer_like()
    assert explain.feature_layer(model) == ("backbone/top_conv", (SIZE, SIZE, 16))
    assert explain.feature_layer(small_cnn(), "conv2") == ("conv2", (SIZE // 2, SIZE // 2, 16))
    with pytest.raises(ValueError, match="No layer named"):
        explain.feature_layer(small_cnn(), "conv9")


def test_a_saved_transfer_model_is_explained_through_the_logits_of_its_sequential_head(tmp_path):
    keras.utils.set_random_seed(10)
    model = gray_transfer_like()
    images = noise_images(3)
    model.save(tmp_path / "model.keras")
    loaded = keras.models.load_model(tmp_path / "model.keras", compile=False)
    # one sigmoid unit: the gradient of p is that of the logit times p(1 - p) > 0, which the scaling removes
    np.testing.assert_allclose(explain.grad_cam(loaded, images), explain.grad_cam(model, images), atol=1e-4)
    head = loaded.get_layer("head").layers[-1]
    head.set_weights([head.get_weights()[0] * 0.01, np.array([60.0], np.float32)])
    assert (loaded.predict(images, verbose=0) == 1.0).all(), "float32 sigmoid saturates: zero gradient"
    check_maps(explain.grad_cam(loaded, images), (3, SIZE, SIZE))


# ----------------------------------------------------------------------------- the explainer cache


def test_an_explainer_is_reused_for_its_model_and_bounded_in_number():
    first, second = small_cnn(), small_cnn()
    assert gradcam.explainer_for(first) is gradcam.explainer_for(first)
    assert gradcam.explainer_for(second) is not gradcam.explainer_for(first)
    others = [small_cnn() for _ in range(gradcam._CACHE_SIZE)]
    for model in others:
        gradcam.explainer_for(model)
    assert len(gradcam._CACHE) <= gradcam._CACHE_SIZE
    assert first not in gradcam._CACHE and others[-1] in gradcam._CACHE, "the least recently used goes first"


def test_the_cache_keeps_no_model_alive():
    model = small_cnn()
    check_maps(explain.grad_cam(model, noise_images(2)), (2, SIZE, SIZE))  # compiles and caches its explainer
    assert model in gradcam._CACHE
    cached, gone = len(gradcam._CACHE), weakref.ref(model)
    del model
    gc.collect()
    assert gone() is None, "a model nobody uses any more is collected, explainer and all"
    assert len(gradcam._CACHE) < cached, "and its entry with it"

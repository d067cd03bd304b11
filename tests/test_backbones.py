import pickle

import keras
import numpy as np
import pytest
import skimage.data

from pneumolab import config
from pneumolab.models import backbones, imagenet
from pneumolab.models.torch_pickle import UnsafePickleError, read_legacy_state_dict
from pneumolab.preprocess import transforms as preprocess

CATS = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO_OR_CUP = {967, 968}


def photos(size: int = 224) -> np.ndarray:
    """Two natural photos shipped with scikit-image, prepared the kit's way: a cat and an espresso."""
    images = (skimage.data.chelsea(), skimage.data.coffee())
    return np.stack([preprocess.to_model_input(image, size, channels=3).numpy() for image in images])


@pytest.mark.parametrize("name", sorted(imagenet.VARIANTS))
def test_imagenet_weights_recognize_a_cat_and_an_espresso(name):
    model = backbones.efficientnet_lite(name)
    probabilities = model.predict(photos(imagenet.VARIANTS[name].size), verbose=0)
    cat, coffee = (np.argsort(row)[::-1][:5] for row in probabilities)
    assert cat[0] in CATS and len(CATS & set(cat)) >= 2
    assert coffee[0] in ESPRESSO_OR_CUP
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-4)


def test_logits_are_the_probabilities_before_softmax():
    images = photos()
    logits = backbones.efficientnet_lite0(classifier_activation=None).predict(images, verbose=0)
    probabilities = backbones.efficientnet_lite0().predict(images, verbose=0)
    assert np.allclose(keras.ops.softmax(logits).numpy(), probabilities, atol=1e-6)


def _no_conversion(path):
    raise AssertionError("converted again instead of loading the cache")


def test_second_construction_loads_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    images = photos()
    first = backbones.efficientnet_lite0().predict(images, verbose=0)
    weights_file = imagenet.VARIANTS["efficientnet_lite0"].weights_file
    assert (tmp_path / weights_file).is_file()
    assert [p.name for p in tmp_path.iterdir()] == [weights_file]  # no temporary file left
    monkeypatch.setattr(imagenet, "read_legacy_state_dict", _no_conversion)
    second = backbones.efficientnet_lite0().predict(images, verbose=0)
    assert np.array_equal(first, second)


def test_a_broken_cache_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv(config.CACHE_ENV, str(tmp_path))
    (tmp_path / imagenet.VARIANTS["efficientnet_lite0"].weights_file).write_bytes(b"half a file")
    with pytest.warns(UserWarning, match="Rebuilding"):
        model = backbones.efficientnet_lite0()
    assert np.argmax(model.predict(photos()[:1], verbose=0)) in CATS
    monkeypatch.setattr(imagenet, "read_legacy_state_dict", _no_conversion)
    backbones.efficientnet_lite0()  # the rebuilt cache loads


@pytest.mark.parametrize(
    ("size", "pooling", "shape"),
    [(224, None, (None, 7, 7, 1280)), (224, "avg", (None, 1280)), (128, None, (None, 4, 4, 1280)),
     (32, None, (None, 1, 1, 1280)), (None, "avg", (None, 1280))],
)
def test_feature_extractor_shapes(size, pooling, shape):
    model = backbones.efficientnet_lite0(include_top=False, input_shape=(size, size, 3), pooling=pooling)
    assert model.output.shape == shape
    batch = np.random.default_rng(0).uniform(0, 255, (2, size or 96, size or 96, 3)).astype("float32")
    assert np.isfinite(model.predict(batch, verbose=0)).all()


@pytest.mark.parametrize("name", sorted(imagenet.VARIANTS))
def test_layer_names_mark_stages_and_the_last_conv_layer(name):
    variant = imagenet.VARIANTS[name]
    model = backbones.efficientnet_lite(name, weights=None)
    side = -(-variant.size // 32)
    assert model.get_layer(backbones.LAST_CONV_LAYER).output.shape == (None, side, side, 1280)
    names = [layer.name for layer in model.layers]
    for s, stage in enumerate(variant.stages, start=1):
        blocks = {name.split("_")[1] for name in names if name.startswith(f"stage{s}_block")}
        assert blocks == {f"block{b}" for b in range(stage.repeats)}
        assert model.get_layer(f"stage{s}_out").output.shape[-1] == stage.filters
    convs = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs[-1] == "head_conv"


@pytest.mark.parametrize("shape", [(224, 224, 1), (224, 224), (16, 16, 3)])
def test_impossible_input_shapes_are_refused(shape):
    with pytest.raises(ValueError):
        backbones.efficientnet_lite0(weights=None, input_shape=shape)


def test_backbone_efficientnet_lite0_is_the_offline_feature_extractor():
    model = backbones.backbone("efficientnet_lite0", (224, 224, 3))
    assert model.output.shape == (None, 7, 7, 1280)


def test_the_variants_have_as_many_blocks_as_their_weights():
    variants = imagenet.VARIANTS.items()
    blocks = {name: sum(stage.repeats for stage in variant.stages) for name, variant in variants}
    assert blocks == {"efficientnet_lite0": 16, "efficientnet_lite1": 21, "efficientnet_lite2": 21}
    assert backbones.available_backbones()[:3] == list(imagenet.VARIANTS)


def test_keras_application_takes_0_255_rgb():
    model = backbones.backbone("MobileNetV2", (96, 96, 3), weights=None)
    assert model.output.shape == (None, 3, 3, 1280)
    scaled = keras.Model(model.input, model.get_layer("preprocess").output)
    extremes = np.stack([np.zeros((96, 96, 3)), np.full((96, 96, 3), 255.0)]).astype("float32")
    assert np.allclose(scaled.predict(extremes, verbose=0)[:, 0, 0], [[-1] * 3, [1] * 3], atol=1e-6)
    assert np.isfinite(model.predict(extremes, verbose=0)).all()


def test_caffe_preprocessing_survives_saving(tmp_path):
    """ResNet50 and VGG16 want BGR minus the ImageNet mean; the layers doing it must load back."""
    inputs = keras.Input((4, 4, 3))
    outputs = inputs
    for layer in backbones._preprocessing_layers(keras.applications.VGG16):
        outputs = layer(outputs)
    keras.Model(inputs, outputs).save(tmp_path / "m.keras")
    reloaded = keras.models.load_model(tmp_path / "m.keras")
    image = np.random.default_rng(0).uniform(0, 255, (1, 4, 4, 3)).astype("float32")
    expected = keras.applications.vgg16.preprocess_input(image.copy())
    assert np.allclose(reloaded.predict(image, verbose=0), expected, atol=1e-4)


def test_unknown_backbone_lists_the_choices():
    with pytest.raises(ValueError, match="efficientnet_lite0.*MobileNetV2"):
        backbones.backbone("AlexNet")


def test_reader_gives_the_state_dict_as_arrays():
    state = read_legacy_state_dict(imagenet.torch_weights_path(imagenet.VARIANTS["efficientnet_lite0"]))
    assert len(state) == 296
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_fc.weight"].dtype == np.float32
    assert state["_bn0.num_batches_tracked"].dtype == np.int64


class _Shell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import os

        return os.system, (f"touch {self.marker}",)


@pytest.mark.parametrize("where", ["header", "state dict"])
def test_reader_refuses_foreign_globals(tmp_path, where):
    marker = tmp_path / "pwned"
    header = [0x1950A86A20F9469CFC6C, 1001, {"little_endian": True}]
    if where == "header":
        header[2] = _Shell(marker)
    pickles = [*header, {"weight": _Shell(marker)}, []]
    path = tmp_path / "evil.pth"
    path.write_bytes(b"".join(pickle.dumps(item, protocol=2) for item in pickles))
    with pytest.raises(UnsafePickleError, match="system"):
        read_legacy_state_dict(path)
    assert not marker.exists()

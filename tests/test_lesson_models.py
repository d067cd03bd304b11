"""The models that lessons 03 and 04 write out as code are the ones the package trains.

Each lesson's definition sits in a notebook cell tagged for this test; the
test runs that cell on its own and compares what it builds with the package's
function, and the package's function with a layer list spelled out here.
"""

import json
from pathlib import Path

import keras
import pytest

from pneumolab import models
from pneumolab.models import backbones, transfer

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"

CONV = {"kernel_size": (3, 3), "padding": "same", "use_bias": False}

#: The scratch CNN at its defaults, layer by layer: name, type, key settings, parameters.
SCRATCH_CNN = [
    ("image", "InputLayer", {}, 0),
    ("scale_0_1", "Rescaling", {"scale": 1 / 255}, 0),
    ("stem_conv", "Conv2D", {"filters": 16, "strides": (2, 2), **CONV}, 144),
    ("stem_bn", "BatchNormalization", {"momentum": 0.99}, 64),
    ("stem_relu", "ReLU", {}, 0),
    ("block1_conv", "Conv2D", {"filters": 32, "strides": (1, 1), **CONV}, 4608),
    ("block1_bn", "BatchNormalization", {"momentum": 0.99}, 128),
    ("block1_relu", "ReLU", {}, 0),
    ("block1_pool", "MaxPooling2D", {"pool_size": (2, 2)}, 0),
    ("block2_conv", "Conv2D", {"filters": 64, "strides": (1, 1), **CONV}, 18432),
    ("block2_bn", "BatchNormalization", {"momentum": 0.99}, 256),
    ("block2_relu", "ReLU", {}, 0),
    ("block2_pool", "MaxPooling2D", {"pool_size": (2, 2)}, 0),
    ("block3_conv", "Conv2D", {"filters": 128, "strides": (1, 1), **CONV}, 73728),
    ("block3_bn", "BatchNormalization", {"momentum": 0.99}, 512),
    ("block3_relu", "ReLU", {}, 0),
    ("block3_pool", "MaxPooling2D", {"pool_size": (2, 2)}, 0),
    ("block4_conv", "Conv2D", {"filters": 256, "strides": (1, 1), **CONV}, 294912),
    ("block4_bn", "BatchNormalization", {"momentum": 0.99}, 1024),
    ("block4_relu", "ReLU", {}, 0),
    ("global_pool", "GlobalAveragePooling2D", {}, 0),
    ("head_dropout", "Dropout", {"rate": 0.3}, 0),
    ("prediction", "Dense", {"units": 1, "activation": "sigmoid", "use_bias": True}, 257),
]


def tagged_cell(notebook: str, tag: str) -> str:
    """The source of the one code cell of ``notebook`` tagged ``tag``."""
    cells = json.loads((NOTEBOOKS / notebook).read_text())["cells"]
    found = [cell for cell in cells if tag in cell.get("metadata", {}).get("tags", [])]
    assert len(found) == 1, f"{notebook} needs exactly one cell tagged {tag!r}"
    return "".join(found[0]["source"])


def run_cell(source: str) -> dict:
    """Run a lesson cell with the imports of its notebook's first cell, and return its names."""
    names = {"keras": keras, "layers": keras.layers}
    exec(compile(source, "<lesson cell>", "exec"), names)
    return names


def described(model: keras.Model) -> list[tuple]:
    """Each layer as (name, type, the settings named in SCRATCH_CNN, parameters)."""
    rows = []
    for layer, (_, _, settings, _) in zip(model.layers, SCRATCH_CNN, strict=True):
        config = layer.get_config()
        chosen = {key: tuple(value) if isinstance(value := config[key], list) else value for key in settings}
        rows.append((layer.name, type(layer).__name__, chosen, layer.count_params()))
    return rows


def test_the_package_scratch_cnn_is_the_spelled_out_network():
    model = models.scratch_cnn()
    assert len(model.layers) == len(SCRATCH_CNN)
    assert described(model) == SCRATCH_CNN
    assert model.count_params() == sum(parameters for *_, parameters in SCRATCH_CNN) == 394_065


def test_lesson_03_builds_the_package_scratch_cnn():
    lesson = run_cell(tagged_cell("03_cnn_from_scratch.ipynb", "scratch-cnn"))["model"]
    assert models.architecture(lesson) == models.architecture(models.scratch_cnn(128, 1))
    assert described(lesson) == SCRATCH_CNN


def test_architecture_tells_networks_apart():
    default, faster = models.scratch_cnn(), models.scratch_cnn(bn_momentum=0.9)
    assert models.architecture(default) != models.architecture(faster)


@pytest.fixture(scope="module")
def lesson_04():
    return run_cell(tagged_cell("04_transfer_learning.ipynb", "transfer-head"))


def test_lesson_04_head_is_the_package_transfer_head(lesson_04):
    assert [layer.get_config() for layer in lesson_04["head"]] == [
        layer.get_config() for layer in transfer.transfer_head()]
    dropout, dense = transfer.transfer_head()
    assert (dropout.rate, dense.units) == (transfer.HEAD_DROPOUT, 1)
    assert dense.get_config()["activation"] == "sigmoid"


def test_lesson_04_fine_tuning_switch_trains_what_the_package_trains(lesson_04):
    def frozen_top() -> keras.Model:
        upper = transfer.split_backbone(backbones.backbone(transfer.BACKBONE, (64, 64, 3), weights=None))[1]
        upper.trainable = False
        return upper

    lesson, package = frozen_top(), frozen_top()
    assert not lesson.trainable_weights
    lesson_04["start_fine_tuning"](lesson)
    transfer.start_fine_tuning(package)
    trained = [weight.path for weight in lesson.trainable_weights]
    assert trained == [weight.path for weight in package.trainable_weights]
    batch_norms = [layer for layer in package.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert batch_norms and not any(layer.trainable for layer in batch_norms)
    assert any(weight.path.endswith("kernel") for weight in package.trainable_weights)

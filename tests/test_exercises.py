"""The exercise checkers: each accepts the reference answer, rejects typical wrong ones with a hint that
names the mistake (without the answer), and never crashes, whatever a student passes."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from keras import initializers, layers

from pneumolab import exercises as check
from pneumolab import explain, metrics, models, training
from pneumolab.data import manifest as data
from pneumolab.exercises import _core
from pneumolab.metrics import multiclass
from pneumolab.preprocess import transforms as preprocess


def assert_hint(feedback: check.Feedback, *words: str) -> None:
    """A rejected answer whose hint mentions every one of ``words``."""
    assert isinstance(feedback, check.Feedback)
    assert not feedback.ok, f"accepted a wrong answer: {feedback}"
    for word in words:
        assert word.lower() in feedback.message.lower(), feedback.message


@pytest.fixture
def strict_mode():
    check.strict()
    yield
    check.strict(False)


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    """A Kermany-shaped manifest: patients with several films, 69 % pneumonia in train, 75 % in test,
    and one file copied under two patient ids (IM-0001 and IM-0002)."""
    rows = []
    for split, normal, sick, per_sick in (("train", 20, 30, 3), ("test", 10, 15, 2)):
        offset = 0 if split == "train" else 500
        for i in range(normal):
            for k in range(2 if split == "train" else 1):
                rows.append(dict(split=split, label="NORMAL", cause="normal", patient=f"IM-{offset + i:04d}",
                                 file=f"IM-{offset + i:04d}-{k:04d}.jpeg"))
        for i in range(sick):
            cause = ("bacteria", "virus")[i % 2]
            for k in range(per_sick):
                patient = f"person{offset + i}"
                rows.append(dict(split=split, label="PNEUMONIA", cause=cause, patient=patient,
                                 file=f"{patient}_{cause}_{k}.jpeg"))
    frame = pd.DataFrame(rows)
    frame["path"] = "/data/" + frame["split"] + "/" + frame["label"] + "/" + frame["file"]
    frame["ok"] = True
    frame["md5"] = [f"{i:032x}" for i in range(len(frame))]
    copied = frame["file"].isin(["IM-0001-0000.jpeg", "IM-0002-0000.jpeg"])
    frame.loc[copied, "md5"] = "c0ffee" * 5 + "00"
    return frame


@pytest.fixture(scope="module")
def random_split(manifest) -> pd.DataFrame:
    rows = data.usable(manifest).query("split == 'train'")
    split = rows.assign(split="train")
    split.loc[rows.sample(frac=0.2, random_state=0).index, "split"] = "val"
    return split


@pytest.fixture(scope="module")
def scores() -> tuple[np.ndarray, np.ndarray]:
    """Validation-like labels and probabilities where recall, precision and specificity all differ."""
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(100, int), np.ones(200, int)]
    p = np.clip(np.r_[rng.beta(2, 5, 100), rng.beta(4, 2, 200)], 0, 1)
    return y, p


@pytest.fixture(scope="module")
def scratch() -> keras.Model:
    return models.scratch_cnn(128, 1)


# ---------------------------------------------------------------- the feedback itself


def test_feedback_prints_once_and_is_true_only_when_right(capsys, manifest):
    right = check.majority_baseline(0.75, manifest)
    wrong = check.majority_baseline(0.3, manifest)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [str(right), str(wrong)]
    assert right and right.ok and printed[0].startswith("✅")
    assert not wrong and printed[1].startswith("💡")
    assert right._ipython_display_() is None  # the notebook shows nothing more


def test_strict_mode_raises_on_a_wrong_answer_only(strict_mode, manifest):
    assert check.majority_baseline(0.75, manifest)
    with pytest.raises(check.AnswerRejected, match="baseline"):
        check.majority_baseline(0.3, manifest)


def test_an_unanswered_exercise_stops_the_notebook():
    def to_unit(image):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError):
        check.unit_scale(to_unit)


GARBAGE = [None, "0.5", 3.5, True, [1, 2], {"a": 1}, np.zeros((2, 2)), pd.DataFrame(), object(), float("nan"),
           lambda *args: None, lambda *args: 1 / 0]

#: Features, domains (1: a test image) and patients for the lesson 08 checkers.
SHIFT = (np.random.default_rng(4).normal(size=(30, 4)), np.arange(30) % 2, np.arange(30) // 3)

#: A small batch of "model inputs" on a 0-255 scale for the lesson 06 checkers.
IMAGES = np.random.default_rng(3).uniform(0, 200, (3, 48, 48, 1)).astype(np.float32)


def tiny_model() -> keras.Model:
    """A stand-in for the reference model: a small sigmoid CNN on 48 x 48 gray inputs, fixed weights."""
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((48, 48, 1)), layers.Rescaling(1 / 255),
                             layers.Conv2D(4, 3, padding="same", activation="relu"), layers.MaxPooling2D(),
                             layers.Conv2D(8, 3, padding="same", activation="relu"),
                             layers.GlobalAveragePooling2D(),
                             layers.Dense(1, "sigmoid", kernel_initializer=initializers.RandomNormal(0, 5))])


def three_classes() -> tuple[np.ndarray, np.ndarray]:
    """Labels (0 normal, 1 bacteria, 2 virus) and a stand-in model's probabilities, where per-class recall,
    precision and accuracy all differ."""
    rng = np.random.default_rng(5)
    y = np.repeat([0, 1, 2], [60, 90, 50])
    logits = rng.normal(0, 1, (y.size, 3)) + 1.6 * np.eye(3)[y]
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, probs


def every_checker(answer, manifest, random_split, scores, scratch) -> dict:
    """Each checker, called on ``answer`` with valid other arguments."""
    y, p = scores
    return {
        "majority_baseline": lambda: check.majority_baseline(answer, manifest),
        "patients_on_both_sides": lambda: check.patients_on_both_sides(answer, random_split),
        "grouped_split": lambda: check.grouped_split(answer, manifest),
        "unit_scale": lambda: check.unit_scale(answer),
        "preprocessing_chain": lambda: check.preprocessing_chain(answer),
        "class_weights": lambda: check.class_weights(answer, y),
        "layer_output_shape": lambda: check.layer_output_shape(answer, scratch, "block2_conv"),
        "parameter_count": lambda: check.parameter_count(answer, scratch, "block2_conv"),
        "small_cnn": lambda: check.small_cnn(answer),
        "frozen_transfer_model": lambda: check.frozen_transfer_model(answer, scratch),
        "confusion_counts": lambda: check.confusion_counts(answer, y, p, 0.5),
        "recall_specificity": lambda: check.recall_specificity(answer, y, p, 0.5),
        "threshold_for_recall": lambda: check.threshold_for_recall(answer, y, p),
        "border_share": lambda: check.border_share(answer),
        "planted_marker": lambda: check.planted_marker(answer, IMAGES),
        "marker_effect": lambda: check.marker_effect(answer, tiny_model(), IMAGES),
        "class_recalls": lambda: check.class_recalls(answer, *three_classes()),
        "pneumonia_probability": lambda: check.pneumonia_probability(answer, three_classes()[1]),
        "pair_threshold": lambda: check.pair_threshold(answer, *three_classes()),
        "concepts": lambda: check.concepts(answer, "05"),
        "grouped_folds": lambda: check.grouped_folds(answer, *SHIFT[2:0:-1]),
        "domain_auc": lambda: check.domain_auc(answer, *SHIFT[:2], np.arange(SHIFT[1].size) % 3),
        "threshold_on_test": lambda: check.threshold_on_test(answer, y, p, y, p),
    }


@pytest.mark.parametrize("answer", GARBAGE, ids=lambda a: type(a).__name__)
def test_no_checker_crashes_on_a_wrong_type(answer, manifest, random_split, scores, scratch):
    for name, call in every_checker(answer, manifest, random_split, scores, scratch).items():
        feedback = call()
        assert not feedback.ok and feedback.message, name


def test_the_wrong_type_test_covers_every_checker(manifest, random_split, scores, scratch):
    checkers = {name for name, value in vars(check).items() if hasattr(value, "__wrapped__")}
    assert checkers == set(every_checker(None, manifest, random_split, scores, scratch))


# ---------------------------------------------------------------- lesson 01


def test_majority_baseline(manifest):
    assert check.majority_baseline(0.75, manifest, split="test")
    assert check.majority_baseline(90 / 130, manifest, split="train")
    assert_hint(check.majority_baseline(75, manifest), "percentage")
    assert_hint(check.majority_baseline(0.25, manifest), "NORMAL")
    assert_hint(check.majority_baseline(90 / 130, manifest), "train split")
    assert_hint(check.majority_baseline(30, manifest), "at most 1")


def test_patients_on_both_sides(random_split):
    sides = random_split.groupby("patient")["split"].nunique()
    leaking = sides.index[sides > 1]
    assert len(leaking) > 0
    assert check.patients_on_both_sides(len(leaking), random_split)
    images = int(random_split.query("split == 'val'")["patient"].isin(leaking).sum())
    several = int((random_split.groupby("patient").size() > 1).sum())
    assert len({len(leaking), images, several}) == 3
    assert_hint(check.patients_on_both_sides(images, random_split), "images", "patients")
    assert_hint(check.patients_on_both_sides(several, random_split), "several")
    assert_hint(check.patients_on_both_sides(2.5, random_split), "whole number")
    assert_hint(check.patients_on_both_sides(3, random_split.assign(split="train")), "'val'")


def test_grouped_split_accepts_the_kit_split(manifest):
    assert check.grouped_split(data.carve_validation(manifest), manifest)
    only_train = data.carve_validation(manifest).query("split != 'test'")
    assert check.grouped_split(only_train, manifest)


def test_grouped_split_hints(manifest, random_split):
    good = data.carve_validation(manifest)
    assert_hint(check.grouped_split(random_split, manifest), "patients have X-rays on both sides")
    copy = good.copy()  # the two patients sharing a file, on opposite sides
    copy.loc[copy["patient"] == "IM-0001", "split"] = "val"
    copy.loc[copy["patient"] == "IM-0002", "split"] = "train"
    assert_hint(check.grouped_split(copy, manifest), "leakage_groups")
    moved = good.copy()
    moved.loc[moved["split"] == "test", "split"] = "val"
    assert_hint(check.grouped_split(moved, manifest), "test")
    assert_hint(check.grouped_split(good.iloc[5:], manifest), "missing")
    assert_hint(check.grouped_split(good.assign(split=good["split"].replace("val", "train")), manifest),
                "empty")
    assert_hint(check.grouped_split(good.drop(columns="path"), manifest), "'path'")
    normal_patients_in_val = good.copy()
    normal_patients_in_val.loc[normal_patients_in_val["split"] == "val", "split"] = "train"
    for patient in [f"IM-{i:04d}" for i in range(3, 16)]:
        normal_patients_in_val.loc[normal_patients_in_val["patient"] == patient, "split"] = "val"
    assert_hint(check.grouped_split(normal_patients_in_val, manifest), "stratify")


# ---------------------------------------------------------------- lesson 02


def to_unit(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / np.iinfo(image.dtype).max


def test_unit_scale():
    assert check.unit_scale(to_unit)
    assert check.unit_scale(lambda image: preprocess.to_0_255(image) / 255)
    assert_hint(check.unit_scale(lambda image: (image / 255).astype(np.float32)), "65,535")
    assert_hint(check.unit_scale(lambda image: image / np.iinfo(image.dtype).max), "float32")
    assert_hint(check.unit_scale(lambda image: (image / image.max()).astype(np.float32)), "own brightest")
    assert_hint(check.unit_scale(lambda image: to_unit(image)[::2]), "shape")
    assert_hint(check.unit_scale(lambda image: None), "return")
    assert_hint(check.unit_scale(to_unit(check.films()["an 8-bit gray film"])), "function itself")


def prepare(raw: np.ndarray) -> np.ndarray:
    return preprocess.standardize_per_image(preprocess.clahe(preprocess.to_model_input(raw, 128, 1)))


def test_preprocessing_chain():
    assert check.preprocessing_chain(prepare)
    resize = lambda raw: preprocess.to_model_input(raw, 128, 1)  # noqa: E731
    assert_hint(check.preprocessing_chain(lambda raw: preprocess.standardize_per_image(resize(raw))), "CLAHE")
    assert_hint(check.preprocessing_chain(lambda raw: preprocess.clahe(resize(raw))), "0 to 255")
    assert_hint(check.preprocessing_chain(lambda raw: preprocess.scale_0_1(preprocess.clahe(resize(raw)))),
                "0 to 1")
    assert_hint(check.preprocessing_chain(lambda raw: prepare(raw)[..., 0]), "channel axis")
    assert_hint(check.preprocessing_chain(lambda raw: np.asarray(prepare(raw), np.float64)), "float32")
    assert_hint(check.preprocessing_chain(lambda raw: raw.reshape(-1)[5]), "shape")

    wrong_order = lambda raw: preprocess.clahe(preprocess.standardize_per_image(resize(raw)))  # noqa: E731
    hint = check.preprocessing_chain(wrong_order)
    assert_hint(hint, "ORDER", "standardize last")
    assert "missing" not in hint.message
    assert_hint(check.preprocessing_chain(lambda raw: preprocess.with_channels(raw, 2)),
                "raised ValueError", "channels must be 1 or 3")


# ---------------------------------------------------------------- lessons 03-04


def test_class_weights():
    labels = np.r_[np.zeros(40, int), np.ones(90, int)]
    reference = training.class_weights(labels)
    assert check.class_weights(reference, labels)
    assert check.class_weights({k: round(v, 2) for k, v in reference.items()}, labels)
    assert check.class_weights({np.int64(k): v for k, v in reference.items()}, labels)
    assert_hint(check.class_weights({0: reference[1], 1: reference[0]}, labels), "swapped")
    assert_hint(check.class_weights({0: 40 / 130, 1: 90 / 130}, labels), "shares")
    assert_hint(check.class_weights({0: 130 / 40, 1: 130 / 90}, labels), "ratio")
    assert_hint(check.class_weights([reference[0], reference[1]], labels), "dict")
    assert_hint(check.class_weights({"NORMAL": 1.6, "PNEUMONIA": 0.7}, labels), "indices")
    text_keys = check.class_weights({str(k): v for k, v in reference.items()}, labels)
    assert_hint(text_keys, "not text", "{0: ..., 1: ...}")
    missing = check.class_weights({0: reference[0]}, labels)
    assert_hint(missing, "{0: ..., 1: ...}")
    for feedback in (text_keys, missing):  # every hint shows the keys as Keras wants them: integers
        assert "'0'" not in feedback.message and "'1'" not in feedback.message
    hint = check.class_weights({0: 1.0, 1: 1.0}, labels)
    assert_hint(hint, "average")
    assert f"{reference[0]:.2f}" not in hint.message


def test_layer_output_shape(scratch):
    assert check.layer_output_shape((32, 32, 64), scratch, "block2_conv")
    assert check.layer_output_shape([32, 32, 64], scratch, "block2_conv")
    assert_hint(check.layer_output_shape((None, 32, 32, 64), scratch, "block2_conv"), "batch axis")
    assert_hint(check.layer_output_shape((64, 32, 32), scratch, "block2_conv"), "channels last")
    assert_hint(check.layer_output_shape((64, 64, 64), scratch, "block2_conv"), "too large")
    assert_hint(check.layer_output_shape((16, 16, 64), scratch, "block2_conv"), "too small")
    assert_hint(check.layer_output_shape((32, 32, 32), scratch, "block2_conv"), "filter")
    assert_hint(check.layer_output_shape((32, 64), scratch, "block2_conv"), "3 axes")


def test_parameter_count(scratch):
    assert check.parameter_count(3 * 3 * 32 * 64, scratch, "block2_conv")
    assert check.parameter_count(scratch.count_params(), scratch)
    assert_hint(check.parameter_count(3 * 3 * 32 * 64 + 64, scratch, "block2_conv"), "no bias")
    assert_hint(check.parameter_count(3 * 3 * 64, scratch, "block2_conv"), "every input channel")
    assert_hint(check.parameter_count(3 * 3 * 32, scratch, "block2_conv"), "one filter")
    trainable = sum(int(np.prod(w.shape)) for w in scratch.trainable_weights)
    assert_hint(check.parameter_count(trainable, scratch), "only trainable")
    dense = keras.Sequential([keras.Input((10,)), layers.Dense(3)])
    assert check.parameter_count(33, dense, trainable_only=True)
    assert_hint(check.parameter_count(30, dense, trainable_only=True), "biases")


def cnn(*body: layers.Layer, rescale: bool = True, size: int = 128, channels: int = 1) -> keras.Model:
    head = [layers.Rescaling(1 / 255)] if rescale else []
    return keras.Sequential([keras.Input((size, size, channels)), *head, *body])


def convs(n: int = 2) -> list[layers.Layer]:
    """Fresh layers each time: a Keras layer keeps the input shape it was first built for."""
    body = [layers.Conv2D(8, 3, activation="relu"), layers.MaxPooling2D(),
            layers.Conv2D(16, 3, activation="relu")]
    return body[: 2 * n - 1]


def test_small_cnn():
    pooled = (layers.GlobalAveragePooling2D(),)
    assert check.small_cnn(cnn(*convs(), *pooled, layers.Dense(1, activation="sigmoid")))
    assert_hint(check.small_cnn(cnn(*convs(), layers.Flatten(), layers.Dense(1, activation="sigmoid"))),
                "parameters", "pooling")
    assert_hint(check.small_cnn(cnn(*convs(), *pooled, layers.Dense(2, activation="softmax"))), "2 numbers")
    assert_hint(check.small_cnn(cnn(*convs(), *pooled, layers.Dense(1))), "sigmoid")
    assert_hint(check.small_cnn(cnn(*convs(), layers.Dense(1, activation="sigmoid"))), "pool")
    assert_hint(check.small_cnn(cnn(*convs(1), *pooled, layers.Dense(1, activation="sigmoid"))),
                "at least two")
    assert_hint(check.small_cnn(cnn(*convs(), *pooled, layers.Dense(1, activation="sigmoid"), rescale=False)),
                "Rescaling")
    assert_hint(check.small_cnn(cnn(*convs(), *pooled, layers.Dense(1, activation="sigmoid"), channels=3)),
                "gray")
    assert_hint(check.small_cnn(keras.Sequential), "build it first")
    assert_hint(check.small_cnn(keras.Sequential([layers.Dense(1)])), "keras.Input")


@pytest.fixture
def backbone() -> keras.Model:
    """A tiny stand-in for the ImageNet backbone, with batch norm (whose statistics never train)."""
    inputs = keras.Input((32, 32, 3))
    x = layers.BatchNormalization()(layers.Conv2D(8, 3, strides=2)(inputs))
    return keras.Model(inputs, layers.Conv2D(12, 3)(x), name="backbone")


def on_top(backbone: keras.Model, flatten: bool = False, channels: int = 1) -> keras.Model:
    inputs = keras.Input((32, 32, channels))
    rgb = layers.Concatenate()([inputs] * 3) if channels == 1 else inputs
    features = backbone(rgb, training=False)
    pooled = layers.Flatten()(features) if flatten else layers.GlobalAveragePooling2D()(features)
    return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(layers.Dropout(0.2)(pooled)))


def test_frozen_transfer_model(backbone):
    assert_hint(check.frozen_transfer_model(on_top(backbone), backbone), "still trainable")
    backbone.trainable = False
    model = on_top(backbone)
    assert check.frozen_transfer_model(model, backbone)
    assert check.parameter_count(13, model, trainable_only=True)
    assert_hint(check.parameter_count(model.count_params(), model, trainable_only=True), "every parameter")
    assert_hint(check.frozen_transfer_model(on_top(backbone, flatten=True), backbone),
                "GlobalAveragePooling2D")
    assert_hint(check.frozen_transfer_model(on_top(backbone, channels=3), backbone), "gray")
    stranger = keras.models.clone_model(backbone)
    assert_hint(check.frozen_transfer_model(model, stranger), "does not contain")
    model.trainable = False
    assert_hint(check.frozen_transfer_model(model, backbone), "Nothing")


# ---------------------------------------------------------------- lesson 05


def test_confusion_counts(scores):
    y, p = scores
    (tn, fp), (fn, tp) = metrics.metrics_at(y, p, 0.5)["confusion_matrix"]
    assert len({tn, fp, fn, tp}) == 4
    assert check.confusion_counts({"TN": tn, "FP": fp, "FN": fn, "TP": tp}, y, p, 0.5)
    assert check.confusion_counts({"tn": float(tn), "fp": fp, "fn": fn, "tp": tp}, y, p, 0.5)
    assert_hint(check.confusion_counts({"TN": tn, "FP": fn, "FN": fp, "TP": tp}, y, p, 0.5), "false alarm")
    assert_hint(check.confusion_counts({"TN": tp, "FP": fp, "FN": fn, "TP": tn}, y, p, 0.5), "TN and TP")
    assert_hint(check.confusion_counts({"TN": tp, "FP": fn, "FN": fp, "TP": tn}, y, p, 0.5), "positive means")
    assert_hint(check.confusion_counts({"TN": tn + 1, "FP": fp, "FN": fn, "TP": tp}, y, p, 0.5), "add up")
    assert_hint(check.confusion_counts([[tn, fp], [fn, tp]], y, p, 0.5), "dict")
    assert_hint(check.confusion_counts({"TN": tn, "FP": fp, "FN": fn}, y, p, 0.5), "'TP'")


def rates(counts: dict) -> dict:
    return {"recall": counts["TP"] / (counts["TP"] + counts["FN"]),
            "specificity": counts["TN"] / (counts["TN"] + counts["FP"])}


def test_recall_specificity(scores):
    y, p = scores
    assert check.recall_specificity(rates, y, p, 0.5)
    assert check.recall_specificity(lambda c: {k: round(v, 2) for k, v in rates(c).items()}, y, p, 0.5)
    answers = {
        "precision": lambda c: rates(c) | {"recall": c["TP"] / (c["TP"] + c["FP"])},
        "predicted NORMAL": lambda c: rates(c) | {"specificity": c["TN"] / (c["TN"] + c["FN"])},
        "percentages": lambda c: {k: 100 * v for k, v in rates(c).items()},
        "swapped": lambda c: {"recall": rates(c)["specificity"], "specificity": rates(c)["recall"]},
        "false alarms": lambda c: {"recall": rates(c)["recall"], "specificity": 1 - rates(c)["specificity"]},
    }
    for hint, answer in answers.items():
        assert_hint(check.recall_specificity(answer, y, p, 0.5), hint)
    assert_hint(check.recall_specificity(rates(check.STAND_IN_COUNTS), y, p, 0.5), "function itself")
    assert_hint(check.recall_specificity(lambda c: c["tp"], y, p, 0.5), "raised KeyError")


def test_a_swap_of_the_rates_is_caught_when_they_are_equal_on_the_data():
    """Quick mode's validation set often has recall == specificity: the stand-in matrix still tells."""
    y = np.repeat([0, 0, 1, 1], [17, 3, 3, 17])
    p = np.repeat([0.1, 0.9, 0.1, 0.9], [17, 3, 3, 17])
    found = metrics.metrics_at(y, p, 0.5)
    assert found["recall"] == found["specificity"]
    swapped = lambda c: {"recall": rates(c)["specificity"], "specificity": rates(c)["recall"]}  # noqa: E731
    assert_hint(check.recall_specificity(swapped, y, p, 0.5), "swapped", "second matrix")
    assert check.recall_specificity(rates, y, p, 0.5)


def test_threshold_for_recall(scores):
    y, p = scores
    choice = metrics.choose_threshold(y, p, "recall", target=0.95)
    assert check.threshold_for_recall(choice.threshold, y, p, target=0.95)
    assert check.threshold_for_recall(choice, y, p, target=0.95)
    below = p[p < choice.threshold].max()  # any threshold between the same two probabilities is as good
    assert check.threshold_for_recall((below + choice.threshold) / 2, y, p, target=0.95)
    too_high = check.threshold_for_recall(0.5, y, p, target=0.95)
    assert_hint(too_high, "below the 95%", "0.5 is only a default")
    assert f"{choice.threshold:.3g}" not in too_high.message
    assert_hint(check.threshold_for_recall(below * 0.5, y, p, target=0.95), "highest")
    assert_hint(check.threshold_for_recall(1.2, y, p), "between 0 and 1")


# ---------------------------------------------------------------- lesson 06


def band_share(heat: np.ndarray, margin: float = 0.1) -> float:
    rows, cols = max(1, round(margin * heat.shape[0])), max(1, round(margin * heat.shape[1]))
    return 1 - heat[rows:-rows, cols:-cols].sum() / heat.sum()


def test_border_share():
    assert check.border_share(band_share)
    assert check.border_share(lambda heat, margin=0.1: explain.border_share(heat, margin))
    assert_hint(check.border_share(lambda heat, margin=0.1: 1 - band_share(heat, margin)), "INSIDE")
    assert_hint(check.border_share(lambda heat, margin=0.1: band_share(heat)), "margin` argument")
    assert_hint(check.border_share(lambda heat, margin=0.1: 1 - (1 - 2 * margin) ** 2), "AREA")

    def square_band(heat, margin=0.1):
        side = max(1, round(margin * heat.shape[0]))
        return 1 - heat[side:-side, side:-side].sum() / heat.sum()

    assert_hint(check.border_share(square_band), "height", "width")
    assert_hint(check.border_share(lambda heat, margin=0.1: 1 - heat[5:-5].sum() / heat.sum()),
                "ALL FOUR edges")
    assert_hint(check.border_share(lambda heat, margin=0.1: heat[:3]), "one number")
    assert_hint(check.border_share(0.36), "function itself")


def test_planted_marker():
    assert check.planted_marker(check.plant, IMAGES)

    def painted(images, rows=slice(8, 24), cols=slice(8, 24), level=255.0, first_only=False, copy=True):
        marked = images.copy() if copy else images
        marked[:1 if first_only else None, rows, cols] = level
        return marked

    assert check.planted_marker(painted, IMAGES)
    assert_hint(check.planted_marker(lambda images: painted(images, copy=False), IMAGES), "COPY")
    assert_hint(check.planted_marker(lambda images: painted(images, level=1.0), IMAGES), "0-255")
    assert_hint(check.planted_marker(lambda images: painted(images, rows=slice(-24, -8)), IMAGES),
                "wrong place")
    assert_hint(check.planted_marker(lambda images: painted(images, rows=slice(8, 23)), IMAGES), "slice ends")
    assert_hint(check.planted_marker(lambda images: painted(images, first_only=True), IMAGES), "every image")
    assert_hint(check.planted_marker(lambda images: images[:, :, :, 0], IMAGES), "shape")
    assert_hint(check.planted_marker(lambda images: None, IMAGES), "return")
    assert (IMAGES[:, 8:24, 8:24] < 255).all()  # no checker call touched the shared batch


def test_marker_effect():
    model = tiny_model()
    marked = check.plant(IMAGES)
    before, after = (np.asarray(model(batch))[:, 0] for batch in (IMAGES, marked))
    share_before, share_after = (explain.border_share(explain.grad_cam(model, batch))
                                 for batch in (IMAGES, marked))
    right = {"probability": float(np.mean(after - before)),
             "border share": float(np.nanmean(share_after - share_before))}
    assert abs(right["probability"]) > 1e-3 and abs(right["border share"]) > 1e-3
    assert check.marker_effect(right, model, IMAGES)
    flipped = {"probability": -right["probability"], "border share": right["border share"]}
    assert_hint(check.marker_effect(flipped, model, IMAGES), "sign", "probability")
    one_side = {"probability": right["probability"], "border share": float(np.nanmean(share_after))}
    assert_hint(check.marker_effect(one_side, model, IMAGES), "one set of images")
    percent = {"probability": right["probability"], "border share": 100 * right["border share"]}
    assert_hint(check.marker_effect(percent, model, IMAGES), "percentage")
    assert_hint(check.marker_effect({"probability": 0.0, "border share": 0.0}, model, IMAGES), "change")
    assert_hint(check.marker_effect({"probability": 0.1}, model, IMAGES), "'border share'")


# ---------------------------------------------------------------- lesson 07


def test_class_recalls():
    y, probs = three_classes()
    report = multiclass.multiclass_report(y, probs, data.TASKS["cause"], ci=False)
    matrix = np.asarray(report["confusion_matrix"])
    recall, precision = np.diag(matrix) / matrix.sum(axis=1), np.diag(matrix) / matrix.sum(axis=0)
    assert min(abs(recall - precision)) > 0.02
    def per_class(values) -> dict:
        return dict(zip(data.TASKS["cause"], values, strict=True))

    assert check.class_recalls(per_class(recall), y, probs)
    assert check.class_recalls({name.upper(): round(value, 2) for name, value in per_class(recall).items()},
                               y, probs)
    assert_hint(check.class_recalls(per_class(precision), y, probs), "COLUMN", "precision")
    assert_hint(check.class_recalls(per_class(100 * recall), y, probs), "percentages")
    assert_hint(check.class_recalls(per_class(np.diag(matrix)), y, probs), "count")
    accuracy = np.trace(matrix) / matrix.sum()
    assert_hint(check.class_recalls(per_class([accuracy] * 3), y, probs), "accuracy")
    assert_hint(check.class_recalls(list(recall), y, probs), "dict")


def test_pneumonia_probability():
    _, probs = three_classes()
    assert check.pneumonia_probability(probs[:, 1] + probs[:, 2], probs)
    assert check.pneumonia_probability((1 - probs[:, 0])[:, None], probs)
    assert_hint(check.pneumonia_probability(probs[:, 0], probs), "NORMAL")
    assert_hint(check.pneumonia_probability(probs[:, 1], probs), "viral one is pneumonia too")
    assert_hint(check.pneumonia_probability(probs[:, 1:].max(axis=1), probs), "ADD up")
    assert_hint(check.pneumonia_probability(probs[:, 1:], probs), "one probability per image")
    assert_hint(check.pneumonia_probability(probs[:5, 1] + probs[:5, 2], probs), "shape")


def test_pair_threshold():
    y, probs = three_classes()
    y_pair, s_pair = multiclass.pair_scores(y, probs, data.TASKS["cause"], positive="virus",
                                            negative="bacteria")
    best = metrics.choose_threshold(y_pair, s_pair, "youden")
    assert check.pair_threshold(best.threshold, y, probs)
    assert check.pair_threshold(best, y, probs)
    raw = metrics.choose_threshold(y_pair, probs[np.isin(y, (1, 2)), 2], "youden").threshold
    assert not np.array_equal(metrics.metrics_at(y_pair, s_pair, raw)["confusion_matrix"],
                              best.metrics["confusion_matrix"])
    assert_hint(check.pair_threshold(raw, y, probs), "p_virus alone")
    assert_hint(check.pair_threshold(0.99, y, probs), "does better")
    assert_hint(check.pair_threshold(1.5, y, probs), "between 0 and 1")
    hint = check.pair_threshold(0.5, y, probs)
    if not hint.ok:  # 0.5 is right only if it happens to cut like the best threshold
        assert_hint(hint, "only a default")


# ---------------------------------------------------------------- concept checks


@pytest.mark.parametrize("lesson", sorted(check.QUESTIONS))
def test_every_lesson_has_a_concept_check_that_accepts_its_answers(lesson):
    questions = check.QUESTIONS[lesson]
    assert 4 <= len(questions) <= 6
    answers = {number: question.answer for number, question in enumerate(questions, 1)}
    assert check.concepts(answers, lesson)
    typed = {str(k): f" {v.upper()})" if isinstance(v, str) else v for k, v in answers.items()}
    assert check.concepts(typed, lesson)
    shown = check.concept_questions(lesson).data
    assert shown.count("**") >= 2 * len(questions)
    for question in questions:
        assert question.text in shown
        for letter, choice in question.choices.items():
            assert f"**{letter})** {choice}" in shown
        assert (question.answer in question.choices) == bool(question.choices)


@pytest.mark.parametrize("lesson", sorted(check.QUESTIONS))
def test_a_wrong_concept_answer_gets_its_own_hint_without_the_answer(lesson):
    questions = check.QUESTIONS[lesson]
    answers = {number: question.answer for number, question in enumerate(questions, 1)}
    for number, question in enumerate(questions, 1):
        for wrong, hint in question.hints.items():
            feedback = check.concepts(answers | {number: wrong}, lesson)
            assert_hint(feedback, f"{len(questions) - 1} of {len(questions)} right", f"Q{number}: {hint}")


def test_concept_check_hints():
    assert_hint(check.concepts({1: 0.625}, "01"), "1 of 5 right", "Q2: not answered yet")
    assert_hint(check.concepts({1: "z"}, "01"), "a number")
    assert_hint(check.concepts({2: "z"}, "01"), "one of the letters")
    assert_hint(check.concepts({1: 62.5}, "01"), "percentage")
    assert_hint(check.concepts({9: "a"}, "01"), "no question 9")
    assert_hint(check.concepts({1: 0.625}, "12"), "no concept check")
    with pytest.raises(ValueError, match="the lessons are 01"):
        check.concept_questions(9)
    assert check.concepts({1: 0.625, 2: "c)", 3: " B ", 4: "a", 5: "b"}, 1)


# ---------------------------------------------------------------- progress


def test_summary_shows_the_latest_verdict_per_exercise(manifest, monkeypatch):
    monkeypatch.setattr(_core, "_history", [])
    assert check.summary().empty
    check.majority_baseline(0.3, manifest)
    check.majority_baseline(0.75, manifest)
    check.concepts({1: 0.5}, "01")
    table = check.summary()
    assert list(table["exercise"]) == ["always-PNEUMONIA baseline", "concept check"]
    assert list(table["result"]) == ["✅ right", "💡 not yet"]
    assert list(table["attempts"]) == [2, 1]


def test_results_are_saved_per_student_and_collected(tmp_path, manifest, monkeypatch, capsys):
    monkeypatch.setattr(_core, "_history", [])
    with pytest.raises(ValueError, match="No exercise"):
        check.save_results("ada", "01", tmp_path)
    check.majority_baseline(0.75, manifest)
    check.concepts({1: 0.5}, "01")
    first = check.save_results("Ada Lovelace", "01", tmp_path)
    assert first == tmp_path / "01_Ada_Lovelace.csv"
    assert "1 of 2 exercises right" in capsys.readouterr().out
    monkeypatch.setattr(_core, "_history", [])
    check.majority_baseline(0.3, manifest)
    check.save_results("grace", "01", tmp_path)
    table = check.collect_results(tmp_path).set_index("student")
    assert table.loc["Ada_Lovelace", "right"] == 1 and table.loc["Ada_Lovelace", "tried"] == 2
    assert table.loc["grace", "right"] == 0
    assert table.loc["Ada_Lovelace", "concept check"] == "💡 not yet"
    assert table.loc["grace", "always-PNEUMONIA baseline"] == "💡 not yet"
    with pytest.raises(ValueError, match="student"):
        check.save_results("  ", "01", tmp_path)
    with pytest.raises(FileNotFoundError, match="save_results"):
        check.collect_results(tmp_path / "empty")

"""The exercise checkers: each accepts the reference answer, rejects typical wrong ones with a hint that
names the mistake (without the answer), and never crashes, whatever a student passes."""

from __future__ import annotations

import keras
import numpy as np
import pandas as pd
import pytest
from keras import layers

from pneumolab import data, evaluate, models, preprocess, train
from pneumolab import exercises as check


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
                rows.append(dict(split=split, label="NORMAL", cause="none", patient=f"IM-{offset + i:04d}",
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


GARBAGE = [None, "0.5", 3.5, True, [1, 2], {"a": 1}, np.zeros((2, 2)), pd.DataFrame(), object(), float("nan")]


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

    assert_hint(check.preprocessing_chain(lambda raw: preprocess.with_channels(raw, 2)),
                "raised ValueError", "channels must be 1 or 3")


# ---------------------------------------------------------------- lessons 03-04


def test_class_weights():
    labels = np.r_[np.zeros(40, int), np.ones(90, int)]
    reference = train.class_weights(labels)
    assert check.class_weights(reference, labels)
    assert check.class_weights({k: round(v, 2) for k, v in reference.items()}, labels)
    assert check.class_weights({np.int64(k): v for k, v in reference.items()}, labels)
    assert_hint(check.class_weights({0: reference[1], 1: reference[0]}, labels), "swapped")
    assert_hint(check.class_weights({0: 40 / 130, 1: 90 / 130}, labels), "shares")
    assert_hint(check.class_weights({0: 130 / 40, 1: 130 / 90}, labels), "ratio")
    assert_hint(check.class_weights([reference[0], reference[1]], labels), "dict")
    assert_hint(check.class_weights({"NORMAL": 1.6, "PNEUMONIA": 0.7}, labels), "indices")
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
    (tn, fp), (fn, tp) = evaluate.metrics_at(y, p, 0.5)["confusion_matrix"]
    assert len({tn, fp, fn, tp}) == 4
    assert check.confusion_counts({"TN": tn, "FP": fp, "FN": fn, "TP": tp}, y, p, 0.5)
    assert check.confusion_counts({"tn": float(tn), "fp": fp, "fn": fn, "tp": tp}, y, p, 0.5)
    assert_hint(check.confusion_counts({"TN": tn, "FP": fn, "FN": fp, "TP": tp}, y, p, 0.5), "false alarm")
    assert_hint(check.confusion_counts({"TN": tp, "FP": fp, "FN": fn, "TP": tn}, y, p, 0.5), "TN and TP")
    assert_hint(check.confusion_counts({"TN": tp, "FP": fn, "FN": fp, "TP": tn}, y, p, 0.5), "positive means")
    assert_hint(check.confusion_counts({"TN": tn + 1, "FP": fp, "FN": fn, "TP": tp}, y, p, 0.5), "add up")
    assert_hint(check.confusion_counts([[tn, fp], [fn, tp]], y, p, 0.5), "dict")
    assert_hint(check.confusion_counts({"TN": tn, "FP": fp, "FN": fn}, y, p, 0.5), "'TP'")


def test_recall_specificity(scores):
    y, p = scores
    found = evaluate.metrics_at(y, p, 0.5)
    (tn, _), (fn, _) = found["confusion_matrix"]
    recall, specificity = found["recall"], found["specificity"]
    rates = sorted([recall, specificity, found["precision"], tn / (tn + fn), 1 - specificity])
    assert min(np.diff(rates)) > 0.02  # every mistake below gives a distinguishable number
    assert check.recall_specificity({"recall": recall, "specificity": specificity}, y, p, 0.5)
    rounded = {"recall": round(recall, 2), "specificity": round(specificity, 2)}
    assert check.recall_specificity(rounded, y, p, 0.5)
    answers = {
        "precision": {"recall": found["precision"], "specificity": specificity},
        "predicted NORMAL": {"recall": recall, "specificity": tn / (tn + fn)},
        "percentages": {"recall": 100 * recall, "specificity": 100 * specificity},
        "swapped": {"recall": specificity, "specificity": recall},
        "false alarms": {"recall": recall, "specificity": 1 - specificity},
    }
    for hint, answer in answers.items():
        assert_hint(check.recall_specificity(answer, y, p, 0.5), hint)


def test_threshold_for_recall(scores):
    y, p = scores
    choice = evaluate.choose_threshold(y, p, "recall", target=0.95)
    assert check.threshold_for_recall(choice.threshold, y, p, target=0.95)
    assert check.threshold_for_recall(choice, y, p, target=0.95)
    below = p[p < choice.threshold].max()  # any threshold between the same two probabilities is as good
    assert check.threshold_for_recall((below + choice.threshold) / 2, y, p, target=0.95)
    too_high = check.threshold_for_recall(0.5, y, p, target=0.95)
    assert_hint(too_high, "below the 95%", "0.5 is only a default")
    assert f"{choice.threshold:.3g}" not in too_high.message
    assert_hint(check.threshold_for_recall(below * 0.5, y, p, target=0.95), "highest")
    assert_hint(check.threshold_for_recall(1.2, y, p), "between 0 and 1")

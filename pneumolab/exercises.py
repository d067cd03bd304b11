"""Checkers for the exercise notebooks: a friendly hint on a wrong answer, a confirmation on a right one.

A student finishes an exercise and runs its checker, e.g. ``check.class_weights(weights, y_train)``.
The checker works the right answer out itself, with the package functions the lessons use (so it
cannot drift from the course), compares, and prints either a confirmation or a hint that says
what is wrong without giving the answer away. It also returns a :class:`Feedback`, true when the
answer is right, for tests and graders.

A checker never crashes on an answer: a wrong type or shape, or a student's function that raises,
gets a hint like any other mistake. Only ``NotImplementedError`` passes through: the exercise is not
answered yet, and "Run all" should stop there. In strict mode (:func:`strict`, which the solution
notebooks switch on) a wrong answer raises :class:`AnswerRejected`, so a run of the solutions fails
loudly if a checker and a solution disagree.

TensorFlow is imported only by the checkers that need it, so the data and evaluation exercises start fast.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from pneumolab import config, data, evaluate

if TYPE_CHECKING:
    import keras
    from numpy.typing import ArrayLike

_strict = False


@dataclass(frozen=True)
class Feedback:
    """The verdict on one answer: which exercise, whether it is right, and the message shown."""

    exercise: str
    ok: bool
    message: str

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        return f"{'✅ Right' if self.ok else '💡 Not yet'} ({self.exercise}): {self.message}"

    def _ipython_display_(self) -> None:
        """Show nothing: the checker printed the message already, and a notebook would show it twice."""


class AnswerRejected(AssertionError):
    """A wrong answer in strict mode: the solution notebooks must pass their own checkers."""


class _Hint(Exception):
    """Raised inside a checker at the first thing wrong with an answer; its text is the hint."""


def strict(on: bool = True) -> None:
    """Make wrong answers raise :class:`AnswerRejected` (the solution notebooks do, in a hidden region)."""
    global _strict
    _strict = on


def _checker(exercise: str, expects: str) -> Callable[[Callable[..., str]], Callable[..., Feedback]]:
    """Make a check (returns the confirmation, raises :class:`_Hint`) a checker that prints and returns."""

    def wrap(check: Callable[..., str]) -> Callable[..., Feedback]:
        @functools.wraps(check)
        def run(*args, **kwargs) -> Feedback:
            try:
                feedback = Feedback(exercise, True, check(*args, **kwargs))
            except NotImplementedError:
                raise
            except _Hint as hint:
                feedback = Feedback(exercise, False, str(hint))
            except Exception as error:  # a checker must never crash a student's notebook
                problem = f"I could not check this answer ({type(error).__name__}: {error})."
                feedback = Feedback(exercise, False, f"{problem} Expected {expects}.")
            print(feedback)
            if _strict and not feedback.ok:
                raise AnswerRejected(str(feedback))
            return feedback

        return run

    return wrap


# ---------------------------------------------------------------- reading answers


def _describe(answer: object) -> str:
    name, shape = type(answer).__name__, getattr(answer, "shape", None)
    article = "an" if name[0].lower() in "aeiou" else "a"
    return f"{article} {name}" + (f" of shape {tuple(shape)}" if shape is not None else "")


def _number(answer: object, what: str) -> float:
    """The answer as a float, or a hint that one number was expected."""
    if isinstance(answer, str | bytes):
        raise _Hint(f"{what} should be a number, not the text {answer!r}: leave out the quotes.")
    try:
        array = np.asarray(answer)
    except Exception:  # objects NumPy cannot read at all
        array = np.asarray(None)
    if array.ndim != 0 or array.dtype.kind not in "iuf":
        raise _Hint(f"{what} should be one number; you gave {_describe(answer)}.")
    value = float(array)
    if not math.isfinite(value):
        raise _Hint(f"{what} is {value}: something upstream divided by zero or read no data.")
    return value


def _count(answer: object, what: str) -> int:
    value = _number(answer, what)
    if value != int(value) or value < 0:
        raise _Hint(f"{what} should be a whole number of at least 0; you gave {value:g}.")
    return int(value)


def _matches(value: float, reference: float) -> bool:
    """Equal up to rounding to two decimals (half a unit of the second decimal, plus float noise)."""
    return math.isclose(value, reference, rel_tol=1e-3, abs_tol=0.005 + 1e-9)


def _entries(
    answer: object, keys: tuple[str, ...], what: str, read: Callable[[object, str], float] = _number
) -> dict[str, float]:
    """A dict answer's numbers under ``keys`` (any letter case), or a hint showing the expected form."""
    form = "{" + ", ".join(f"'{key}': ..." for key in keys) + "}"
    if not isinstance(answer, Mapping):
        raise _Hint(f"Give {what} as a dict, {form}, so the numbers cannot get mixed up; "
                    f"you gave {_describe(answer)}.")
    given = {str(key).lower(): value for key, value in answer.items()}
    missing = [key for key in keys if key.lower() not in given]
    if missing:
        raise _Hint(f"The dict needs the keys {', '.join(map(repr, keys))}; {', '.join(map(repr, missing))} "
                    f"missing. Expected {form}.")
    return {key: read(given[key.lower()], f"The value of {key!r}") for key in keys}


def _split_frame(answer: object, columns: tuple[str, ...]) -> pd.DataFrame:
    if not isinstance(answer, pd.DataFrame):
        raise _Hint(f"Pass the split as a DataFrame (the manifest with its 'split' column); "
                    f"you gave {_describe(answer)}.")
    missing = [column for column in columns if column not in answer]
    if missing:
        raise _Hint(f"Your table has no {', '.join(map(repr, missing))} column: keep the manifest's columns "
                    "and change only 'split'.")
    return answer


# ---------------------------------------------------------------- lesson 01: the data


@_checker("always-PNEUMONIA baseline", "a fraction between 0 and 1, e.g. 0.5")
def majority_baseline(answer: float, manifest: pd.DataFrame, split: str = "test") -> str:
    """Accuracy of a "model" that answers PNEUMONIA for every image of one split of ``manifest``."""
    value = _number(answer, "The accuracy")
    rows = data.usable(manifest)

    def accuracy(on: str) -> float:
        y = data.targets(rows.loc[rows["split"] == on])
        return evaluate.metrics_at(y, np.ones(len(y)), 0.5)["accuracy"]

    reference = accuracy(split)
    if _matches(value, reference):
        return (f"always answering PNEUMONIA is right {reference:.1%} of the time on {split}, "
                "without looking at a single lung. Accuracy alone says little here.")
    if _matches(value / 100, reference):
        raise _Hint("That looks like a percentage: give a fraction between 0 and 1 (50 % is 0.5).")
    if _matches(value, 1 - reference):
        raise _Hint("That is the share of NORMAL images. This 'model' always says PNEUMONIA: "
                    "which images does it get right?")
    for other in sorted(set(rows["split"]) - {split}):
        if _matches(value, accuracy(other)):
            raise _Hint(f"That is the accuracy on the {other} split; the question asks about {split}.")
    if value > 1:
        raise _Hint(f"An accuracy is a share of images, at most 1: divide by the number of {split} images.")
    raise _Hint(f"Not quite. Which {split} images does a model that always says PNEUMONIA get right, "
                f"and what share of all {split} images are they?")


@_checker("leaking patients", "a whole number of patients, e.g. 12")
def patients_on_both_sides(answer: int, split: pd.DataFrame) -> str:
    """How many patients of ``split`` (a manifest with train/val rows) have images on both sides."""
    value = _count(answer, "The number of patients")
    rows = _split_frame(split, ("patient", "split"))
    rows = rows.loc[rows["split"].isin(["train", "val"])]
    if rows["split"].nunique() < 2:
        raise _Hint("Your split needs rows in both 'train' and 'val' before anything can leak.")
    sides = rows.groupby("patient")["split"].nunique()
    leaking = sides.index[sides > 1]
    if value == len(leaking):
        share = rows.loc[rows["split"] == "val", "patient"].isin(leaking).mean()
        return (f"{len(leaking)} patients have X-rays on both sides, so {share:.0%} of the validation images "
                "have a sibling film in training: the model would be graded on children it has seen.")
    in_val_leaking = rows.loc[rows["split"] == "val", "patient"].isin(leaking)
    if value == int(in_val_leaking.sum()):
        raise _Hint("That counts validation images; the question asks for patients, each counted once.")
    if value == int((rows.groupby("patient").size() > 1).sum()):
        raise _Hint("That counts the patients with several X-rays, wherever those went; count only those "
                    "whose X-rays ended up on both sides.")
    if value == rows["patient"].nunique():
        raise _Hint("That is every patient in the table; count only those with X-rays on both sides.")
    raise _Hint("Not quite. A patient leaks when their rows hold two different values of 'split': "
                "group the rows by patient and look at the distinct splits.")


@_checker("patient-grouped split", "the manifest as a DataFrame, with 'split' set to train, val or test")
def grouped_split(answer: pd.DataFrame, manifest: pd.DataFrame, val_fraction: float = 0.2) -> str:
    """A validation split of ``manifest``'s training images: no patient, and no copied file, on both sides."""
    where = _split_frame(answer, ("path", "split")).drop_duplicates("path").set_index("path")["split"]
    rows = data.usable(manifest)
    pool = rows.loc[rows["split"].isin(["train", "val"])].reset_index(drop=True)
    test_now = where.reindex(rows.loc[rows["split"] == "test", "path"]).dropna()
    if (test_now != "test").any():
        raise _Hint("Some official test images moved into train or val: the test split stays as it is, "
                    "untouched until the final report.")
    assigned = where.reindex(pool["path"])
    if assigned.isna().any():
        raise _Hint(f"{int(assigned.isna().sum())} of the {len(pool)} training images are missing from your "
                    "split: every training image should land in 'train' or 'val'.")
    if not assigned.isin(["train", "val"]).all():
        raise _Hint("Training images may only go to 'train' or 'val'; found "
                    f"{sorted(set(assigned) - {'train', 'val'})}.")
    in_val = (assigned == "val").to_numpy()
    if in_val.all() or not in_val.any():
        raise _Hint("One side of your split is empty: some training images should go to 'val', "
                    "most stay in 'train'.")

    def on_both_sides(keys: pd.Series) -> list:
        return sorted(set(keys[in_val]) & set(keys[~in_val]))

    patients = on_both_sides(pool["patient"])
    if patients:
        raise _Hint(f"{len(patients)} patients have X-rays on both sides (for example {patients[0]}): "
                    "move whole patients, not single images.")
    if on_both_sides(data.leakage_groups(pool)):
        raise _Hint("No patient is on both sides, but a file copied under two patient ids is: group by "
                    "data.leakage_groups(...), which merges such patients, rather than by 'patient'.")
    share = in_val.mean()
    if not 0.5 * val_fraction <= share <= 1.5 * val_fraction:
        raise _Hint(f"Validation holds {share:.0%} of the training images; aim for about {val_fraction:.0%}.")
    y = data.targets(pool)
    if abs(y[in_val].mean() - y[~in_val].mean()) > 0.1:
        raise _Hint(f"Validation is {y[in_val].mean():.0%} pneumonia but training {y[~in_val].mean():.0%}: "
                    "stratify by class as well as grouping by patient.")
    return (f"no patient, and no copy of a file, on both sides; validation holds {int(in_val.sum()):,} "
            f"images ({share:.0%}), {y[in_val].mean():.0%} of them pneumonia.")


# ---------------------------------------------------------------- lesson 02: preprocessing


def films() -> dict[str, np.ndarray]:
    """Raw test films the preprocessing checkers run a student's function on: 8- and 16-bit gray, 8-bit RGB.

    Synthetic (a bright body, two darker lungs, noise) so the checkers need no data set, with sides of
    different lengths so a function that forgets to resize or swaps axes shows it, and grey levels
    short of the dtype's extremes, as on a real film, so dividing by the image's own maximum shows too.
    """
    rng = np.random.default_rng(config.SEED)
    rows, cols = np.mgrid[0:300, 0:260] / np.array([300, 260])[:, None, None]
    body = np.exp(-((cols - 0.5) ** 2) / 0.08) * 0.8
    lungs = sum(np.exp(-((rows - 0.45) ** 2 / 0.04 + (cols - c) ** 2 / 0.01)) for c in (0.33, 0.67))
    film = 0.04 + 0.88 * np.clip(body - 0.5 * lungs + rng.normal(0, 0.03, rows.shape) + 0.1, 0, 1)
    return {
        "an 8-bit gray film": (film * 255).round().astype(np.uint8),
        "a 16-bit gray film": (film * 65535).round().astype(np.uint16),
        "an 8-bit RGB film": np.repeat((film * 255).round().astype(np.uint8)[..., None], 3, axis=-1),
    }


def _call(function: object, image: np.ndarray, name: str) -> np.ndarray:
    """A student's function applied to a copy of ``image``, as an array; hints if it cannot be."""
    if not callable(function):
        raise _Hint("Pass your function itself (its name, without parentheses); "
                    f"you gave {_describe(function)}.")
    try:
        result = function(image.copy())
    except NotImplementedError:
        raise
    except Exception as error:
        raise _Hint(f"Your function raised {type(error).__name__} on {name} {image.shape} {image.dtype}: "
                    f"{error}") from None
    if result is None:
        raise _Hint("Your function returned None: did you forget the `return`?")
    return np.asarray(result)


@_checker("0-1 scale", "a function taking an image array and returning the scaled array")
def unit_scale(to_unit: Callable[[np.ndarray], np.ndarray]) -> str:
    """A function mapping a raw 8- or 16-bit image to float32 on 0-1, as the kit reads dtypes."""
    from pneumolab import preprocess

    for name, image in films().items():
        got = _call(to_unit, image, name)
        expected = preprocess.to_0_255(image).numpy() / 255.0
        if got.shape != image.shape:
            raise _Hint(f"On {name} of shape {image.shape} your function returned shape {got.shape}: "
                        "scaling should keep the shape.")
        if got.dtype != np.float32:
            raise _Hint(f"Your function returns {got.dtype}; return float32, what TensorFlow computes in "
                        "(and half the memory of float64).")
        if np.allclose(got, expected, atol=1e-4):
            continue
        if got.max() > 1 + 1e-4 and image.dtype == np.uint16:
            raise _Hint(f"On {name} your values reach {got.max():.0f}: a 16-bit image's grey levels go up "
                        "to 65,535, not 255 (np.iinfo tells a dtype's range).")
        if np.allclose(got, image / image.max(), atol=1e-4):
            raise _Hint("You divided by this image's own brightest pixel: then one grey level means "
                        "something different on every film. The scale should depend on the dtype alone.")
        if np.isin(got, (0.0, 1.0)).all():
            raise _Hint("Your values are only 0 and 1: convert to float before dividing.")
        raise _Hint(f"On {name} your values differ from the expected 0-1 scale by up to "
                    f"{np.abs(got - expected).max():.3g}: 0 should stay 0 and the dtype's maximum become 1.")
    return "8-bit and 16-bit films both land on 0-1, as float32: one grey level, one value."


#: What :func:`preprocessing_chain` asks for, in words.
CHAIN = ("resize to size x size gray (preprocess.to_model_input), then CLAHE (preprocess.clahe), "
         "then standardize each image (preprocess.standardize_per_image)")


@_checker("preprocessing chain", "a function taking a raw image array and returning the prepared one")
def preprocessing_chain(prepare: Callable[[np.ndarray], np.ndarray], size: int = 128) -> str:
    """A function that turns any raw film into float32 ``(size, size, 1)``: resize, CLAHE, standardize."""
    from pneumolab import preprocess

    for name, image in films().items():
        got = _call(prepare, image, name)
        resized = preprocess.to_model_input(image, size, channels=1)
        expected = preprocess.standardize_per_image(preprocess.clahe(resized)).numpy()
        if got.shape != expected.shape:
            hints = {(size, size): "the channel axis is missing: the model wants (height, width, 1)",
                     (size, size, 3): "that is three channels: the scratch CNN takes one (gray)"}
            raise _Hint(f"On {name} of shape {image.shape} your function returned shape {got.shape}: "
                        f"{hints.get(got.shape, f'expected {expected.shape}: resize and make it gray')}.")
        if got.dtype != np.float32:
            raise _Hint(f"Your function returns {got.dtype}; return float32, what the model computes in.")
        if not np.isfinite(got).all():
            raise _Hint("Your result holds NaN or infinite values: a division by a zero spread?")
        mean, spread = float(got.mean()), float(got.std())
        if abs(mean) > 1e-2 or abs(spread - 1) > 1e-2:
            if got.min() >= 0 and got.max() > 1.5:
                raise _Hint("Your values run from 0 to 255: the last step, standardizing each image, "
                            "is missing.")
            if got.min() >= 0:
                raise _Hint("Your values run from 0 to 1: that is scaling, but the exercise asks to "
                            "standardize each image (mean 0, standard deviation 1).")
            if abs(mean) <= 1e-2 and spread < 1:
                raise _Hint(f"Your result is centred but nearly flat (standard deviation {spread:.2f}): "
                            "an earlier step wiped out the contrast. Run the steps in the order asked: "
                            f"{CHAIN}.")
            raise _Hint(f"Your result has mean {mean:.2f} and standard deviation {spread:.2f}; standardizing "
                        "gives mean 0 and standard deviation 1 per image.")
        if np.allclose(got, expected, atol=1e-3):
            continue
        if np.allclose(got, preprocess.standardize_per_image(resized).numpy(), atol=1e-3):
            raise _Hint("Shape and scale are right, but CLAHE is missing: the contrast step between resizing "
                        "and standardizing.")
        raise _Hint(f"Shape, type and scale are right, but on {name} the values differ from the chain asked "
                    f"for by up to {np.abs(got - expected).max():.2f}. The chain: {CHAIN}, in this order, "
                    "with default options.")
    return (f"any film, 8 or 16 bit, gray or RGB, comes out float32 {expected.shape}, contrast-enhanced, "
            "mean 0 and spread 1.")


# ---------------------------------------------------------------- lessons 03-04: models


@_checker("class weights", "a dict {0: weight of NORMAL, 1: weight of PNEUMONIA}")
def class_weights(answer: dict[int, float], labels: ArrayLike) -> str:
    """Weights that make each class count as much as the other in the loss (``train.class_weights``)."""
    from pneumolab import train

    labels = np.asarray(labels)
    reference = train.class_weights(labels)
    names = {index: name for index, name in enumerate(data.TASKS["binary"])}
    if isinstance(answer, list | tuple | np.ndarray | pd.Series):
        raise _Hint("Keras's class_weight wants a dict from class index to weight, {0: ..., 1: ...}; "
                    f"you gave {_describe(answer)}.")
    if isinstance(answer, Mapping) and set(map(str, answer)) & set(names.values()):
        raise _Hint("Use the class indices 0 (NORMAL) and 1 (PNEUMONIA) as keys, not the names: "
                    "they are what the labels hold.")
    given = _entries(answer, tuple(map(str, reference)), "the weights")
    weights = np.array([given[str(c)] for c in reference])
    expected = np.array(list(reference.values()))
    counts = np.bincount(labels, minlength=len(reference))
    if all(map(_matches, weights, expected)):
        return (", ".join(f"{names[c]} images weigh {w:.2f}" for c, w in reference.items())
                + ": each class now counts as much as the other in the loss.")
    if all(map(_matches, weights, expected[::-1])):
        raise _Hint("The weights are swapped: the rarer class (fewer images) needs the larger weight.")
    if all(map(_matches, weights, counts / len(labels))):
        raise _Hint("Those are the classes' shares of the images; a weight should grow as its class "
                    "gets rarer.")
    if np.allclose(weights, counts):
        raise _Hint("Those are the counts of images; a weight should grow as its class gets rarer.")
    if (weights > 0).all() and _matches(weights[0] / weights[1], expected[0] / expected[1]):
        raise _Hint("The ratio between the weights is right, but not their size: averaged over all "
                    "training images a weight should be 1, so the loss keeps its usual scale.")
    raise _Hint("Not quite: weight × number of images should come out the same for both classes, "
                "and the average weight over all training images should be 1.")


@_checker("layer output shape", "a tuple (height, width, channels) of whole numbers")
def layer_output_shape(answer: tuple[int, ...], model: keras.Model, layer: str) -> str:
    """The output shape of one layer of ``model`` for one image (without the batch axis)."""
    reference = tuple(model.get_layer(layer).output.shape[1:])
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        raise _Hint(f"Give the shape as a tuple of numbers, like (10, 10, 3); you gave {_describe(answer)}.")
    items = list(answer)
    if len(items) == len(reference) + 1 and (items[0] is None or items[0] == 1):
        raise _Hint("Leave out the batch axis (the leading None): the shape for one image is asked.")
    shape = tuple(_count(item, "Each side of the shape") for item in items)
    if shape == reference:
        return f"'{layer}' turns one image into a {' x '.join(map(str, reference))} block of features."
    if len(shape) != len(reference):
        raise _Hint(f"The output of '{layer}' has {len(reference)} axes (height, width, channels); you gave "
                    f"{len(shape)}.")
    if shape == (reference[-1], *reference[:-1]):
        raise _Hint("Keras puts channels last: (height, width, channels).")
    if shape[:-1] == reference[:-1]:
        raise _Hint("Height and width are right; the channels are not: a convolution outputs one feature "
                    "map per filter.")
    if shape[:-1] > reference[:-1]:
        raise _Hint("Height and width are too large: count every halving on the way, the stride-2 stem "
                    "and each max-pooling.")
    raise _Hint("Height and width are too small: 'same' padding keeps the size; only strides and "
                "pooling halve it.")


def _parameters(weights: list) -> int:
    return int(sum(np.prod(weight.shape) for weight in weights))


@_checker("parameter count", "a whole number of parameters")
def parameter_count(
    answer: int, model: keras.Model, layer: str | None = None, trainable_only: bool = False
) -> str:
    """Parameters of one layer of ``model``, or of all of it (``trainable_only``: those training updates)."""
    target = model.get_layer(layer) if layer else model
    weights = target.trainable_weights if trainable_only else target.weights
    reference = _parameters(weights)
    value = _count(answer, "The number of parameters")
    what = f"'{layer}'" if layer else "the model"
    if value == reference:
        kind = "trainable parameters" if trainable_only else "parameters"
        return f"{what} has {reference:,} {kind}."
    kernels = [weight for weight in weights if len(weight.shape) > 1]
    mistakes = {_parameters(kernels): "You left out the biases: one per filter or unit."}
    if layer and len(kernels) == len(weights) == 1:
        shape = tuple(kernels[0].shape)
        mistakes[reference + shape[-1]] = ("This layer has no bias (use_bias=False): the batch normalization "
                                           "after it supplies the shift.")
        if len(shape) == 4:
            mistakes[shape[0] * shape[1] * shape[3]] = ("Each filter looks at every input channel: the count "
                                                        "grows with the channels coming in too.")
            mistakes[int(np.prod(shape[:3]))] = "That is the size of one filter; the layer has several."
    if trainable_only:
        mistakes[_parameters(target.weights)] = (
            "That is every parameter; only the trainable ones change in training (frozen layers and "
            "batch-norm statistics stay fixed).")
    else:
        mistakes[_parameters(target.trainable_weights)] = (
            "That counts only trainable parameters; the question counts all, including batch-norm's "
            "moving averages and frozen layers.")
    raise _Hint(mistakes.get(value, f"Not quite: add up the weights of {what}, kernels and biases."))


def _all_layers(model: keras.Model) -> list:
    """Every layer of ``model``, inside nested models too."""
    found = []
    for layer in model.layers:
        found.append(layer)
        if hasattr(layer, "layers"):
            found.extend(_all_layers(layer))
    return found


def _binary_output(model: keras.Model, image_size: int, channels: int) -> None:
    """Hints unless ``model`` is a Keras model that gives one probability of pneumonia per image."""
    import keras

    if isinstance(model, type) or (callable(model) and not isinstance(model, keras.Layer)):
        raise _Hint("Pass the model itself: build it first (call your function or the class).")
    if not isinstance(model, keras.Model):
        raise _Hint(f"Pass a Keras model (keras.Sequential or keras.Model); you gave {_describe(model)}.")
    expected_input = (None, image_size, image_size, channels)
    try:
        model.input_shape  # noqa: B018 - a model without a known input has none to read
    except (AttributeError, ValueError):
        raise _Hint("Your model does not know its input yet: start it with keras.Input(shape=...).") from None
    if tuple(model.input_shape) != expected_input:
        gray = " The kit's X-rays are gray: 1 channel." if model.input_shape[-1] != channels else ""
        raise _Hint(f"Your model takes input of shape {tuple(model.input_shape)}; the kit's pipeline gives "
                    f"{expected_input}.{gray}")
    output = tuple(model.output_shape)
    if len(output) > 2:
        raise _Hint(f"Your model outputs shape {output}, still an image of features: pool them "
                    "(GlobalAveragePooling2D) before the last Dense layer.")
    if output != (None, 1):
        raise _Hint(f"Your model gives {output[-1]} numbers per image; the kit's loss wants one: the "
                    "probability of pneumonia.")
    activation = getattr(getattr(model.layers[-1], "activation", None), "__name__", None)
    if activation != "sigmoid":
        raise _Hint(f"The last layer's activation is {activation!r}: one unit needs 'sigmoid' to give a "
                    "probability between 0 and 1.")


@_checker("small CNN", "a Keras model")
def small_cnn(
    model: keras.Model, image_size: int = 128, channels: int = 1, max_parameters: int = 50_000
) -> str:
    """A binary CNN for the kit's images: a rescaling layer, two or more convolutions, one sigmoid unit."""
    from keras import layers

    _binary_output(model, image_size, channels)
    found = _all_layers(model)
    convolutions = [layer for layer in found if isinstance(layer, layers.Conv2D)]
    if len(convolutions) < 2:
        raise _Hint(f"Your model has {len(convolutions)} convolution layer(s); the exercise asks for "
                    "at least two.")
    if not any(isinstance(layer, layers.Rescaling | layers.Normalization) for layer in found):
        raise _Hint("The pipeline feeds values of 0-255: scale them inside the model (layers.Rescaling), "
                    "so the panel can feed raw images too.")
    total = model.count_params()
    if total > max_parameters:
        biggest = max(model.layers, key=lambda layer: layer.count_params())
        raise _Hint(f"{total:,} parameters, more than {max_parameters:,}: {biggest.count_params():,} sit in "
                    f"'{biggest.name}'. Flattening a feature map multiplies the weights of the next Dense "
                    "layer; global average pooling does not.")
    blank = np.zeros((2, image_size, image_size, channels), np.float32)
    probabilities = np.asarray(model(blank, training=False))
    if probabilities.shape != (2, 1) or not np.isfinite(probabilities).all():
        raise _Hint(f"On a batch of two blank images your model gave {probabilities.shape}, "
                    "not one probability each.")
    return (f"{len(convolutions)} convolution layers, {total:,} parameters, one probability out: "
            "ready for train.fit.")


@_checker("frozen backbone with a new head", "a Keras model built on the backbone")
def frozen_transfer_model(model: keras.Model, backbone: keras.Model) -> str:
    """A gray-image model on the frozen ``backbone`` whose only trainable part is one new sigmoid unit."""
    _binary_output(model, backbone.input_shape[1], 1)
    if not {id(weight) for weight in backbone.weights} <= {id(weight) for weight in model.weights}:
        raise _Hint("Your model does not contain the pretrained backbone you were given: call it on the "
                    "model's (RGB) input, e.g. backbone(rgb).")
    if backbone.trainable_weights:
        changing = _parameters(backbone.trainable_weights)
        raise _Hint(f"The backbone is still trainable ({changing:,} parameters would change): freeze it "
                    "(backbone.trainable = False) so only the new head learns.")
    trainable = _parameters(model.trainable_weights)
    features = backbone.output_shape[-1]
    if trainable == 0:
        raise _Hint("Nothing in your model can learn: the new head is frozen too.")
    if trainable != features + 1:
        raise _Hint(f"{trainable:,} trainable parameters; one sigmoid unit on the backbone's {features} "
                    "pooled features needs fewer. Pool the feature map (GlobalAveragePooling2D) rather than "
                    "flattening it, and add only Dropout and the Dense unit.")
    return (f"only the new head learns ({trainable:,} parameters); the "
            f"{_parameters(backbone.weights):,} of the ImageNet backbone stay as they are.")


# ---------------------------------------------------------------- lesson 05: thresholds


_CELLS = ("TN", "FP", "FN", "TP")


@_checker("confusion matrix", "a dict {'TN': ..., 'FP': ..., 'FN': ..., 'TP': ...}")
def confusion_counts(answer: dict[str, int], y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> str:
    """The four cells of the confusion matrix at ``threshold``, read by the student."""
    reference = dict(zip(_CELLS, evaluate.metrics_at(y_true, y_prob, threshold)["confusion_matrix"].ravel(),
                         strict=True))
    given = _entries(answer, _CELLS, "the four counts", read=_count)
    if given == reference:
        return (f"{reference['TP']} pneumonias caught, {reference['FN']} missed, "
                f"{reference['FP']} false alarms and {reference['TN']} normal images cleared.")
    if sum(given.values()) != sum(reference.values()):
        raise _Hint(f"Your four counts add up to {sum(given.values())}, but there are "
                    f"{sum(reference.values())} images: each lands in exactly one cell.")

    def swapped(*pairs: tuple[str, str]) -> dict[str, int]:
        swaps = {a: b for pair in pairs for a, b in (pair, pair[::-1])}
        return {key: reference[swaps.get(key, key)] for key in _CELLS}

    if given == swapped(("FP", "FN")):
        raise _Hint("False positives and false negatives are swapped: a false POSITIVE is a false alarm, a "
                    "NORMAL image called PNEUMONIA. Rows are the truth, columns the prediction.")
    if given == swapped(("TN", "TP")):
        raise _Hint("TN and TP are swapped: 'positive' means predicted PNEUMONIA.")
    if given == swapped(("FP", "FN"), ("TN", "TP")):
        raise _Hint("Positive means PNEUMONIA here: a true positive is a pneumonia the model caught.")
    raise _Hint("Not quite: in the figure, rows are the true class and columns the prediction; "
                "find each of the four cells there.")


@_checker("recall and specificity", "a dict {'recall': ..., 'specificity': ...} of fractions")
def recall_specificity(
    answer: dict[str, float], y_true: ArrayLike, y_prob: ArrayLike, threshold: float
) -> str:
    """Recall (sensitivity) and specificity at ``threshold``, computed by the student."""
    found = evaluate.metrics_at(y_true, y_prob, threshold)
    (tn, _), (fn, _) = found["confusion_matrix"]
    recall, specificity = _entries(answer, ("recall", "specificity"), "the two rates").values()
    if _matches(recall, found["recall"]) and _matches(specificity, found["specificity"]):
        return (f"the model catches {recall:.1%} of pneumonia and clears {specificity:.1%} of normal "
                f"images at threshold {threshold:g}.")
    if _matches(recall / 100, found["recall"]) or _matches(specificity / 100, found["specificity"]):
        raise _Hint("Those look like percentages: give fractions between 0 and 1 (95 % is 0.95).")
    if _matches(recall, found["specificity"]) and _matches(specificity, found["recall"]):
        raise _Hint("Recall and specificity are swapped: recall is about the pneumonia images, specificity "
                    "about the normal ones.")
    if not _matches(recall, found["recall"]):
        if _matches(recall, found["precision"]):
            raise _Hint("Your recall is the precision, the share of alarms that are right. Recall divides "
                        "the caught pneumonias by ALL pneumonia images.")
        raise _Hint("Recall is not right yet: of all images that truly show pneumonia, which share "
                    "is caught?")
    if tn + fn and _matches(specificity, tn / (tn + fn)):
        raise _Hint("Your specificity divides by the images predicted NORMAL; specificity divides the "
                    "correctly cleared images by ALL truly normal images.")
    if _matches(specificity, 1 - found["specificity"]):
        raise _Hint("That is the share of normal images flagged as pneumonia (false alarms); specificity "
                    "counts the other ones.")
    raise _Hint("Specificity is not right yet: of all truly normal images, which share is called normal?")


@_checker("threshold for a target recall", "a threshold between 0 and 1")
def threshold_for_recall(answer: float, y_true: ArrayLike, y_prob: ArrayLike, target: float = 0.95) -> str:
    """The highest threshold with recall >= ``target`` on (validation) data: ``evaluate.choose_threshold``."""
    value = _number(getattr(answer, "threshold", answer), "The threshold")
    if not 0 <= value <= 1:
        raise _Hint(f"{value:g} cannot cut probabilities: a threshold lies between 0 and 1.")
    reference = evaluate.choose_threshold(y_true, y_prob, "recall", target=target)
    found = evaluate.metrics_at(y_true, y_prob, value)
    fp = int(found["confusion_matrix"][0, 1])
    if np.array_equal(found["confusion_matrix"], reference.metrics["confusion_matrix"]):
        return (f"at {value:.3g} the model catches {found['recall']:.1%} of pneumonia (target {target:.0%}) "
                f"with {fp} false alarms; no higher threshold reaches the target.")
    if found["recall"] < target:
        default = " 0.5 is only a default, not a choice." if value == 0.5 else ""
        raise _Hint(f"At {value:.3g} the model catches {found['recall']:.1%} of pneumonia, below the "
                    f"{target:.0%} asked: a lower threshold flags more images.{default}")
    raise _Hint(f"Recall {found['recall']:.1%} meets the target, but with {fp} false alarms: a higher "
                "threshold still meets it with fewer. Look for the highest such threshold.")

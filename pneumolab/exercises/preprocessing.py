"""Lesson 02 checkers, preprocessing: a student's 0-1 scaling and preprocessing chain, run on test films."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pneumolab import config
from pneumolab.exercises._core import _checker, _Hint, _run


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
    result = _run(function, image.copy(), on=f"{name} {image.shape} {image.dtype}")
    if result is None:
        raise _Hint("Your function returned None: did you forget the `return`?")
    return np.asarray(result)


@_checker("0-1 scale", "a function taking an image array and returning the scaled array")
def unit_scale(to_unit: Callable[[np.ndarray], np.ndarray]) -> str:
    """A function mapping a raw 8- or 16-bit image to float32 on 0-1, as the kit reads dtypes."""
    from pneumolab.preprocess import transforms as preprocess

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
    from pneumolab.preprocess import transforms as preprocess

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
        _check_order(got, resized)
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


def _check_order(got: np.ndarray, resized: np.ndarray) -> None:
    """Hints when ``got`` is the chain with CLAHE and standardizing swapped: both steps, wrong order."""
    from pneumolab.preprocess import transforms as preprocess

    swapped = np.asarray(preprocess.clahe(preprocess.standardize_per_image(resized)), np.float32)
    if got.shape == swapped.shape and np.allclose(got, swapped, atol=1e-3):
        raise _Hint("Both steps are there, but in the wrong ORDER: you standardized first and applied CLAHE "
                    "after it, so CLAHE rescaled the standardized values back to its own range. Standardize "
                    f"last. The chain: {CHAIN}.")

"""Lesson 06 checkers, explainability: the border share of a heat map, a planted marker and what it moves.

The exercises plant a fake side marker (a bright square) in a corner of normal films and measure how
P(pneumonia) and the share of the Grad-CAM map near the image's edges move. They use the reference model
that ships with the package, so nothing is trained. TensorFlow is imported only by :func:`marker_effect`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from pneumolab.exercises._core import _checker, _describe, _entries, _Hint, _matches, _run

if TYPE_CHECKING:
    import keras

#: Where the marker goes (rows, columns of the model input) and its grey level: a 16 x 16 square near the
#: top-left corner, as bright as the scale allows, like a burnt-in "R".
MARKER = (slice(8, 24), slice(8, 24))
MARKER_LEVEL = 255.0


def plant(images: np.ndarray) -> np.ndarray:
    """A copy of a batch ``(N, H, W, C)`` on a 0-255 scale with the :data:`MARKER` square painted in."""
    marked = np.array(images, dtype=np.float32, copy=True)
    marked[(slice(None), *MARKER)] = MARKER_LEVEL
    return marked


def _maps() -> dict[str, np.ndarray]:
    """Heat maps with known border shares: even, centred, in a corner, on a wide image, and all zero."""
    rows, cols = np.mgrid[0:60, 0:60] / 60
    wide_rows, wide_cols = np.mgrid[0:40, 0:100] / np.array([40, 100])[:, None, None]
    return {
        "an even map": np.ones((60, 60)),
        "a map peaking in the centre": np.exp(-((rows - 0.5) ** 2 + (cols - 0.5) ** 2) / 0.02),
        "a map peaking in the top-left corner": np.exp(-(rows**2 + cols**2) / 0.05),
        "a map peaking at the left edge of a wide image":
            np.exp(-((wide_rows - 0.5) ** 2 + wide_cols**2) / 0.05),
    }


@_checker("border share", "a function border_share(heat, margin) returning a fraction")
def border_share(share: Callable[[np.ndarray, float], float]) -> str:
    """A function giving the share of a 2-D map's heat within ``margin`` of its four edges."""
    from pneumolab.explain import measures

    for margin in (0.1, 0.2):
        for name, heat in _maps().items():
            got = _run(share, heat.copy(), margin, on=f"{name} {heat.shape}, margin {margin}")
            try:
                value = float(np.asarray(got))
            except (TypeError, ValueError):
                raise _Hint(f"Your function should return one number; on {name} it returned "
                            f"{_describe(got)}.") from None
            _compare_share(value, heat, margin, name)
    even = measures.border_share(np.ones((60, 60)))
    return f"your band agrees with explain.border_share on any map and margin (an even map: {even:.0%})."


def _compare_share(value: float, heat: np.ndarray, margin: float, name: str) -> None:
    """Hints unless ``value`` is the border share of ``heat`` (the map called ``name``) at ``margin``."""
    from pneumolab.explain import measures

    expected = measures.border_share(heat, margin)
    if _matches(value, expected):
        return
    if margin != 0.1 and _matches(value, measures.border_share(heat, 0.1)):
        raise _Hint(f"Right for margin 0.1, not for margin {margin}: use the `margin` argument rather than "
                    "a fixed band.")
    if _matches(value, 1 - expected):
        raise _Hint(f"On {name} you gave the share INSIDE the band ({value:.2f}); the question is the share "
                    "in the band near the edges.")
    even = 1 - (1 - 2 * margin) ** 2
    if _matches(value, even) and not _matches(expected, even):
        raise _Hint(f"You gave {value:.2f} on {name} too: that is the band's share of the AREA. Weigh each "
                    "pixel by its heat: the band's heat divided by the whole map's heat.")
    if heat.shape[0] != heat.shape[1]:
        raise _Hint(f"Right on square maps, not on {name} of shape {heat.shape}: take the band's rows from "
                    "the height and its columns from the width.")
    raise _Hint(f"On {name} you gave {value:.3f}. The band is `margin` of the side wide on ALL FOUR edges: "
                "add up the heat inside the inner rectangle, divide by the total, and take the rest.")


@_checker("planted marker", "a function taking a batch of images and returning a marked copy")
def planted_marker(plant_marker: Callable[[np.ndarray], np.ndarray], images: np.ndarray) -> str:
    """A function painting the 16 x 16 marker into a COPY of every image of a batch, leaving the rest."""
    images = np.asarray(images, np.float32)
    given = images.copy()
    got = _run(plant_marker, given, on=f"a batch of shape {images.shape}")
    if got is None:
        raise _Hint("Your function returned None: did you forget the `return`?")
    if not np.array_equal(given, images):
        raise _Hint("Your function painted into the images it was given: mark a COPY (np.array(images) or "
                    "images.copy()), so the unmarked images stay for the comparison.")
    got = np.asarray(got)
    if got.shape != images.shape:
        raise _Hint(f"You returned shape {got.shape}; the batch has shape {images.shape}: return every "
                    "image, marked.")
    expected = plant(images)
    if np.allclose(got, expected):
        return (f"{len(images)} images marked in their top-left corner, the originals untouched.")
    changed = ~np.isclose(got, images).all(axis=(0, 3))
    square = np.zeros(changed.shape, bool)
    square[MARKER] = True
    if (changed & ~square).any() and not (changed & square).any():
        raise _Hint("Your square is in the wrong place: rows 8 to 23 and columns 8 to 23, the top-left "
                    "corner (image[8:24, 8:24] of each image).")
    if not np.allclose(got[1:], expected[1:]) and np.allclose(got[:1], expected[:1]):
        raise _Hint("Only the first image is marked: mark every image of the batch (the first axis).")
    inside = got[(slice(None), *MARKER)]
    if changed[MARKER].all() and not np.allclose(inside, MARKER_LEVEL):
        raise _Hint(f"The square is in the right place, but its value is {float(inside.max()):g}: the model "
                    f"input is on a 0-255 scale, so the brightest white is {MARKER_LEVEL:g}.")
    raise _Hint("The square is not exactly image[8:24, 8:24] (16 x 16 pixels, every channel) on each "
                "image: check the slice ends, Python's end is exclusive.")


def _close(value: float, reference: float) -> bool:
    """Equal up to float noise (1 %, or 0.0001 absolute): the changes can be far smaller than 0.01, so the
    two-decimal tolerance of the other checkers would accept a 0 for them."""
    return math.isclose(value, reference, rel_tol=0.01, abs_tol=1e-4)


@_checker("what the marker moves", "a dict {'probability': ..., 'border share': ...} of mean changes")
def marker_effect(answer: dict[str, float], model: keras.Model, images: np.ndarray) -> str:
    """Mean change, marked minus unmarked, of P(pneumonia) and of the Grad-CAM border share on ``images``."""
    from pneumolab.explain import gradcam, measures

    given = _entries(answer, ("probability", "border share"), "the two changes")
    images = np.asarray(images, np.float32)
    marked = plant(images)
    probability = [np.asarray(model(batch, training=False))[:, -1] for batch in (images, marked)]
    share = [measures.border_share(gradcam.grad_cam(model, batch)) for batch in (images, marked)]
    expected = {"probability": float(np.mean(probability[1] - probability[0])),
                "border share": float(np.nanmean(share[1] - share[0]))}
    if all(_close(given[key], expected[key]) for key in expected):
        moved = "rose" if expected["probability"] > 0 else "fell"
        return (f"on average P(pneumonia) {moved} by {abs(expected['probability']):.3f} and the border share "
                f"moved by {expected['border share']:+.2f} when a bright square appeared in a corner.")
    key = next(key for key in expected if not _close(given[key], expected[key]))
    if _close(given[key], -expected[key]):
        raise _Hint(f"The sign of the {key} change is flipped: take marked minus unmarked, so a rise "
                    "is positive.")
    if _close(given[key] / 100, expected[key]):
        raise _Hint(f"The {key} change looks like percentage points: give it as a fraction.")
    before, after = probability if key == "probability" else share
    if _close(given[key], float(np.nanmean(np.abs(after - before)))):
        raise _Hint(f"That is the mean SIZE of the {key} change; keep the sign (marked minus unmarked) "
                    "so rises and falls can cancel.")
    if _close(given[key], float(np.nanmean(after))) or _close(given[key], float(np.nanmean(before))):
        raise _Hint(f"That is the mean {key} of one set of images; the question is the change between "
                    "the marked and unmarked images.")
    what = ("P(pneumonia), the model's output for each image" if key == "probability"
            else "explain.border_share of explain.grad_cam's maps")
    raise _Hint(f"The {key} change is not right yet: compute {what}, for the unmarked and the marked "
                "images, and average the differences.")

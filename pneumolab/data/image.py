"""What reading an image gives, and how it is refused: shared by the one reader and its DICOM part.

:class:`LoadedImage` is the pixels with what the reader did and what the user
should know; :class:`ImageError` is a refusal with a message a student can act
on; :data:`MAX_PIXELS` bounds every image, whatever its format; :func:`to_uint8`
maps a range of values (16-bit, or a DICOM window) to 0-255.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Largest image accepted, in pixels: a large detector plate is about 3000 x 3000 (9 MP).
MAX_PIXELS = 40_000_000


class ImageError(ValueError):
    """A file that cannot be used as a chest X-ray, with a message a student can act on."""


@dataclass(frozen=True)
class LoadedImage:
    """Pixels read from a file, with what the reader had to do and what the user should know."""

    #: uint8 ``(H, W, C)``, upright, 0 = black.
    pixels: np.ndarray
    #: ``JPEG``, ``PNG``, ``MPO`` or ``DICOM``.
    format: str
    #: Width and height of the full image, upright (``pixels`` is smaller when read with ``draft``).
    size: tuple[int, int]
    #: The file's colour model: a Pillow mode (``L``, ``RGB``, ``CMYK``, ``I;16``) or DICOM's photometric one.
    mode: str
    #: What the reader did on the way (e.g. "first of 3 frames used", "scaled from 12 bits").
    notes: tuple[str, ...] = ()
    #: Why the image is not a chest film as the model knows it (tiny, blank, extreme shape); shown beside
    #: any answer.
    warnings: tuple[str, ...] = ()


def too_large(width: int, height: int) -> ImageError:
    """The refusal of an image over :data:`MAX_PIXELS`, in words a student can act on."""
    return ImageError(
        f"The image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); the limit is "
        f"{MAX_PIXELS / 1e6:.0f} megapixels. A chest X-ray is much smaller: reduce it and try again."
    )


def to_uint8(values: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Map ``window`` (default: the image's own min and max) linearly to 0-255."""
    low, high = window if window is not None else (float(values.min()), float(values.max()))
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    return np.round(scaled).astype(np.uint8)

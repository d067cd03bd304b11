"""The one image reader: every file the kit decodes, for training, ``pneumolab predict`` and the panel.

The data check (:func:`pneumolab.data.manifest.build_manifest`), the training and
scoring pipelines (:mod:`pneumolab.preprocess.pipeline`), ``pneumolab predict`` and the
panel all read files through :func:`load_image`, so a model is shown exactly
the pixels it was trained on, whatever the file: a phone photo of a film
(turned upright as its EXIF orientation tag says), a CMYK JPEG (converted to
gray), 12-bit values in a 16-bit PNG (scaled by the bits actually used), a
camera's multi-picture JPEG (MPO, first picture), a DICOM file with or
without its 128-byte preamble.

Reading refuses, with a plain-language :class:`ImageError`, anything a
student might drop on the page by mistake: an empty or damaged file, a
document, a format the kit does not read, an image too large to be a chest
X-ray (its size is checked in the header, before any pixel is decoded, so a
small file that would expand to gigabytes cannot exhaust memory). An image
that can be read but is not a chest film as the model knows it (tiny, blank,
a long strip) is read with a warning beside it.

Uses Pillow, NumPy and pydicom only: no TensorFlow, so a data check or a
light runtime can read images without loading it.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
from PIL import Image, ImageOps

from pneumolab.data.dicom import looks_like_dicom, read_dicom
from pneumolab.data.image import MAX_PIXELS, ImageError, LoadedImage, to_uint8, too_large

#: Shorter sides below this get a warning: PneumoniaMNIST's 28 px are the smallest films the kit knows.
MIN_SIDE = 28
#: Longer side over shorter side above this gets a warning: chest films are about square (0.7 to 1.4).
MAX_ASPECT = 3.0
#: An image whose grey levels (0-255) all lie within this many of each other counts as blank.
BLANK_LEVELS = 2
#: Put before a :attr:`LoadedImage.warnings` entry shown beside a model's answer.
NOT_A_FILM = "not a chest X-ray as the model knows it, so its answer means little"

_READABLE = ("JPEG", "PNG", "MPO")

# Pillow warns about images over 89 megapixels; the kit refuses anything over MAX_PIXELS (40) in its own
# words, so the warning would only repeat it in Pillow's. A filter, not catch_warnings: the reader runs
# in many threads at once (data check, tf.data), and catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_ORIENTATION_TAG = 0x0112
#: EXIF orientations that flip or turn the image; those that turn it a quarter turn (width and height swap).
_TURNS = (2, 3, 4, 5, 6, 7, 8)
_QUARTER_TURNS = (5, 6, 7, 8)


def read_image(content: bytes, name: str = "", channels: int | None = None) -> np.ndarray:
    """Pixels of a JPEG, PNG or DICOM file as uint8 ``(H, W, C)``; raises :class:`ImageError`.

    ``channels`` 1 or 3 converts as training does (pass the model card's
    value); ``None`` keeps gray files gray and colour files colour.
    """
    return load_image(content, name, channels).pixels


def load_image(
    content: bytes, name: str = "", channels: int | None = None, *, draft: int | None = None
) -> LoadedImage:
    """Like :func:`read_image`, with the format, size, notes and warnings.

    ``draft`` lets a JPEG decode at a reduced scale whose shorter side is still
    at least ``draft`` pixels: several times faster, for checking a data set
    (the result is not the training input, which is always read in full).
    """
    if channels not in (None, 1, 3):
        raise ValueError(f"channels must be 1, 3 or None, got {channels}.")
    content = bytes(content)
    if not content:
        raise ImageError("The file is empty (0 bytes). Was the upload interrupted?")
    if looks_like_dicom(content, name):
        image = read_dicom(content)
    else:
        image = _read_pillow(content, name, channels, draft)
    pixels = _with_channels(image.pixels, channels)
    return LoadedImage(pixels, image.format, image.size, image.mode, image.notes,
                       _not_a_film(pixels, image.size))


def _bomb() -> ImageError:
    """Pillow's decompression-bomb guard tripped (over twice its limit): our own words, not Pillow's."""
    return ImageError(
        f"The image claims to be over {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} megapixels (the limit is "
        f"{MAX_PIXELS / 1e6:.0f}): far too large to be a chest X-ray, and decoding it could exhaust the "
        "computer's memory. It was not decoded."
    )


def _read_pillow(content: bytes, name: str, channels: int | None, draft: int | None) -> LoadedImage:
    """JPEG, PNG or MPO: header checks first, then the first frame, upright, as uint8."""
    try:
        image = Image.open(io.BytesIO(content))
    except Image.DecompressionBombError:
        raise _bomb() from None
    except Exception:  # Pillow raises many types for garbage; all mean "not an image we know"
        if name.lower().endswith(".dcm"):
            raise ImageError(
                "The file is named .dcm but is not a DICOM file: it has no 'DICM' marker (at byte 128, "
                "after the preamble, or at the start) and does not begin with DICOM data elements."
            ) from None
        raise ImageError(
            "This file is not an image PneumoLab can read: use a JPEG, PNG or DICOM (.dcm) file."
        ) from None
    with image:
        kind, mode, (width, height) = image.format, image.mode, image.size
        if kind not in _READABLE:
            raise ImageError(f"This is a {kind} image; the kit reads JPEG, PNG and DICOM. "
                             "Save it as PNG first.")
        if width * height > MAX_PIXELS:
            raise too_large(width, height)
        frames = getattr(image, "n_frames", 1)
        try:
            if kind != "PNG":  # libjpeg can decode straight to gray, and (for a data check) at reduced scale
                image.draft("L" if channels == 1 else None, (draft, draft) if draft else (width, height))
            image.load()
            orientation = _orientation(image)
            upright = ImageOps.exif_transpose(image) if orientation in _TURNS else image
            pixels, notes = _to_uint8_array(upright, channels)
        except Exception:  # truncated data, bad checksums, broken compressed streams
            raise ImageError(
                f"This {kind} file is damaged or incomplete (truncated?) and cannot be decoded. "
                "Try exporting it again."
            ) from None
    if orientation in _TURNS:
        notes.insert(0, "Turned upright as the file's orientation tag (EXIF, set by phones) says.")
    if frames > 1:
        what = f"{frames} pictures (a camera's MPO file)" if kind == "MPO" else f"{frames} frames"
        notes.append(f"The file holds {what}; the first one is used.")
    size = (height, width) if orientation in _QUARTER_TURNS else (width, height)
    return LoadedImage(pixels, kind, size, mode, tuple(notes))


def _orientation(image: Image.Image) -> int | None:
    try:
        return image.getexif().get(_ORIENTATION_TAG)
    except Exception:  # a malformed EXIF block is ignored, as exif_transpose ignores it
        return None


def _to_uint8_array(image: Image.Image, channels: int | None) -> tuple[np.ndarray, list[str]]:
    """Pixels as uint8 ``(H, W)`` gray or ``(H, W, 3)`` colour, and what was done to get them.

    Gray when the file is gray or ``channels`` is 1 (Pillow's ITU-R 601 luma), converted once.
    """
    notes: list[str] = []
    if image.mode.startswith("I") or image.mode == "F":
        return _scale_high_bit_depth(np.asarray(image), notes), notes
    if image.mode == "CMYK":
        notes.append("The file's colours are CMYK (a print format); converted to gray.")
        return np.asarray(image.convert("L")), notes
    target = "L" if channels == 1 or image.mode in _GRAY_MODES else "RGB"
    return np.asarray(image if image.mode == target else image.convert(target)), notes


def _scale_high_bit_depth(values: np.ndarray, notes: list[str]) -> np.ndarray:
    """16-bit (or 32-bit) gray values to uint8, by the bits actually used.

    A DICOM export often stores 12-bit values (0-4095) in a 16-bit PNG; read
    as 16 bits, the film would be almost black (at most 15 of 255).
    """
    values = values.astype(np.float64)
    top = float(values.max()) if values.size else 0.0
    bits = next((b for b in (8, 10, 12, 14, 16) if top < 2**b), None)
    if bits is None or values.min() < 0:
        notes.append("The file's values exceed 16 bits; scaled from their own minimum and maximum.")
        return to_uint8(values, None)
    if bits < 16:
        notes.append(f"The 16-bit file uses only {bits} bits (values up to {top:.0f}); scaled from "
                     f"0-{2**bits - 1} to 0-255.")
    return to_uint8(values, (0.0, float(2**bits - 1)))


def _with_channels(pixels: np.ndarray, channels: int | None) -> np.ndarray:
    """uint8 ``(H, W, channels)``: gray repeated to RGB, or RGB to gray as Pillow does (ITU-R 601 luma)."""
    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    if channels is None:
        channels = 1 if pixels.ndim == 2 else 3
    if pixels.ndim == 2:
        return pixels[..., np.newaxis] if channels == 1 else np.stack([pixels] * 3, axis=-1)
    if channels == 3:
        return pixels
    return np.asarray(Image.fromarray(pixels, "RGB").convert("L"))[..., np.newaxis]


def _not_a_film(pixels: np.ndarray, size: tuple[int, int]) -> tuple[str, ...]:
    """Why an image is unlike any chest film a model here was trained on (none: an empty tuple)."""
    width, height = size
    found = []
    if min(width, height) < MIN_SIDE:
        found.append(f"Only {width} x {height} pixels: too small for a chest X-ray (the smallest the kit "
                     f"knows are {MIN_SIDE} x {MIN_SIDE}).")
    ratio = max(width, height) / max(1, min(width, height))
    if ratio > MAX_ASPECT:
        found.append(f"{width} x {height} pixels, {ratio:.0f} times longer than wide: not the shape of a "
                     "chest X-ray (squashed to a square, it looks like nothing a model was trained on).")
    step = max(1, max(pixels.shape[:2]) // 512)  # a sample is enough to tell a blank image, and fast
    sample = pixels[::step, ::step]
    if int(sample.max()) - int(sample.min()) <= BLANK_LEVELS:
        found.append("The image is blank (every pixel the same grey): there is nothing to see.")
    return tuple(found)

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
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

#: Largest image accepted, in pixels: a large detector plate is about 3000 x 3000 (9 MP).
MAX_PIXELS = 40_000_000
#: Shorter sides below this get a warning: PneumoniaMNIST's 28 px are the smallest films the kit knows.
MIN_SIDE = 28
#: Longer side over shorter side above this gets a warning: chest films are about square (0.7 to 1.4).
MAX_ASPECT = 3.0
#: An image whose grey levels (0-255) all lie within this many of each other counts as blank.
BLANK_LEVELS = 2
#: Put before a :attr:`LoadedImage.warnings` entry shown beside a model's answer.
NOT_A_FILM = "not a chest X-ray as the model knows it, so its answer means little"

_DICOM_MARKER = b"DICM"
_PREAMBLE = 128
#: First tags of a DICOM stream that lost its preamble: the file meta group (0002) or a data set (0008).
_BARE_DICOM_STARTS = (b"\x02\x00", b"\x08\x00")
#: The file meta group's length element, (0002,0000) UL: unmistakably DICOM, whatever the file's name.
_META_GROUP_LENGTH = b"\x02\x00\x00\x00UL"
_READABLE = ("JPEG", "PNG", "MPO")
#: ``warnings.catch_warnings`` is process-wide: DICOM reads, which record pydicom's warnings, take turns.
_DICOM_LOCK = threading.Lock()

# Pillow warns about images over 89 megapixels; the kit refuses anything over MAX_PIXELS (40) in its own
# words, so the warning would only repeat it in Pillow's. A filter, not catch_warnings: the reader runs
# in many threads at once (data check, tf.data), and catch_warnings is not thread-safe.
warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_ORIENTATION_TAG = 0x0112
#: EXIF orientations that flip or turn the image; those that turn it a quarter turn (width and height swap).
_TURNS = (2, 3, 4, 5, 6, 7, 8)
_QUARTER_TURNS = (5, 6, 7, 8)


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
    if content[_PREAMBLE : _PREAMBLE + 4] == _DICOM_MARKER:
        image = _read_dicom(content)
    elif content.startswith((_DICOM_MARKER, _META_GROUP_LENGTH)) or (
        content.startswith(_BARE_DICOM_STARTS) and name.lower().endswith(".dcm")
    ):
        image = _read_bare_dicom(content)
    else:
        image = _read_pillow(content, name, channels, draft)
    pixels = _with_channels(image.pixels, channels)
    return LoadedImage(pixels, image.format, image.size, image.mode, image.notes,
                       _not_a_film(pixels, image.size))


def _too_large(width: int, height: int) -> ImageError:
    return ImageError(
        f"The image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); the limit is "
        f"{MAX_PIXELS / 1e6:.0f} megapixels. A chest X-ray is much smaller: reduce it and try again."
    )


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
            raise _too_large(width, height)
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
        return _to_uint8(values, None)
    if bits < 16:
        notes.append(f"The 16-bit file uses only {bits} bits (values up to {top:.0f}); scaled from "
                     f"0-{2**bits - 1} to 0-255.")
    return _to_uint8(values, (0.0, float(2**bits - 1)))


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


# ----------------------------------------------------------------------------- DICOM


def _read_bare_dicom(content: bytes) -> LoadedImage:
    """A DICOM stream without the 128-byte preamble (and perhaps without the 'DICM' marker or file meta).

    The missing parts are put back where they are certain (a file meta group
    that is present); a bare data set is read with pydicom's ``force=True``
    only because it starts with a DICOM tag, and only if it holds an image.
    """
    if content.startswith(_DICOM_MARKER):
        image = _read_dicom(bytes(_PREAMBLE) + content)
        note = "The DICOM file lacks its 128-byte preamble; read without it."
    elif content.startswith(b"\x02\x00"):  # file meta group, without preamble and marker
        image = _read_dicom(bytes(_PREAMBLE) + _DICOM_MARKER + content)
        note = "The DICOM file lacks its 128-byte preamble and 'DICM' marker; read without them."
    else:
        image = _read_dicom(content, bare=True)
        note = ("The DICOM file has no preamble, 'DICM' marker or file meta information; read as a bare "
                "data set in uncompressed little-endian encoding.")
    return LoadedImage(image.pixels, image.format, image.size, image.mode, (note, *image.notes))


def _read_dicom(content: bytes, bare: bool = False) -> LoadedImage:
    """The first frame of a DICOM file, in display values (rescaled, windowed, 0 = black), as uint8."""
    import pydicom
    from pydicom import pixels as dicom_pixels
    from pydicom import uid

    damaged = ImageError("This DICOM file is damaged: its header cannot be read.")
    try:
        # pydicom warns where it had to guess: recorded, they tell a damaged header from a report
        with _DICOM_LOCK, warnings.catch_warnings(record=True) as complaints:
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(io.BytesIO(content), force=bare)
    except Exception:  # pydicom raises many types for damaged headers
        raise damaged from None
    if bare:
        if not all(keyword in dataset for keyword in ("Rows", "Columns", "PixelData")):
            raise ImageError(
                "The file is named .dcm and starts like DICOM data, but has no 128-byte preamble, no 'DICM' "
                "marker and no readable image (no Rows, Columns and PixelData elements)."
            )
        implicit, little = dataset.original_encoding
        if not little:
            raise ImageError("This bare DICOM data set is big-endian, which the kit cannot read: "
                             "export it as a standard DICOM file.")
        dataset.file_meta = pydicom.dataset.FileMetaDataset()
        syntax = uid.ImplicitVRLittleEndian if implicit else uid.ExplicitVRLittleEndian
        dataset.file_meta.TransferSyntaxUID = syntax
    if "PixelData" not in dataset:
        if complaints:
            raise damaged
        raise ImageError(
            "This DICOM file holds no image (no pixel data): it may be a report or a study summary, "
            "or the file was cut short."
        )
    rows, columns = int(dataset.get("Rows", 0) or 0), int(dataset.get("Columns", 0) or 0)
    if rows * columns > MAX_PIXELS:
        raise _too_large(columns, rows)
    photometric = str(dataset.get("PhotometricInterpretation", "MONOCHROME2"))
    if not (photometric.startswith("MONOCHROME") or photometric.startswith(("RGB", "YBR"))):
        raise ImageError(f"DICOM images in {photometric} colour encoding are not supported.")
    try:
        raw = dicom_pixels.pixel_array(dataset, index=0)
    except Exception:  # damaged data, or a compression no installed plugin decodes
        syntax = dataset.file_meta.get("TransferSyntaxUID")
        what = syntax.name if syntax is not None else "unknown encoding"
        raise ImageError(
            f"The DICOM pixel data cannot be decoded ({what}): the file is damaged or compressed "
            "in a way this kit cannot read. Export it uncompressed and try again."
        ) from None
    values = dicom_pixels.apply_rescale(raw, dataset).astype(np.float64)
    pixels = _to_uint8(values, _window(dataset) if photometric.startswith("MONOCHROME") else None)
    if photometric == "MONOCHROME1":  # stored with 0 = white
        pixels = 255 - pixels
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    notes = (f"The DICOM file holds {frames} frames; the first one is used.",) if frames > 1 else ()
    return LoadedImage(pixels, "DICOM", (columns, rows), photometric, notes)


def _window(dataset) -> tuple[float, float] | None:
    """The first display window (low, high) the file recommends, if it has one."""
    center, width = dataset.get("WindowCenter"), dataset.get("WindowWidth")
    if center is None or width is None:
        return None
    center, width = (float(v[0]) if isinstance(v, Sequence) else float(v) for v in (center, width))
    return (center - width / 2, center + width / 2) if width > 0 else None


def _to_uint8(values: np.ndarray, window: tuple[float, float] | None) -> np.ndarray:
    """Map ``window`` (default: the image's own min and max) linearly to 0-255."""
    low, high = window if window is not None else (float(values.min()), float(values.max()))
    if high <= low:
        return np.zeros(values.shape, np.uint8)
    scaled = (np.clip(values, low, high) - low) * (255.0 / (high - low))
    return np.round(scaled).astype(np.uint8)

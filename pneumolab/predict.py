"""From an uploaded file to the model's answer: read the image safely, predict, explain.

The panel and ``pneumolab predict`` both go through here, and both hand the
model its input through :func:`pneumolab.preprocess.decode` and
:func:`pneumolab.preprocess.to_model_input`, exactly as in training. Files are
read from bytes in memory: an upload is never written to disk.

Reading refuses, with a plain-language :class:`ImageError`, anything a
student might drop on the page by mistake: an empty or damaged file, a
document, a format the kit does not read, an image too large to be a chest
X-ray (its size is checked in the header, before any pixel is decoded, so a
small file that would expand to gigabytes cannot exhaust memory).
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace

import keras
import numpy as np
import tensorflow as tf
from PIL import Image

from pneumolab import preprocess
from pneumolab.evaluate import check_threshold

#: Largest image accepted, in pixels: a large detector plate is about 3000 x 3000 (9 MP).
MAX_PIXELS = 40_000_000
#: Files read per model call; bounds memory when the command line gets hundreds of files.
BATCH_SIZE = 32

_DICOM_MARKER = b"DICM"
_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


class ImageError(ValueError):
    """A file that cannot be used as a chest X-ray, with a message a student can act on."""


@dataclass(frozen=True)
class LoadedImage:
    """Pixels read from a file, the file's format, and anything the reader should know."""

    pixels: np.ndarray
    format: str
    notes: tuple[str, ...] = ()


def read_image(content: bytes, name: str = "", channels: int | None = None) -> np.ndarray:
    """Pixels of a JPEG, PNG or DICOM file as uint8 ``(H, W, C)``; raises :class:`ImageError`.

    ``channels`` 1 or 3 converts as training does (pass the model card's
    value); ``None`` keeps gray files gray and colour files colour.
    """
    return load_image(content, name, channels).pixels


def load_image(content: bytes, name: str = "", channels: int | None = None) -> LoadedImage:
    """Like :func:`read_image`, with the format and notes (e.g. "first of 3 frames used")."""
    content = bytes(content)
    if not content:
        raise ImageError("The file is empty (0 bytes). Was the upload interrupted?")
    if content[128:132] == _DICOM_MARKER:
        return _read_dicom(content, channels)
    return _read_jpeg_or_png(content, name, channels)


def _too_large(width: int, height: int) -> ImageError:
    return ImageError(
        f"The image is {width} x {height} pixels ({width * height / 1e6:.0f} megapixels); the limit is "
        f"{MAX_PIXELS / 1e6:.0f} megapixels. A chest X-ray is much smaller: reduce it and try again."
    )


def _read_jpeg_or_png(content: bytes, name: str, channels: int | None) -> LoadedImage:
    """Check the header with Pillow, then decode with TensorFlow, the decoder training used."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(content)) as header:
                kind, mode, (width, height) = header.format, header.mode, header.size
                frames = getattr(header, "n_frames", 1)
    except Image.DecompressionBombError as error:
        raise ImageError(f"The image is far too large to be a chest X-ray ({error}).") from None
    except Exception:  # Pillow raises many types for garbage; all mean "not an image we know"
        if name.lower().endswith(".dcm"):
            raise ImageError("The file is named .dcm but is not a DICOM file (no DICM marker).") from None
        raise ImageError(
            "This file is not an image PneumoLab can read: use a JPEG, PNG or DICOM (.dcm) file."
        ) from None
    if kind not in ("JPEG", "PNG"):
        raise ImageError(f"This is a {kind} image; the kit reads JPEG, PNG and DICOM. Save it as PNG first.")
    if width * height > MAX_PIXELS:
        raise _too_large(width, height)
    if channels is None:
        channels = 1 if mode in _GRAY_MODES else 3
    try:
        pixels = preprocess.decode(content, channels=channels).numpy()
    except tf.errors.OpError:
        raise ImageError(
            f"This {kind} file is damaged or incomplete (truncated?) and cannot be decoded. "
            "Try exporting it again."
        ) from None
    notes = (f"The file holds {frames} frames; the first one is used.",) if frames > 1 else ()
    return LoadedImage(pixels, kind, notes)


def _read_dicom(content: bytes, channels: int | None) -> LoadedImage:
    """The first frame of a DICOM file, in display values (rescaled, windowed, 0 = black), as uint8."""
    import pydicom
    from pydicom import pixels as dicom_pixels

    damaged = ImageError("This DICOM file is damaged: its header cannot be read.")
    try:
        with warnings.catch_warnings(record=True) as complaints:  # pydicom warns where it had to guess
            warnings.simplefilter("always")
            dataset = pydicom.dcmread(io.BytesIO(content))
    except Exception:  # pydicom raises many types for damaged headers
        raise damaged from None
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
    if pixels.ndim == 2:
        pixels = pixels[..., np.newaxis]
    if channels is not None:
        pixels = preprocess.with_channels(pixels, channels).numpy()
    frames = int(dataset.get("NumberOfFrames", 1) or 1)
    notes = (f"The DICOM file holds {frames} frames; the first one is used.",) if frames > 1 else ()
    return LoadedImage(pixels, "DICOM", notes)


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


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image, and what the panel shows beside it."""

    #: The model's score for pneumonia, 0-1 (for a cause model: 1 - P(normal)).
    probability: float
    #: The operating threshold: at or above it, the answer is PNEUMONIA.
    threshold: float
    #: The image exactly as the model received it: float32 ``(size, size, channels)``, 0-255.
    model_input: np.ndarray
    #: Grad-CAM map ``(size, size)`` in 0-1, where the model looked; ``None`` if not asked for.
    heatmap: np.ndarray | None = None

    @property
    def label(self) -> str:
        """The decision at the threshold: ``"PNEUMONIA"`` or ``"NORMAL"``."""
        return "PNEUMONIA" if self.probability >= self.threshold else "NORMAL"

    @property
    def confidence(self) -> str:
        """The score in words (see :func:`confidence_phrase`)."""
        return confidence_phrase(self.probability, self.threshold)

    def at(self, threshold: float) -> Prediction:
        """The same prediction judged at another threshold (the model is not run again)."""
        return replace(self, threshold=check_threshold(threshold))


def confidence_phrase(probability: float, threshold: float) -> str:
    """How far the score is from the threshold, in words a class can discuss.

    The distance is measured as a share of the room on that side of the
    threshold (a score of 0.9 at threshold 0.8 is halfway to certain). The
    words describe the model's score, not a calibrated chance of disease.
    """
    if probability >= threshold:
        side, room = "pneumonia", 1.0 - threshold
    else:
        side, room = "normal", threshold
    distance = abs(probability - threshold) / room if room else 1.0
    if distance < 0.2:
        return "uncertain: close to the threshold"
    if distance < 0.5:
        return f"leans {side}"
    if distance < 0.8:
        return f"likely {side}"
    return f"very likely {side}"


def card_threshold(card: dict) -> float:
    """The threshold the model card chose on validation (0.5 when it has none, e.g. a cause model)."""
    threshold = card.get("threshold")
    return 0.5 if threshold is None else check_threshold(threshold)


def predict_images(
    model: keras.Model,
    card: dict,
    images: Sequence[np.ndarray],
    threshold: float | None = None,
    explain: bool = False,
) -> list[Prediction]:
    """Predict decoded images (any size) with a model and its card; ``explain`` adds Grad-CAM maps.

    ``threshold`` defaults to the card's. Images are prepared with
    :func:`pneumolab.preprocess.to_model_input` and the card's input settings.
    """
    threshold = card_threshold(card) if threshold is None else check_threshold(threshold)
    spec = card["input"]
    if spec.get("scale", "0-255") != "0-255":
        raise ValueError(f"Model cards with input scale {spec['scale']!r} are not supported.")
    results: list[Prediction] = []
    for start in range(0, len(images), BATCH_SIZE):
        batch = tf.stack([
            preprocess.to_model_input(image, spec["image_size"], spec["channels"], spec.get("fit", "squash"))
            for image in images[start : start + BATCH_SIZE]
        ])
        scores = pneumonia_scores(model(batch, training=False).numpy(), card)
        maps = _grad_cam(model, batch) if explain else [None] * len(scores)
        results += [
            Prediction(float(score), threshold, model_input, heatmap)
            for score, model_input, heatmap in zip(scores, batch.numpy(), maps, strict=True)
        ]
    return results


def pneumonia_scores(outputs: np.ndarray, card: dict) -> np.ndarray:
    """P(pneumonia) per image from a model's outputs: the sigmoid unit, or 1 - P(normal class)."""
    if outputs.shape[-1] == 1:
        return outputs[:, 0]
    if str(card["classes"][0]).lower() != "normal":
        raise ValueError(f"Cannot tell pneumonia from the classes {card['classes']}: none is first 'normal'.")
    return 1.0 - outputs[:, 0]


def _grad_cam(model: keras.Model, batch: tf.Tensor) -> np.ndarray:
    from pneumolab import explain

    return explain.grad_cam(model, batch)
